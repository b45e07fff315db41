//! Resuming a stopped experiment from its last completed round.
//!
//! After every round that all methods completed, the run's whole state is written to one
//! safetensors file (through a temporary file renamed into place, so a run killed while writing
//! leaves the previous checkpoint whole): every B vector — each instance's personal adapter,
//! its copy of the collective adapter and its compression residual, every CCF version, the
//! pooled adapter — as f32 tensors, and in the metadata (`dfma.checkpoint`, JSON) the records so
//! far and each method's scalars: versions applied, bytes sent, joules, the senders' counters,
//! noise-generator positions and budget charges, the CCF's open round and counters. Everything
//! else (questions, seeds, identities, A factors) follows from the configuration, which the
//! checkpoint names exactly and a resume must repeat. A resumed run then computes what the
//! uninterrupted run would have, bit for bit: the report is the same except for wall time.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};

use super::report::MethodRecord;
use super::run::{ExperimentError, Running};
use crate::federated::ccf::CcfState;
use crate::federated::sender::SenderState;

/// Layout version of the file; another is refused.
const FORMAT: u32 = 1;
/// The metadata key of the JSON part.
const META_KEY: &str = "dfma.checkpoint";

#[derive(Serialize, Deserialize)]
struct Meta {
    format: u32,
    /// The configuration, as `{:?}` prints it: a resume must run the same experiment.
    config: String,
    base_sha256: String,
    completed_round: usize,
    records: Vec<MethodRecord>,
    methods: Vec<MethodMeta>,
}

#[derive(Serialize, Deserialize)]
struct MethodMeta {
    method: String,
    ccf: Option<CcfState>,
    instances: Vec<InstanceMeta>,
}

#[derive(Serialize, Deserialize)]
struct InstanceMeta {
    applied_version: u64,
    joined: bool,
    bytes_sent: u64,
    joules: f64,
    sender: Option<SenderState>,
}

fn bad(path: &Path, problem: impl std::fmt::Display) -> ExperimentError {
    ExperimentError::Config(format!("checkpoint {}: {problem}", path.display()))
}

/// Writes the state after `completed_round` of every run in `runs` (and the records so far).
pub(super) fn save(
    path: &Path,
    config: &str,
    base_sha256: &str,
    completed_round: usize,
    runs: &[Running],
    records: &[MethodRecord],
) -> Result<(), ExperimentError> {
    let mut tensors: BTreeMap<String, Vec<f32>> = BTreeMap::new();
    let mut methods = Vec::new();
    for run in runs {
        let w = &run.world;
        let m = w.method.name();
        let ccf = match &w.ccf {
            Some(ccf) => {
                let (state, versions) = ccf.state().ok_or_else(|| bad(path, "a round is still open"))?;
                for (v, b) in versions.iter().enumerate() {
                    tensors.insert(format!("{m}.ccf.{v}"), b.clone());
                }
                Some(state)
            }
            None => None,
        };
        let mut instances = Vec::new();
        for (i, inst) in w.instances.iter().enumerate() {
            tensors.insert(format!("{m}.{i}.personal"), inst.personal.b_vector());
            if let Some(c) = &inst.collective {
                tensors.insert(format!("{m}.{i}.collective"), c.b_vector());
            }
            let sender = inst.sender.as_ref().map(|s| s.state());
            if let Some(s) = &sender {
                tensors.insert(format!("{m}.{i}.residual"), s.residual.clone());
            }
            instances.push(InstanceMeta {
                applied_version: inst.applied_version,
                joined: inst.joined,
                bytes_sent: inst.bytes_sent,
                joules: inst.joules,
                sender,
            });
        }
        if let Some(p) = &w.pooled {
            tensors.insert(format!("{m}.pooled"), p.b_vector());
        }
        methods.push(MethodMeta { method: m.into(), ccf, instances });
    }
    let meta = Meta {
        format: FORMAT,
        config: config.into(),
        base_sha256: base_sha256.into(),
        completed_round,
        records: records.to_vec(),
        methods,
    };
    let json = serde_json::to_string(&meta).map_err(|e| bad(path, e))?;
    let bytes: Vec<(String, Vec<u8>)> =
        tensors.into_iter().map(|(n, v)| (n, v.iter().flat_map(|x| x.to_le_bytes()).collect())).collect();
    let views: Vec<(String, TensorView<'_>)> = bytes
        .iter()
        .map(|(n, b)| (n.clone(), TensorView::new(Dtype::F32, vec![b.len() / 4], b).expect("shape matches the data")))
        .collect();
    let data =
        safetensors::serialize(views, Some(HashMap::from([(META_KEY.to_string(), json)]))).map_err(|e| bad(path, e))?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| bad(path, e))?;
    std::io::Write::write_all(&mut tmp, &data).map_err(|e| bad(path, e))?;
    // On disk before it replaces the previous checkpoint, so a crash leaves one whole file.
    tmp.as_file().sync_all().map_err(|e| bad(path, e))?;
    tmp.persist(path).map_err(|e| bad(path, e.error))?;
    Ok(())
}

/// Restores `runs` (fresh, built from the same configuration) from the checkpoint at `path`;
/// returns the last completed round and the records so far. A corrupt file, or another
/// experiment's or model's, is an error naming the file and the problem; the file is left as
/// it is, and the caller drops the half-restored runs.
pub(super) fn load(
    path: &Path,
    config: &str,
    base_sha256: &str,
    runs: &mut [Running],
) -> Result<(usize, Vec<MethodRecord>), ExperimentError> {
    let data = std::fs::read(path).map_err(|e| bad(path, e))?;
    let (st, meta) = read(path, &data, config, base_sha256)?;
    let names: Vec<&str> = runs.iter().map(|r| r.world.method.name()).collect();
    if meta.methods.iter().map(|m| m.method.as_str()).ne(names.iter().copied()) || meta.records.len() != runs.len() {
        return Err(bad(path, "its methods differ from this run's"));
    }
    let tensor = |name: &str, len: usize| -> Result<Vec<f32>, ExperimentError> {
        let v = st.tensor(name).map_err(|_| bad(path, format!("tensor {name} is missing")))?;
        if v.dtype() != Dtype::F32 || v.shape() != [len] {
            return Err(bad(path, format!("tensor {name}: {:?} {:?}, expected F32 [{len}]", v.dtype(), v.shape())));
        }
        Ok(v.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    };
    for (run, mm) in runs.iter_mut().zip(&meta.methods) {
        let w = &mut run.world;
        let m = w.method.name();
        let len = w.instances.first().map_or(0, |i| i.personal.b_len());
        if mm.instances.len() != w.instances.len() || mm.ccf.is_some() != w.ccf.is_some() {
            return Err(bad(path, format!("{m}: instances or CCF differ from this run's")));
        }
        if let (Some(ccf), Some(state)) = (w.ccf.as_mut(), &mm.ccf) {
            let versions = (0..).map_while(|v| st.tensor(&format!("{m}.ccf.{v}")).ok().map(|_| v)).count();
            let versions = (0..versions).map(|v| tensor(&format!("{m}.ccf.{v}"), len)).collect::<Result<_, _>>()?;
            ccf.restore(state, versions).map_err(|e| bad(path, format!("{m} ccf: {e}")))?;
        }
        for (i, (inst, im)) in w.instances.iter_mut().zip(&mm.instances).enumerate() {
            inst.personal.set_b(&tensor(&format!("{m}.{i}.personal"), len)?)?;
            if let Some(c) = &mut inst.collective {
                c.set_b(&tensor(&format!("{m}.{i}.collective"), len)?)?;
            }
            match (&mut inst.sender, &im.sender) {
                (Some(sender), Some(state)) => {
                    let mut state = state.clone();
                    state.residual = match st.tensor(&format!("{m}.{i}.residual")) {
                        Ok(v) => tensor(&format!("{m}.{i}.residual"), v.shape().first().copied().unwrap_or(0))?,
                        Err(_) => return Err(bad(path, format!("tensor {m}.{i}.residual is missing"))),
                    };
                    sender.restore(&state).map_err(|e| bad(path, format!("{m} instance {i}: {e}")))?;
                }
                (None, None) => {}
                _ => return Err(bad(path, format!("{m} instance {i}: sender differs from this run's"))),
            }
            inst.applied_version = im.applied_version;
            inst.joined = im.joined;
            inst.bytes_sent = im.bytes_sent;
            inst.joules = im.joules;
        }
        if let Some(p) = &mut w.pooled {
            p.set_b(&tensor(&format!("{m}.pooled"), len)?)?;
        }
    }
    Ok((meta.completed_round, meta.records))
}

/// Parses and checks a checkpoint's bytes: a safetensors file of this format, for this base
/// model and configuration.
fn read<'d>(
    path: &Path,
    data: &'d [u8],
    config: &str,
    base_sha256: &str,
) -> Result<(safetensors::SafeTensors<'d>, Meta), ExperimentError> {
    let st = safetensors::SafeTensors::deserialize(data).map_err(|e| bad(path, format!("not a checkpoint: {e}")))?;
    let (_, header) = safetensors::SafeTensors::read_metadata(data).map_err(|e| bad(path, e))?;
    let json = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(META_KEY))
        .ok_or_else(|| bad(path, format!("no {META_KEY} metadata")))?;
    let meta: Meta = serde_json::from_str(json).map_err(|e| bad(path, format!("metadata: {e}")))?;
    if meta.format != FORMAT {
        return Err(bad(path, format!("format {}, this dfma reads {FORMAT}", meta.format)));
    }
    if meta.base_sha256 != base_sha256 {
        return Err(bad(path, format!("saved for base model {}, this model is {base_sha256}", meta.base_sha256)));
    }
    if meta.config != config {
        return Err(bad(path, "saved for another experiment configuration (repeat the stopped run's flags)"));
    }
    Ok((st, meta))
}

/// The last completed round of the checkpoint at `path`, after the checks a resume makes
/// before it changes anything (file, format, base model, configuration).
pub(super) fn completed_round(path: &Path, config: &str, base_sha256: &str) -> Result<usize, ExperimentError> {
    let data = std::fs::read(path).map_err(|e| bad(path, e))?;
    Ok(read(path, &data, config, base_sha256)?.1.completed_round)
}
