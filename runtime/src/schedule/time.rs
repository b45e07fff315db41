//! UTC timestamps as whole seconds since the Unix epoch, parsed by hand.
//!
//! Traces need a few fixed formats (`YYYY-MM-DD HH:MM:SS` from Electricity Maps,
//! `YYYY-MM-DDTHH:MMZ` from the GB API, RFC 3339 with an offset from WattTime and the Carbon Aware
//! SDK), so a calendar crate would add a dependency for a handful of functions. Leap seconds do
//! not occur in these feeds.

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's days-from-civil).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn num(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn from_parts(date: &str, h: &str, mi: &str, s: &str) -> Option<i64> {
    let mut it = date.split('-');
    let (y, mo, d) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || y.len() != 4 || mo.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, mo, d) = (i64::from(num(y)?), num(mo)?, num(d)?);
    let (h, mi, s) = (num(h)?, num(mi)?, num(s)?);
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + i64::from(h * 3600 + mi * 60 + s))
}

/// Parses `YYYY-MM-DD HH:MM:SS` (UTC) into seconds since the epoch; `None` if malformed.
pub fn parse_space_seconds(s: &str) -> Option<i64> {
    let (date, time) = s.split_once(' ')?;
    let mut it = time.split(':');
    let (h, mi, sec) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || h.len() != 2 || mi.len() != 2 || sec.len() != 2 {
        return None;
    }
    from_parts(date, h, mi, sec)
}

/// Parses `YYYY-MM-DDTHH:MMZ` (the GB Carbon Intensity API form) into seconds since the epoch.
pub fn parse_iso_minutes_z(s: &str) -> Option<i64> {
    let (date, time) = s.split_once('T')?;
    let time = time.strip_suffix('Z')?;
    let (h, mi) = time.split_once(':')?;
    if h.len() != 2 || mi.len() != 2 {
        return None;
    }
    from_parts(date, h, mi, "00")
}

/// Parses an RFC 3339 instant, `YYYY-MM-DDTHH:MM[:SS[.000…]](Z|±HH:MM)`, into UTC seconds since
/// the epoch (WattTime's `2024-05-01T00:05:00+00:00`, the Carbon Aware SDK's
/// `2022-07-19T14:00:00Z`). A non-zero fraction of a second is refused rather than truncated:
/// slots start on whole seconds, and a truncated instant would hide an off-grid point.
pub fn parse_rfc3339_seconds(s: &str) -> Option<i64> {
    let (date, rest) = s.split_once('T')?;
    let (clock, offset_s) = if let Some(c) = rest.strip_suffix('Z') {
        (c, 0)
    } else {
        let at = rest.rfind(['+', '-'])?;
        let (c, off) = rest.split_at(at);
        let (oh, om) = off[1..].split_once(':')?;
        if oh.len() != 2 || om.len() != 2 {
            return None;
        }
        let (oh, om) = (num(oh)?, num(om)?);
        if oh > 23 || om > 59 {
            return None;
        }
        let sign = if off.starts_with('-') { -1 } else { 1 };
        (c, sign * i64::from(oh * 3600 + om * 60))
    };
    let mut it = clock.split(':');
    let (h, mi) = (it.next()?, it.next()?);
    let sec = it.next().unwrap_or("00");
    if it.next().is_some() || h.len() != 2 || mi.len() != 2 {
        return None;
    }
    let sec = match sec.split_once('.') {
        Some((whole, frac)) if !frac.is_empty() && frac.bytes().all(|b| b == b'0') => whole,
        Some(_) => return None,
        None => sec,
    };
    if sec.len() != 2 {
        return None;
    }
    Some(from_parts(date, h, mi, sec)? - offset_s)
}

/// Civil date of a day count since 1970-01-01 (Hinnant's civil-from-days).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

/// Formats UTC seconds since the epoch as `YYYY-MM-DDTHH:MMZ` (seconds dropped: slots start on
/// whole minutes in every supported feed), for schedules a person reads.
pub fn format_iso_minutes_z(at_s: i64) -> String {
    let (y, m, d) = civil_from_days(at_s.div_euclid(86_400));
    let sod = at_s.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}Z", sod / 3600, sod % 3600 / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants_parse_to_their_epoch_seconds() {
        assert_eq!(parse_space_seconds("1970-01-01 00:00:00"), Some(0));
        assert_eq!(parse_space_seconds("2022-01-01 00:00:00"), Some(1_640_995_200));
        assert_eq!(parse_iso_minutes_z("2023-03-14T03:30Z"), Some(1_678_764_600));
        assert_eq!(parse_space_seconds("2024-02-29 12:00:00"), Some(1_709_208_000));
    }

    #[test]
    fn malformed_or_impossible_dates_are_rejected() {
        for s in ["2023-02-29 00:00:00", "2022-13-01 00:00:00", "2022-01-01 24:00:00", "2022-1-01 00:00:00", "x"] {
            assert_eq!(parse_space_seconds(s), None, "{s}");
        }
        assert_eq!(parse_iso_minutes_z("2023-03-14T03:30"), None);
    }

    #[test]
    fn rfc3339_instants_with_offsets_and_zero_fractions_parse_to_utc() {
        assert_eq!(parse_rfc3339_seconds("2023-03-14T03:30:00+00:00"), Some(1_678_764_600));
        assert_eq!(parse_rfc3339_seconds("2023-03-14T03:30:00Z"), Some(1_678_764_600));
        assert_eq!(parse_rfc3339_seconds("2023-03-14T05:30:00.000+02:00"), Some(1_678_764_600));
        assert_eq!(parse_rfc3339_seconds("2023-03-13T22:30-05:00"), Some(1_678_764_600));
        for s in ["2023-03-14T03:30:00.5Z", "2023-03-14T03:30:00", "2023-03-14 03:30:00Z", "2023-03-14T03:30:00+0000"] {
            assert_eq!(parse_rfc3339_seconds(s), None, "{s}");
        }
    }

    #[test]
    fn formatting_inverts_parsing_across_leap_days_and_years() {
        for s in ["1970-01-01T00:00Z", "2024-02-29T23:30Z", "2022-12-31T23:00Z", "2000-03-01T00:00Z"] {
            assert_eq!(format_iso_minutes_z(parse_iso_minutes_z(s).unwrap()), s);
        }
    }
}
