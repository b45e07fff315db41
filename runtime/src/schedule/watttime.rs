//! WattTime API v3 JSON: the `/v3/forecast` and `/v3/historical` responses,
//! `{"data": [{"point_time", "value", …}], "meta": {"units", "signal_type", …}}`.
//!
//! WattTime v3 states CO2 rates (`co2_moer`, marginal; `co2_aoer`, average) in pounds per MWh
//! (`"units": "lbs_co2_per_mwh"`). Traces here are g/kWh, so values are multiplied by
//! [`G_PER_KWH_PER_LB_PER_MWH`]: 453.59237 g per lb over 1000 kWh per MWh. Any other unit, or none,
//! is refused: guessing the unit would scale every figure silently. The slot length is
//! `meta.data_point_period_seconds` when given (300 s in v3), else the first step.

use std::path::Path;

use super::parse::{error, json, line_of_key};
use super::time::parse_rfc3339_seconds;
use super::trace::{CarbonTrace, Point, TraceError, TraceProblem};

/// g CO2e/kWh in one lb CO2/MWh (exact: 1 lb = 453.59237 g).
pub const G_PER_KWH_PER_LB_PER_MWH: f64 = 0.453_592_37;

/// The only unit v3 uses for CO2 rates.
pub const WATTTIME_UNITS: &str = "lbs_co2_per_mwh";

/// Parses a WattTime v3 forecast or historical response into a g CO2e/kWh trace.
pub fn parse_watttime_json(file: &Path, text: &str) -> Result<CarbonTrace, TraceError> {
    let doc = json(file, text)?;
    let malformed = |line: usize, message: String| error(file, line, TraceProblem::Malformed { message });
    let meta =
        doc.get("meta").ok_or_else(|| malformed(0, "no `meta` object (WattTime v3 states units there)".into()))?;
    let meta_line = line_of_key(text, "meta", 0);
    let units = meta.get("units").and_then(|u| u.as_str()).unwrap_or("");
    if units != WATTTIME_UNITS {
        let accepted = "lbs_co2_per_mwh (WattTime v3 CO2 signals)";
        return Err(error(file, meta_line, TraceProblem::Units { found: units.to_string(), accepted }));
    }
    if let Some(kind) = meta.get("signal_type")
        && !matches!(kind.as_str(), Some("co2_moer" | "co2_aoer"))
    {
        return Err(malformed(meta_line, format!("signal_type {kind} is not co2_moer or co2_aoer")));
    }
    let slot_s = match meta.get("data_point_period_seconds") {
        None => None,
        Some(v) => match v.as_i64() {
            Some(s) if s > 0 => Some(s),
            _ => return Err(malformed(meta_line, format!("data_point_period_seconds {v} is not a positive integer"))),
        },
    };
    let data = doc.get("data").and_then(|d| d.as_array()).ok_or_else(|| malformed(0, "no `data` array".into()))?;
    let mut points = Vec::with_capacity(data.len());
    for (k, el) in data.iter().enumerate() {
        let line = line_of_key(text, "point_time", k);
        let missing = |field: &str| error(file, line, TraceProblem::MissingField { field: field.to_string() });
        let t = el.get("point_time").and_then(|t| t.as_str()).ok_or_else(|| missing("point_time"))?;
        let at_s =
            parse_rfc3339_seconds(t).ok_or_else(|| error(file, line, TraceProblem::BadTimestamp { text: t.into() }))?;
        let v = el.get("value").ok_or_else(|| missing("value"))?;
        let lb_per_mwh = match v.as_f64() {
            Some(x) if x.is_finite() && x >= 0.0 => x,
            _ => return Err(error(file, line, TraceProblem::BadValue { text: v.to_string() })),
        };
        points.push(Point { line, at_s, g_per_kwh: lb_per_mwh * G_PER_KWH_PER_LB_PER_MWH });
    }
    CarbonTrace::from_points(file, &points, slot_s)
}
