//! Readers for the trace formats in `../shared/data/carbon`: the Electricity Maps hourly CSV
//! (carbon intensity or renewable share), the GB Carbon Intensity API JSON (forecast and actual)
//! and the GB forecast CSV. WattTime and the Carbon Aware SDK have files of their own.
//!
//! Headers are matched exactly (a renamed column is an error, not a guess); every row must
//! parse; the resulting points go through [`CarbonTrace::from_points`], which rejects gaps,
//! duplicates and out-of-order timestamps. Nothing is filled in. The one documented exception:
//! the GB API marks slots not yet measured with `"actual": null` at the end of its window, so the
//! actual trace ends at the last measured slot; a null followed by a measured slot is an error.

use std::path::Path;

use super::signal::Signal;
use super::time::{parse_iso_minutes_z, parse_space_seconds};
use super::trace::{CarbonTrace, Point, TraceError, TraceProblem};

/// The Electricity Maps timestamp column.
pub const EM_TIME_COLUMN: &str = "Datetime (UTC)";
/// The Electricity Maps direct (operational) carbon-intensity column.
pub const EM_DIRECT_COLUMN: &str = "Carbon Intensity gCO₂eq/kWh (direct)";
/// The Electricity Maps renewable-share column (percent of consumption).
pub const EM_RENEWABLE_COLUMN: &str = "Renewable Percentage";
/// Electricity Maps hourly files: one-hour slots.
pub const EM_SLOT_S: i64 = 3600;
/// GB Carbon Intensity API: half-hour slots.
pub const GB_SLOT_S: i64 = 1800;

pub(super) fn error(file: &Path, line: usize, problem: TraceProblem) -> TraceError {
    TraceError { file: file.to_path_buf(), line, problem }
}

/// Splits one CSV line, honouring double-quoted fields (`""` is a literal quote).
pub(super) fn split_csv(line: &str) -> Vec<String> {
    let (mut fields, mut cur, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    fields.push(cur);
    fields
}

fn value(file: &Path, line: usize, text: &str) -> Result<f64, TraceError> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(error(file, line, TraceProblem::BadValue { text: text.to_string() })),
    }
}

/// Data lines of a CSV text with their 1-based line numbers (blank lines skipped, BOM removed).
pub(super) fn csv_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.trim_start_matches('\u{feff}')
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty())
}

/// Parses an Electricity Maps hourly CSV's `direct` carbon-intensity column.
pub fn parse_electricity_maps_csv(file: &Path, text: &str) -> Result<CarbonTrace, TraceError> {
    parse_electricity_maps_signal_csv(file, text, Signal::Carbon)
}

/// Parses an Electricity Maps hourly CSV for `signal`: the `direct` carbon-intensity column
/// (g CO2e/kWh), or the `Renewable Percentage` column as the non-renewable fraction
/// `(100 − share) / 100` (see [`Signal::Renewable`]); a share outside 0..=100 is a bad value.
pub fn parse_electricity_maps_signal_csv(file: &Path, text: &str, signal: Signal) -> Result<CarbonTrace, TraceError> {
    let v_name = match signal {
        Signal::Carbon => EM_DIRECT_COLUMN,
        Signal::Renewable => EM_RENEWABLE_COLUMN,
    };
    let mut lines = csv_lines(text);
    let Some((hline, header)) = lines.next() else {
        return Err(error(file, 0, TraceProblem::UnknownHeader { found: String::new() }));
    };
    let names = split_csv(header);
    let col = |name: &str| names.iter().position(|n| n == name);
    let (Some(t_col), Some(v_col)) = (col(EM_TIME_COLUMN), col(v_name)) else {
        return Err(error(file, hline, TraceProblem::UnknownHeader { found: header.to_string() }));
    };
    let mut points = Vec::new();
    for (n, line) in lines {
        let f = split_csv(line);
        let field = |i: usize, name: &str| {
            f.get(i).ok_or_else(|| error(file, n, TraceProblem::MissingField { field: name.to_string() }))
        };
        let t = field(t_col, EM_TIME_COLUMN)?;
        let at_s =
            parse_space_seconds(t).ok_or_else(|| error(file, n, TraceProblem::BadTimestamp { text: t.clone() }))?;
        let text = field(v_col, v_name)?;
        let v = value(file, n, text)?;
        let g_per_kwh = match signal {
            Signal::Carbon => v,
            Signal::Renewable if v <= 100.0 => (100.0 - v) / 100.0,
            Signal::Renewable => return Err(error(file, n, TraceProblem::BadValue { text: text.clone() })),
        };
        points.push(Point { line: n, at_s, g_per_kwh });
    }
    CarbonTrace::from_points(file, &points, Some(EM_SLOT_S))
}

/// Parses a GB forecast CSV. Two exact headers are known: `from,to,forecast,index` (the API's
/// CSV form; `to` must be `from` + 30 min) and `from,intensity.forecast,intensity.actual` (the
/// flattened export in the fixtures; the actual column is ignored, a forecast file has none).
pub fn parse_gb_forecast_csv(file: &Path, text: &str) -> Result<CarbonTrace, TraceError> {
    let mut lines = csv_lines(text);
    let (hline, header) = lines.next().unwrap_or((0, ""));
    let with_to = match header {
        "from,to,forecast,index" => true,
        "from,intensity.forecast,intensity.actual" => false,
        _ => return Err(error(file, hline, TraceProblem::UnknownHeader { found: header.to_string() })),
    };
    let mut points = Vec::new();
    for (n, line) in lines {
        let f = split_csv(line);
        let get = |i: usize, name: &str| {
            f.get(i).ok_or_else(|| error(file, n, TraceProblem::MissingField { field: name.to_string() }))
        };
        let time = |s: &String| {
            parse_iso_minutes_z(s).ok_or_else(|| error(file, n, TraceProblem::BadTimestamp { text: s.clone() }))
        };
        let at_s = time(get(0, "from")?)?;
        let v_idx = if with_to {
            let to_s = time(get(1, "to")?)?;
            if to_s - at_s != GB_SLOT_S {
                return Err(error(file, n, TraceProblem::BadSlotEnd { length_s: to_s - at_s }));
            }
            2
        } else {
            1
        };
        let g_per_kwh = value(file, n, get(v_idx, "forecast")?)?;
        points.push(Point { line: n, at_s, g_per_kwh });
    }
    CarbonTrace::from_points(file, &points, Some(GB_SLOT_S))
}

/// The two traces of one GB Carbon Intensity API response.
#[derive(Debug, Clone, PartialEq)]
pub struct GbForecastActual {
    /// The forecast for every slot of the response.
    pub forecast: CarbonTrace,
    /// The measured intensity, from the first slot to the last measured one (a prefix of the
    /// forecast's slots).
    pub actual: CarbonTrace,
}

/// 1-based line of the `k`-th (0-based) `"key"` in pretty-printed JSON, 0 if not found: JSON has
/// no rows, but the line of the element is what a person fixing the file needs.
pub(super) fn line_of_key(text: &str, key: &str, k: usize) -> usize {
    line_of_key_after(text, 0, key, k)
}

/// [`line_of_key`] counting only keys from byte `from` on (past another array that uses the
/// same key).
pub(super) fn line_of_key_after(text: &str, from: usize, key: &str, k: usize) -> usize {
    let quoted = format!("\"{key}\"");
    let from = from.min(text.len());
    text[from..].match_indices(&quoted).nth(k).map_or(0, |(at, _)| text[..from + at].matches('\n').count() + 1)
}

/// Parses a JSON document, placing a syntax error (a truncated file, say) on its line.
pub(super) fn json(file: &Path, text: &str) -> Result<serde_json::Value, TraceError> {
    serde_json::from_str(text).map_err(|e| error(file, e.line(), TraceProblem::Malformed { message: e.to_string() }))
}

/// Parses a GB Carbon Intensity API response (`data[].{from,to,intensity:{forecast,actual}}`).
pub fn parse_gb_api_json(file: &Path, text: &str) -> Result<GbForecastActual, TraceError> {
    let malformed = |message: String| error(file, 0, TraceProblem::Malformed { message });
    let doc = json(file, text)?;
    let data = doc.get("data").and_then(|d| d.as_array()).ok_or_else(|| malformed("no `data` array".into()))?;
    let (mut forecast, mut actual) = (Vec::new(), Vec::new());
    let mut first_unmeasured: Option<usize> = None;
    for (k, el) in data.iter().enumerate() {
        let line = line_of_key(text, "from", k);
        let missing = |field: &str| error(file, line, TraceProblem::MissingField { field: field.to_string() });
        let time = |name: &str| -> Result<i64, TraceError> {
            let s = el.get(name).and_then(|v| v.as_str()).ok_or_else(|| missing(name))?;
            parse_iso_minutes_z(s).ok_or_else(|| error(file, line, TraceProblem::BadTimestamp { text: s.to_string() }))
        };
        let (from_s, to_s) = (time("from")?, time("to")?);
        if to_s - from_s != GB_SLOT_S {
            return Err(error(file, line, TraceProblem::BadSlotEnd { length_s: to_s - from_s }));
        }
        let intensity = el.get("intensity").ok_or_else(|| missing("intensity"))?;
        let number = |name: &str| -> Result<Option<f64>, TraceError> {
            match intensity.get(name) {
                None => Err(missing(&format!("intensity.{name}"))),
                Some(serde_json::Value::Null) => Ok(None),
                Some(v) => match v.as_f64() {
                    Some(x) if x.is_finite() && x >= 0.0 => Ok(Some(x)),
                    _ => Err(error(file, line, TraceProblem::BadValue { text: v.to_string() })),
                },
            }
        };
        let f = number("forecast")?.ok_or_else(|| error(file, line, TraceProblem::BadValue { text: "null".into() }))?;
        forecast.push(Point { line, at_s: from_s, g_per_kwh: f });
        match (number("actual")?, first_unmeasured) {
            (Some(_), Some(_)) => {
                return Err(error(
                    file,
                    line,
                    TraceProblem::BadValue { text: "measured slot after an unmeasured (null) one".into() },
                ));
            }
            (Some(a), None) => actual.push(Point { line, at_s: from_s, g_per_kwh: a }),
            (None, _) => first_unmeasured = first_unmeasured.or(Some(k)),
        }
    }
    let forecast = CarbonTrace::from_points(file, &forecast, Some(GB_SLOT_S))?;
    let actual = CarbonTrace::from_points(file, &actual, Some(GB_SLOT_S))?;
    Ok(GbForecastActual { forecast, actual })
}
