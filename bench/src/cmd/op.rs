//! `dfma op NAME --backend B --in w=W.npy --in x=X.npy --out y=Y.npy`: any registered op on
//! .npy files, so outside tools can check results.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Result, anyhow};
use dfma_kernels::registry::{KernelSpec, find};
use dfma_kernels::tune::TuneCache;
use dfma_kernels::{BackendKind, BackendOptions, DeviceInfo, open, run_once};
use dfma_reference::{Dims, ops};

use super::parse_backend;
use crate::cli::OpArgs;
use crate::error::bad_input;
use crate::npy;

/// Parses `NAME=FILE` arguments of `flag`, rejecting unknown and duplicate names.
fn named_paths(flag: &str, args: &[String], allowed: &[&str]) -> Result<HashMap<String, PathBuf>> {
    let mut out = HashMap::new();
    for a in args {
        let (name, path) = a.split_once('=').ok_or_else(|| bad_input(format!("{flag} {a}: expected NAME=FILE.npy")))?;
        if !allowed.contains(&name) {
            return Err(bad_input(format!("{flag} {a}: this op has no tensor {name} (has {})", allowed.join(", "))));
        }
        if out.insert(name.to_string(), PathBuf::from(path)).is_some() {
            return Err(bad_input(format!("{flag} {name} given twice")));
        }
    }
    for name in allowed {
        if !out.contains_key(*name) {
            return Err(bad_input(format!("missing {flag} {name}=FILE.npy")));
        }
    }
    Ok(out)
}

pub fn run(args: &OpArgs, opts: &BackendOptions) -> Result<()> {
    let op = ops::by_name(&args.name).ok_or_else(|| {
        let names: Vec<&str> = ops::all().iter().map(|o| o.name()).collect();
        bad_input(format!("op {}: unknown (have {})", args.name, names.join(", ")))
    })?;
    let kind = parse_backend(&args.backend)?;
    if let Some(v) = &args.variant
        && !find(op.name(), kind).any(|k| k.variant == v)
    {
        return Err(bad_input(format!("--variant {v}: {} has no such kernel on {kind}", op.name())));
    }
    if find(op.name(), kind).next().is_none() {
        return Err(bad_input(format!("{} has no kernel on {kind}", op.name())));
    }
    let in_names: Vec<&str> = op.inputs().iter().map(|t| t.name).collect();
    let out_names: Vec<&str> = op.outputs().iter().map(|t| t.name).collect();
    let in_paths = named_paths("--in", &args.inputs, &in_names)?;
    let out_paths = named_paths("--out", &args.outputs, &out_names)?;
    let mut inputs = Vec::new();
    for spec in op.inputs() {
        inputs.push(npy::read(&in_paths[spec.name])?);
    }
    let dims = op.dims_of(&inputs).map_err(|e| {
        let file = in_paths.get(&e.tensor).map(|p| format!(" ({})", p.display())).unwrap_or_default();
        bad_input(format!("{}{file}: {}", e.tensor, e.problem))
    })?;
    let backend = open(kind, opts).map_err(|e| anyhow!("{kind}: {e}"))?;
    let kernel = pick_kernel(op.name(), kind, args.variant.as_deref(), backend.device(), &dims)?;
    let outputs = run_once(backend.as_ref(), kernel, &dims, &inputs)?;
    for (spec, t) in op.outputs().iter().zip(&outputs) {
        npy::write(&out_paths[spec.name], t)?;
    }
    eprintln!("{} {} on {kind} ({}): {dims}", op.name(), kernel.variant, backend.device().name);
    Ok(())
}

/// The kernel to run: `--variant` when given, else `dfma tune`'s choice for this device and
/// shape when the cache has one, else the first registered.
fn pick_kernel(
    op: &str,
    kind: BackendKind,
    variant: Option<&str>,
    device: &DeviceInfo,
    dims: &Dims,
) -> Result<&'static KernelSpec> {
    let picked = match variant {
        Some(v) => find(op, kind).find(|k| k.variant == v),
        None => TuneCache::load(&TuneCache::default_path()).map_err(bad_input)?.pick(op, kind, device, dims),
    };
    picked.ok_or_else(|| bad_input(format!("{op} has no kernel on {kind}")))
}
