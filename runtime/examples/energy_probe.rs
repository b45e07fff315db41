//! Prints which energy meters this machine has (and why the others are missing), each
//! meter's idle power, and the energy of a short busy loop on the CPU meter.
//!
//! `cargo run -p dfma-runtime --example energy_probe`

use std::time::{Duration, Instant};

use dfma_runtime::energy::{
    EnergyWindow, ProbeConfig, Scope, available_meters, measure_idle_power, recommended_min_window,
};

fn main() {
    let found = available_meters(&ProbeConfig::default());
    println!("{}", found.summary());
    for meter in &found.meters {
        let window = recommended_min_window(meter.as_ref());
        match measure_idle_power(meter.as_ref(), window) {
            Ok(idle) => println!("idle: {idle}"),
            Err(e) => println!("idle: {}: {e}", meter.name()),
        }
        if let Some(clocks) = meter.gpu_clocks() {
            println!("clocks: {clocks:?}");
        }
    }
    if let Some(cpu) = found.best(Scope::Cpu) {
        let window = EnergyWindow::start(cpu).expect("the meter was just read");
        let start = Instant::now();
        let mut x = 1u64;
        while start.elapsed() < Duration::from_millis(500) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        }
        std::hint::black_box(x);
        match window.stop() {
            Ok(busy) => println!("busy loop (one thread): {busy}"),
            Err(e) => println!("busy loop: {e}"),
        }
    }
}
