//! Listing and choosing wgpu adapters.

use crate::backend::Error;

/// One adapter as `dfma devices` prints it.
#[derive(Clone, Debug)]
pub struct AdapterSummary {
    /// Index in enumeration order (what `DFMA_WGPU_ADAPTER=<index>` selects).
    pub index: usize,
    /// Adapter name, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)".
    pub name: String,
    /// Graphics API: Vulkan, Metal, Dx12.
    pub backend: String,
    /// DiscreteGpu, IntegratedGpu, Cpu, …
    pub device_type: String,
    /// Driver name and version.
    pub driver: String,
}

fn instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = wgpu::Backends::PRIMARY;
    wgpu::Instance::new(desc)
}

fn summarize(index: usize, a: &wgpu::Adapter) -> AdapterSummary {
    let i = a.get_info();
    let driver = [i.driver.as_str(), i.driver_info.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    AdapterSummary {
        index,
        name: i.name,
        backend: format!("{:?}", i.backend),
        device_type: format!("{:?}", i.device_type),
        driver: if driver.is_empty() { "unknown".into() } else { driver },
    }
}

fn enumerate() -> Vec<wgpu::Adapter> {
    pollster::block_on(instance().enumerate_adapters(wgpu::Backends::PRIMARY))
}

/// Every adapter wgpu finds on this machine.
pub fn list_adapters() -> Vec<AdapterSummary> {
    enumerate().iter().enumerate().map(|(i, a)| summarize(i, a)).collect()
}

fn rank(device_type: wgpu::DeviceType) -> u8 {
    match device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

/// The adapter `preference` names (index or case-insensitive name substring), else the best.
pub(super) fn select(preference: Option<&str>) -> Result<(wgpu::Adapter, AdapterSummary), Error> {
    let adapters = enumerate();
    if adapters.is_empty() {
        return Err(Error::Unavailable(
            "wgpu found no adapter (no Vulkan/Metal/DX12 driver; on Debian: apt-get install mesa-vulkan-drivers)"
                .into(),
        ));
    }
    let chosen = match preference.map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => {
            let by_index = p.parse::<usize>().ok().filter(|&i| i < adapters.len());
            let needle = p.to_lowercase();
            by_index
                .or_else(|| adapters.iter().position(|a| a.get_info().name.to_lowercase().contains(&needle)))
                .ok_or_else(|| {
                    let names: Vec<String> =
                        adapters.iter().enumerate().map(|(i, a)| format!("{i}: {}", a.get_info().name)).collect();
                    Error::Unavailable(format!("no wgpu adapter matches {p:?} (have {})", names.join("; ")))
                })?
        }
        None => (0..adapters.len()).min_by_key(|&i| rank(adapters[i].get_info().device_type)).expect("non-empty"),
    };
    let summary = summarize(chosen, &adapters[chosen]);
    let adapter = adapters.into_iter().nth(chosen).expect("index in range");
    Ok((adapter, summary))
}
