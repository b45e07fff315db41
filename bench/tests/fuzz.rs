//! `dfma fuzz` end to end: a short campaign finds no panic and no allocation beyond the bound,
//! with the allocator really counting; no cases is bad input.

mod common;

use common::dfma;

#[test]
fn a_short_fuzz_run_reports_no_panics_and_a_measured_allocation_peak() {
    let out = dfma(&["fuzz", "--cases", "400", "--seed", "5"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("cases:                  400"), "{stdout}");
    assert!(stdout.contains("panics:                 0"), "{stdout}");
    assert!(stdout.contains("allocation violations:  0"), "{stdout}");
    assert!(stdout.contains("cases/s:"), "{stdout}");
    let largest = stdout
        .lines()
        .find_map(|l| l.strip_prefix("largest allocation:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no largest allocation in {stdout}"));
    assert!(largest > 0, "the counting allocator is not installed: {stdout}");
}

#[test]
fn fuzzing_zero_cases_is_bad_input() {
    let out = dfma(&["fuzz", "--cases", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}
