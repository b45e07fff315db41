//! UTC timestamps as whole seconds since the Unix epoch, parsed by hand.
//!
//! Traces only need two fixed formats (`YYYY-MM-DD HH:MM:SS` from Electricity Maps and
//! `YYYY-MM-DDTHH:MMZ` from the GB API), so a calendar crate would add a dependency for two
//! functions. Leap seconds do not occur in these feeds.

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
}
