//! `dfma load` end to end: a small load over each transport loses and rejects nothing; a bad
//! transport name is bad input, said in one line.

mod common;

use common::dfma;

fn field<'a>(stdout: &'a str, name: &str) -> &'a str {
    stdout.lines().find_map(|l| l.strip_prefix(name)).map(str::trim).unwrap_or_else(|| panic!("no {name} in {stdout}"))
}

fn small_load_loses_nothing(transport: &str) {
    let out = dfma(&["load", "--instances", "50", "--rounds", "2", "--signal-kib", "8", "--transport", transport]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(field(&stdout, "accepted:"), "150 (100 signals)", "{stdout}");
    assert_eq!(field(&stdout, "rejected:"), "0", "{stdout}");
    assert_eq!(field(&stdout, "lost:"), "0", "{stdout}");
    assert!(field(&stdout, "latency p99:").ends_with(" ms"), "{stdout}");
    let payload: f64 = field(&stdout, "payload MB/s:").split_whitespace().next().unwrap().parse().unwrap();
    assert!(payload > 0.0, "{stdout}");
}

#[test]
fn fifty_instances_over_tcp_lose_and_reject_nothing() {
    small_load_loses_nothing("tcp");
    let out = dfma(&["load", "--instances", "3", "--rounds", "1", "--signal-kib", "1", "--transport", "tcp"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("tcp:              3 connections, 6 frames read, 0 oversized"), "{stdout}");
}

#[test]
fn fifty_instances_over_grpc_lose_and_reject_nothing() {
    small_load_loses_nothing("grpc");
    let out = dfma(&["load", "--instances", "3", "--rounds", "1", "--signal-kib", "1", "--transport", "grpc"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("grpc:             3 streams, 6 frames read, 0 oversized"), "{stdout}");
}

#[test]
fn fifty_instances_in_process_lose_and_reject_nothing() {
    small_load_loses_nothing("in-process");
}

#[test]
fn an_unknown_transport_is_bad_input_in_one_line() {
    let out = dfma(&["load", "--transport", "carrier-pigeon"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--transport carrier-pigeon"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn zero_instances_is_bad_input() {
    let out = dfma(&["load", "--instances", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}
