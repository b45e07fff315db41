//! `dfma run experiment`: personal instances learning from their own reasoning, alone or
//! together through the Collective Context Field, against the baselines on the same seeds.

pub mod carbon;
mod checkpoint;
pub mod config;
pub mod remote;
pub mod report;
mod run;
mod world;

pub use config::{BadSignal, ExperimentConfig, Method};
pub use report::{ExperimentReport, MethodRecord, RoundRecord};
pub use run::{ExperimentError, Runtime};

use run::{Running, round_zero, step};

/// An empty record for `round`: no accuracy, nothing sent (what a merge of per-instance records
/// starts from).
pub fn blank_record(cfg: &ExperimentConfig, round: usize) -> RoundRecord {
    run::blank(cfg, round)
}
use world::World;

/// Runs every method of `cfg` round by round on `rt`'s model, calling `on_round` after each
/// completed round of every method (a checkpoint's moment) with the record so far.
pub fn run(
    rt: &mut Runtime<'_, '_>,
    cfg: &ExperimentConfig,
    base_sha256: &str,
    base_hash: [u8; 32],
    on_round: impl FnMut(&str, &RoundRecord),
) -> Result<Vec<MethodRecord>, ExperimentError> {
    run_methods(rt, cfg, &cfg.methods, base_sha256, base_hash, None, on_round)
}

/// The last round the checkpoint at `path` completed, if it is one a run of `cfg` on the base
/// model `base_sha256` can resume from (checked before anything runs, so a wrong one is refused
/// at once).
pub fn checkpoint_round(
    path: &std::path::Path,
    cfg: &ExperimentConfig,
    base_sha256: &str,
) -> Result<usize, ExperimentError> {
    checkpoint::completed_round(path, &format!("{cfg:?}"), base_sha256)
}

/// Where a run keeps its checkpoint (written after every completed round; see `checkpoint`), and
/// whether it starts from the one there.
#[derive(Clone, Copy, Debug)]
pub struct Checkpointing<'p> {
    /// The checkpoint file.
    pub path: &'p std::path::Path,
    /// Resume from it if it exists (else start at round 1 and overwrite it).
    pub resume: bool,
}

/// Round 0 and then the methods `here` (some of `cfg.methods`, in their order) in this process;
/// the others run elsewhere ([`remote`]) and are merged by the caller. Round 0 is evaluated
/// under `cfg.methods`' first method whether or not it runs here, so it is the same record as a
/// run of every method in this process.
pub fn run_methods(
    rt: &mut Runtime<'_, '_>,
    cfg: &ExperimentConfig,
    here: &[Method],
    base_sha256: &str,
    base_hash: [u8; 32],
    checkpointing: Option<Checkpointing<'_>>,
    mut on_round: impl FnMut(&str, &RoundRecord),
) -> Result<Vec<MethodRecord>, ExperimentError> {
    cfg.validate().map_err(ExperimentError::Config)?;
    let c = rt.model.config.clone();
    let first = *cfg.methods.first().ok_or_else(|| ExperimentError::Config("no method to run".into()))?;
    let mut runs = Vec::new();
    for &m in here {
        runs.push(Running::new(World::new(cfg, m, &c, base_sha256, base_hash)?));
    }
    let config = format!("{cfg:?}");
    let resume = checkpointing.filter(|k| k.resume && k.path.exists());
    let (mut records, next) = match resume {
        Some(k) => {
            let (done, records) = checkpoint::load(k.path, &config, base_sha256, &mut runs)?;
            for rec in &records {
                for r in &rec.rounds[usize::from(rec.method != records[0].method)..] {
                    on_round(if r.round == 0 { "none" } else { &rec.method }, r);
                }
            }
            (records, done + 1)
        }
        None => {
            let zero = round_zero(rt, cfg, &World::new(cfg, first, &c, base_sha256, base_hash)?)?;
            on_round("none", &zero);
            let records =
                here.iter().map(|m| MethodRecord { method: m.name().into(), rounds: vec![zero.clone()] }).collect();
            (records, 1)
        }
    };
    for round in next..=cfg.rounds {
        for (run, rec) in runs.iter_mut().zip(&mut records) {
            let prev = rec.rounds.last().expect("round 0 is recorded").clone();
            let r = step(rt, cfg, run, round, &prev)?;
            on_round(&rec.method, &r);
            rec.rounds.push(r);
        }
        if let Some(k) = checkpointing {
            checkpoint::save(k.path, &config, base_sha256, round, &runs, &records)?;
        }
    }
    Ok(records)
}
