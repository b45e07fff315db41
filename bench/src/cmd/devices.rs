//! `dfma devices`: every backend, its devices and drivers, and why any is unavailable.

use anyhow::Result;
use dfma_kernels::{BackendKind, BackendOptions, cuda, open, wgpu};

pub fn run(opts: &BackendOptions) -> Result<()> {
    for kind in BackendKind::ALL {
        match open(kind, opts) {
            Ok(b) => {
                let d = b.device();
                println!("{kind:<10} available  {} ({})", d.name, d.driver);
                for (k, v) in &d.details {
                    println!("{:<10}            {k}: {v}", "");
                }
            }
            Err(e) => println!("{kind:<10} {e}"),
        }
        match kind {
            BackendKind::Wgpu => {
                let adapters = wgpu::list_adapters();
                if adapters.is_empty() {
                    println!("{:<10}            adapters: none", "");
                }
                for a in adapters {
                    println!(
                        "{:<10}            adapter {}: {} [{} {}] driver {}",
                        "", a.index, a.name, a.backend, a.device_type, a.driver
                    );
                }
            }
            BackendKind::Cuda => match cuda::device_count() {
                Ok(n) => println!(
                    "{:<10}            driver {}, {n} device(s)",
                    "",
                    cuda::driver_version().unwrap_or_else(|e| e.to_string())
                ),
                Err(e) => println!("{:<10}            driver: {e}", ""),
            },
            _ => {}
        }
    }
    Ok(())
}
