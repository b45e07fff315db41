//! Reading the UCI heart-disease CSV (`heart_disease_uci.csv`: one row per patient, a `dataset`
//! column naming the hospital) into typed records, refusing anything malformed with the file,
//! line and column.
//!
//! Missing values are common (an empty field; `ca` is missing for 611 of 920 rows) and are kept
//! as `None`; so are the zeros this file uses for an unmeasured cholesterol (all of
//! Switzerland, 49 rows of VA Long Beach) and resting blood pressure (one row): neither can be
//! zero in a living patient. Everything else that does not parse is an error, never skipped.

use std::fmt;

/// A categorical column, its levels in the order they are one-hot encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Categorical {
    /// Header name.
    pub column: &'static str,
    /// Accepted values.
    pub levels: &'static [&'static str],
}

/// Numeric columns, in feature order.
pub const NUMERIC: [&str; 6] = ["age", "trestbps", "chol", "thalch", "oldpeak", "ca"];

/// Numeric columns where 0 means "not measured".
pub const ZERO_IS_MISSING: [&str; 2] = ["trestbps", "chol"];

/// Categorical columns, in feature order.
pub const CATEGORICAL: [Categorical; 7] = [
    Categorical { column: "sex", levels: &["Male", "Female"] },
    Categorical { column: "cp", levels: &["typical angina", "atypical angina", "non-anginal", "asymptomatic"] },
    Categorical { column: "fbs", levels: &["TRUE", "FALSE"] },
    Categorical { column: "restecg", levels: &["normal", "st-t abnormality", "lv hypertrophy"] },
    Categorical { column: "exang", levels: &["TRUE", "FALSE"] },
    Categorical { column: "slope", levels: &["upsloping", "flat", "downsloping"] },
    Categorical { column: "thal", levels: &["normal", "fixed defect", "reversable defect"] },
];

/// The hospital column.
pub const HOSPITAL: &str = "dataset";
/// The diagnosis column: 0 (no disease) to 4; the target is `num > 0`.
pub const TARGET: &str = "num";

/// One patient.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Line in the file (1-based; the header is line 1).
    pub line: usize,
    /// Hospital.
    pub hospital: String,
    /// [`NUMERIC`] values, `None` where missing.
    pub numeric: [Option<f64>; NUMERIC.len()],
    /// [`CATEGORICAL`] level indices, `None` where missing.
    pub categorical: [Option<usize>; CATEGORICAL.len()],
    /// Heart disease present (`num > 0`).
    pub label: u8,
}

/// A malformed CSV: the file, line and column (where there is one) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvError {
    /// The file, as given.
    pub file: String,
    /// 1-based line, 0 for the file as a whole.
    pub line: usize,
    /// The column, if the problem is one field.
    pub column: Option<String>,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if let Some(c) = &self.column {
            write!(f, ": column {c}")?;
        }
        write!(f, ": {}", self.problem)
    }
}

impl std::error::Error for CsvError {}

/// Splits one CSV line into fields: commas separate, double quotes enclose a field that may
/// contain commas, `""` inside quotes is a quote.
fn split_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', false) if field.is_empty() => quoted = true,
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', true) => {
                quoted = false;
                if !matches!(chars.peek(), None | Some(',')) {
                    return Err("text after a closing quote".into());
                }
            }
            (',', false) => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    if quoted {
        return Err("unterminated quote".into());
    }
    fields.push(field);
    Ok(fields)
}

/// Parses the whole file's text; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Vec<Record>, CsvError> {
    let err = |line: usize, column: Option<&str>, problem: String| CsvError {
        file: file.to_string(),
        line,
        column: column.map(str::to_string),
        problem,
    };
    let mut lines = text.split('\n').enumerate().map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)));
    let (_, header_line) = lines
        .next()
        .filter(|(_, l)| !l.trim().is_empty())
        .ok_or_else(|| err(0, None, "empty file, no header".into()))?;
    let header = split_fields(header_line).map_err(|p| err(1, None, p))?;
    let position = |name: &str| -> Result<usize, CsvError> {
        header.iter().position(|h| h.trim() == name).ok_or_else(|| err(1, Some(name), "missing from the header".into()))
    };
    let numeric_at = NUMERIC.map(position);
    let numeric_at: Vec<usize> = numeric_at.into_iter().collect::<Result<_, _>>()?;
    let categorical_at: Vec<usize> = CATEGORICAL.iter().map(|c| position(c.column)).collect::<Result<_, _>>()?;
    let hospital_at = position(HOSPITAL)?;
    let target_at = position(TARGET)?;
    let mut records = Vec::new();
    for (line, text) in lines {
        if text.trim().is_empty() {
            continue;
        }
        let fields = split_fields(text).map_err(|p| err(line, None, p))?;
        if fields.len() != header.len() {
            return Err(err(
                line,
                None,
                format!("{} fields, the header has {} (truncated row?)", fields.len(), header.len()),
            ));
        }
        let hospital = fields[hospital_at].trim();
        if hospital.is_empty() {
            return Err(err(line, Some(HOSPITAL), "empty hospital".into()));
        }
        let mut numeric = [None; NUMERIC.len()];
        for ((slot, &at), name) in numeric.iter_mut().zip(&numeric_at).zip(NUMERIC) {
            let raw = fields[at].trim();
            if raw.is_empty() {
                continue;
            }
            let value: f64 = raw
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .ok_or_else(|| err(line, Some(name), format!("{raw:?} is not a number")))?;
            if value < 0.0 && name != "oldpeak" {
                return Err(err(line, Some(name), format!("{raw} is negative")));
            }
            *slot = if value == 0.0 && ZERO_IS_MISSING.contains(&name) { None } else { Some(value) };
        }
        let mut categorical = [None; CATEGORICAL.len()];
        for ((slot, &at), c) in categorical.iter_mut().zip(&categorical_at).zip(&CATEGORICAL) {
            let raw = fields[at].trim();
            if raw.is_empty() {
                continue;
            }
            let level =
                c.levels.iter().position(|l| l.eq_ignore_ascii_case(raw)).ok_or_else(|| {
                    err(line, Some(c.column), format!("{raw:?} is not one of {}", c.levels.join(", ")))
                })?;
            *slot = Some(level);
        }
        let raw = fields[target_at].trim();
        let num: u8 = raw
            .parse()
            .ok()
            .filter(|n| *n <= 4)
            .ok_or_else(|| err(line, Some(TARGET), format!("{raw:?} is not a diagnosis 0..=4")))?;
        records.push(Record { line, hospital: hospital.to_string(), numeric, categorical, label: u8::from(num > 0) });
    }
    if records.is_empty() {
        return Err(err(0, None, "no data rows".into()));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "id,age,sex,dataset,cp,trestbps,chol,fbs,restecg,thalch,exang,oldpeak,slope,ca,thal,num";

    #[test]
    fn a_good_row_parses_with_missing_values_and_zero_cholesterol_as_missing() {
        let text =
            format!("{HEADER}\n1,63,Male,Cleveland,typical angina,145,0,TRUE,lv hypertrophy,150,FALSE,2.3,,0,,2\n");
        let r = &parse(&text, "h.csv").unwrap()[0];
        assert_eq!(r.numeric, [Some(63.0), Some(145.0), None, Some(150.0), Some(2.3), Some(0.0)]);
        assert_eq!(r.categorical, [Some(0), Some(0), Some(0), Some(2), Some(1), None, None]);
        assert_eq!((r.label, r.hospital.as_str(), r.line), (1, "Cleveland", 2));
    }

    #[test]
    fn bad_csvs_name_the_file_line_and_column() {
        let cases = [
            ("", "h.csv: empty file, no header"),
            ("id,age\n1,2\n", "h.csv:1: column trestbps: missing from the header"),
            (
                &format!("{HEADER}\n1,63,Male,Cleveland,typical angina,145,233,TRUE,lv hyp"),
                "h.csv:2: 9 fields, the header has 16 (truncated row?)",
            ),
            (
                &format!(
                    "{HEADER}\n1,sixty,Male,Cleveland,typical angina,145,233,TRUE,normal,150,FALSE,2.3,flat,0,normal,0"
                ),
                "h.csv:2: column age: \"sixty\" is not a number",
            ),
            (
                &format!(
                    "{HEADER}\n1,63,Male,Cleveland,typical angina,145,233,TRUE,normal,150,FALSE,2.3,flat,0,normal,7"
                ),
                "h.csv:2: column num: \"7\" is not a diagnosis 0..=4",
            ),
            (
                &format!("{HEADER}\n1,63,Male,Cleveland,sharp,145,233,TRUE,normal,150,FALSE,2.3,flat,0,normal,0"),
                "h.csv:2: column cp: \"sharp\" is not one of typical angina, atypical angina, non-anginal, asymptomatic",
            ),
            (&format!("{HEADER}\n"), "h.csv: no data rows"),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text, "h.csv").unwrap_err().to_string(), expected);
        }
    }
}
