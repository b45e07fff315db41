//! Carbon Aware SDK forecast JSON: the `/emissions/forecasts/current` (and `/batch`) response,
//! an array with one forecast per location, each
//! `{"location", "dataStartAt", "dataEndAt", "windowSize", "optimalDataPoints", "forecastData":
//! [{"location", "timestamp", "duration", "value"}]}`.
//!
//! Values are g CO2e/kWh (the SDK's unit throughout); `duration` is minutes. The SDK replaces
//! each point by the average over `windowSize` minutes when a window longer than a point is
//! requested, so its points then overlap: a point whose duration is not the step to the next
//! point is refused, since those averages are not per-slot intensities. One location only: a
//! schedule runs in one place. `optimalDataPoints` is the SDK's own advice and is not read.

use std::path::Path;

use super::parse::{error, json, line_of_key, line_of_key_after};
use super::time::parse_rfc3339_seconds;
use super::trace::{CarbonTrace, Point, TraceError, TraceProblem};

/// Parses a Carbon Aware SDK forecast response (one location) into a g CO2e/kWh trace.
pub fn parse_carbon_aware_forecast_json(file: &Path, text: &str) -> Result<CarbonTrace, TraceError> {
    let doc = json(file, text)?;
    let malformed = |line: usize, message: String| error(file, line, TraceProblem::Malformed { message });
    let forecasts = doc.as_array().ok_or_else(|| malformed(0, "not an array of forecasts".into()))?;
    let [forecast] = forecasts.as_slice() else {
        let where_ = forecasts.iter().filter_map(|f| f.get("location")?.as_str()).collect::<Vec<_>>().join(", ");
        return Err(malformed(
            0,
            format!("{} forecasts ({where_}): keep the one location to schedule in", forecasts.len()),
        ));
    };
    let data = forecast
        .get("forecastData")
        .and_then(|d| d.as_array())
        .ok_or_else(|| malformed(line_of_key(text, "forecastData", 0), "no `forecastData` array".into()))?;
    // Line numbers count `timestamp` keys from `forecastData` on (optimal points come first).
    let data_at = text.find("\"forecastData\"").unwrap_or(0);
    let mut points = Vec::with_capacity(data.len());
    let mut slot_s = None;
    for (k, el) in data.iter().enumerate() {
        let line = line_of_key_after(text, data_at, "timestamp", k);
        let missing = |field: &str| error(file, line, TraceProblem::MissingField { field: field.to_string() });
        let t = el.get("timestamp").and_then(|t| t.as_str()).ok_or_else(|| missing("timestamp"))?;
        let at_s =
            parse_rfc3339_seconds(t).ok_or_else(|| error(file, line, TraceProblem::BadTimestamp { text: t.into() }))?;
        let minutes = el.get("duration").ok_or_else(|| missing("duration"))?;
        let length_s = match minutes.as_i64() {
            Some(m) if m > 0 => m * 60,
            _ => return Err(malformed(line, format!("duration {minutes} is not a positive number of minutes"))),
        };
        if *slot_s.get_or_insert(length_s) != length_s {
            return Err(error(file, line, TraceProblem::BadSlotEnd { length_s }));
        }
        if let Some(prev) = points.last().map(|p: &Point| p.at_s) {
            let step_s = at_s - prev;
            if step_s > 0 && step_s < length_s {
                return Err(malformed(
                    line,
                    format!(
                        "points last {} min but start {} min apart: overlapping windowSize averages, not slot \
                         values (request the forecast without windowSize)",
                        length_s / 60,
                        step_s / 60
                    ),
                ));
            }
        }
        let v = el.get("value").ok_or_else(|| missing("value"))?;
        let g_per_kwh = match v.as_f64() {
            Some(x) if x.is_finite() && x >= 0.0 => x,
            _ => return Err(error(file, line, TraceProblem::BadValue { text: v.to_string() })),
        };
        points.push(Point { line, at_s, g_per_kwh });
    }
    CarbonTrace::from_points(file, &points, slot_s)
}
