//! The Rényi-DP accountant against Google's `dp-accounting` (`RdpAccountant`, pinned in
//! ci/tools.env): within 1 % of ε on every point of σ ∈ {0.8, 1, 2, 5} × q ∈ {0.001, 0.01,
//! 0.1, 1} × T ∈ {1, 100, 1000} at δ = 1e-5, over the same orders.
//!
//! Needs `python3` (or `DFMA_PYTHON`) that can `import dp_accounting` (ci/test installs it into
//! its cache and sets `PYTHONPATH`). Without it the comparison prints "not run: <reason>",
//! except under `CI=true`, where it fails.

use std::path::Path;
use std::process::Command;

use dfma_protocol::dp::rdp::{DEFAULT_ORDERS, RdpAccountant};

const DELTA: f64 = 1e-5;
const RELATIVE_TOLERANCE: f64 = 0.01;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The Python that has dp_accounting, or why there is none.
fn python() -> Result<String, String> {
    let py = std::env::var("DFMA_PYTHON").unwrap_or_else(|_| "python3".into());
    match Command::new(&py).args(["-c", "import dp_accounting"]).output() {
        Ok(o) if o.status.success() => Ok(py),
        Ok(o) => Err(format!(
            "{py} cannot import dp_accounting: {}",
            String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or("")
        )),
        Err(e) => Err(format!("{py}: {e}")),
    }
}

/// One line of the reference script.
#[derive(Debug)]
struct Reference {
    sigma: f64,
    q: f64,
    steps: u64,
    epsilon: f64,
    order: f64,
}

fn parse(line: &str) -> Reference {
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields.len(), 5, "unexpected reference line {line:?}");
    let number = |i: usize| fields[i].parse::<f64>().unwrap_or_else(|e| panic!("{line:?} field {i}: {e}"));
    Reference {
        sigma: number(0),
        q: number(1),
        steps: fields[2].parse().unwrap(),
        epsilon: number(3),
        order: number(4),
    }
}

#[test]
fn the_accountant_agrees_with_dp_accounting_within_one_percent_on_the_whole_grid() {
    let py = match python() {
        Ok(py) => py,
        Err(reason) if in_ci() => panic!("the dp-accounting comparison is required under CI=true: {reason}"),
        Err(reason) => {
            println!("not run: {reason}");
            return;
        }
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/py/dp_reference.py");
    let orders: Vec<String> = DEFAULT_ORDERS.iter().map(|o| o.to_string()).collect();
    let output = Command::new(&py)
        .arg(&script)
        .args(["--orders", &orders.join(","), "--delta", &DELTA.to_string()])
        .output()
        .expect("the reference script runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}{}", stdout, String::from_utf8_lossy(&output.stderr));
    let references: Vec<Reference> = stdout.lines().filter(|l| !l.trim().is_empty()).map(parse).collect();
    assert_eq!(references.len(), 4 * 4 * 3, "{stdout}");
    let mut worst = (0.0f64, String::new());
    for reference in &references {
        let mut accountant = RdpAccountant::with_default_orders();
        accountant.compose(reference.q, reference.sigma, reference.steps).unwrap();
        let ours = accountant.epsilon(DELTA).unwrap();
        let point = format!("σ={} q={} T={}", reference.sigma, reference.q, reference.steps);
        println!(
            "{point:<24} ε ours {:>12.6} at α {:>6}   reference {:>12.6} at α {:>6}",
            ours.epsilon, ours.order, reference.epsilon, reference.order
        );
        assert!(reference.epsilon.is_finite() && reference.epsilon > 0.0, "{point}: reference ε {}", reference.epsilon);
        let relative = (ours.epsilon - reference.epsilon).abs() / reference.epsilon;
        assert!(
            relative <= RELATIVE_TOLERANCE,
            "{point}: ε {} vs reference {} (relative difference {relative:.3e}, tolerance {RELATIVE_TOLERANCE})",
            ours.epsilon,
            reference.epsilon
        );
        if relative >= worst.0 {
            worst = (relative, point);
        }
    }
    println!("largest relative difference {:.3e} at {}", worst.0, worst.1);
}
