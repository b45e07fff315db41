//! `dfma run experiment --transport grpc`: the baselines run in this process; each federated
//! method (collective, fedavg) runs as separate processes on this machine — its CCF
//! (`dfma ccf serve` on a free localhost port) and one `dfma instance` per instance, all
//! concurrently, talking over gRPC. Their per-round lines are merged into the same records an
//! in-process run writes.
//!
//! Every child gets the experiment's flags with the resolved seed and model, so it builds the
//! same world. Instances share the cores: each gets `RAYON_NUM_THREADS` = cores / instances (at
//! least 1) unless the variable is set; results do not depend on the thread count. If any child
//! fails, the others are killed and the run stops with that child's name; a round its CCF had
//! to close at its deadline (a member hung for an hour) fails the run too, since its report
//! would not be the in-process one.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use dfma_runtime::federated::service::ClosedRound;
use dfma_runtime::reasoning::experiment::{self, Method, MethodRecord, RoundRecord, Runtime};

use super::experiment::Prepared;
use crate::cli::ExperimentArgs;

/// Longest a round of a child CCF waits for a silent member. A member that crashed is noticed
/// at once (its process exits); this bounds a member that hangs.
const ROUND_TIMEOUT_S: u64 = 3600;

/// Kills every child still running when dropped, so no error path leaves processes behind.
struct Children(Vec<(String, Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (_, c) in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The experiment's flags for a child: everything that shapes its world, with the seed and
/// model this run resolved.
fn child_flags(a: &ExperimentArgs, p: &Prepared) -> Vec<String> {
    let mut f: Vec<String> = Vec::new();
    let mut add = |flag: &str, value: String| {
        f.push(flag.into());
        f.push(value);
    };
    add("--model", p.path.display().to_string());
    add("--seed", p.cfg.seed.to_string());
    add("--instances", a.instances.to_string());
    add("--rounds", a.rounds.to_string());
    add("--tasks", a.tasks.clone());
    add("--kinds-per-instance", a.kinds_per_instance.to_string());
    add("--questions", a.questions.to_string());
    add("--held-out", a.held_out.to_string());
    add("--samples", a.samples.to_string());
    add("--demos", a.demos.to_string());
    add("--layers", a.layers.clone());
    add("--rank", a.rank.to_string());
    add("--lr", a.lr.to_string());
    add("--epochs", a.epochs.to_string());
    add("--compression", a.compression.clone());
    add("--robust", a.robust.clone());
    add("--server-lr", a.server_lr.clone());
    add("--clip", a.clip.to_string());
    add("--noise", a.noise.to_string());
    add("--epsilon", a.epsilon.to_string());
    add("--dropout", a.dropout.to_string());
    add("--methods", a.methods.clone());
    if let Some(l) = &a.late_join {
        add("--late-join", l.clone());
    }
    if let Some(b) = &a.bad_instance {
        add("--bad-instance", b.clone());
    }
    f
}

/// Reads a child's stdout lines as JSON values of `T` on a thread (so no pipe fills up).
fn read_lines<T: serde::de::DeserializeOwned + Send + 'static>(
    name: String,
    out: ChildStdout,
) -> JoinHandle<Result<Vec<T>>> {
    std::thread::spawn(move || {
        BufReader::new(out)
            .lines()
            .map(|l| {
                let l = l.with_context(|| format!("{name}: reading its output"))?;
                serde_json::from_str(&l).with_context(|| format!("{name}: bad record line {l:?}"))
            })
            .collect()
    })
}

/// Waits for every child; on the first failure the rest are killed (by `Children`'s drop).
fn wait_all(children: &mut Children) -> Result<()> {
    loop {
        let mut running = 0;
        for (name, c) in &mut children.0 {
            match c.try_wait()? {
                Some(s) if !s.success() => return Err(anyhow!("{name} failed ({s})")),
                Some(_) => {}
                None => running += 1,
            }
        }
        if running == 0 {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Rounds 1..=R of federated `method`, run as a CCF process and one process per instance.
fn run_method(args: &ExperimentArgs, p: &Prepared, method: Method) -> Result<Vec<RoundRecord>> {
    let exe = std::env::current_exe().context("finding the dfma executable")?;
    let flags = child_flags(args, p);
    let mut children = Children(Vec::new());
    let mut ccf = Command::new(&exe)
        .args(["ccf", "serve", "--listen", "127.0.0.1:0", "--method", method.name()])
        .args(["--round-timeout-s", &ROUND_TIMEOUT_S.to_string()])
        .args(&flags)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting dfma ccf serve")?;
    let mut ccf_out = BufReader::new(ccf.stdout.take().expect("piped stdout"));
    children.0.push((format!("{} ccf", method.name()), ccf));
    let mut first = String::new();
    ccf_out.read_line(&mut first).context("reading the CCF's address")?;
    let addr = first
        .trim()
        .strip_prefix("listening ")
        .ok_or_else(|| anyhow!("{} ccf did not start (said {:?})", method.name(), first.trim()))?
        .to_string();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| (cores / p.cfg.instances).max(1).to_string());
    let mut readers = Vec::new();
    for i in 0..p.cfg.instances {
        let name = format!("{} instance {i}", method.name());
        let mut child = Command::new(&exe)
            .args(["instance", "--ccf", &format!("http://{addr}"), "--index", &i.to_string()])
            .args(["--method", method.name(), "--timeout-s", &(2 * ROUND_TIMEOUT_S).to_string()])
            .args(&flags)
            .env("RAYON_NUM_THREADS", &threads)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        readers.push(read_lines::<RoundRecord>(name.clone(), child.stdout.take().expect("piped stdout")));
        children.0.push((name, child));
    }
    let closed_reader = read_lines::<ClosedRound>(format!("{} ccf", method.name()), ccf_out.into_inner());
    wait_all(&mut children)?;
    let closed = closed_reader.join().map_err(|_| anyhow!("ccf reader panicked"))??;
    let mut merged: Vec<RoundRecord> = (1..=p.cfg.rounds).map(|r| experiment::blank_record(&p.cfg, r)).collect();
    for (i, reader) in readers.into_iter().enumerate() {
        let records = reader.join().map_err(|_| anyhow!("instance reader panicked"))??;
        if records.len() != p.cfg.rounds {
            return Err(anyhow!(
                "{} instance {i}: {} round records, expected {}",
                method.name(),
                records.len(),
                p.cfg.rounds
            ));
        }
        for (m, r) in merged.iter_mut().zip(&records) {
            m.merge_instance(i, r);
        }
    }
    if closed.len() != p.cfg.rounds {
        return Err(anyhow!("{} ccf: closed {} rounds, expected {}", method.name(), closed.len(), p.cfg.rounds));
    }
    // A round closed by its deadline went on without some member's report: the run is then not
    // the in-process one, and its report must not pass for it.
    if let Some(late) = closed.iter().find(|c| c.by_deadline) {
        return Err(anyhow!(
            "{} ccf: round {} closed at its {ROUND_TIMEOUT_S} s deadline without every member's report",
            method.name(),
            late.round
        ));
    }
    for (m, c) in merged.iter_mut().zip(&closed) {
        m.signals_aggregated = c.signals_aggregated;
    }
    Ok(merged)
}

/// Every method of the experiment: the baselines here, the federated ones over gRPC; the
/// records in `cfg.methods`' order, as an in-process run gives them.
pub(super) fn run(
    rt: &mut Runtime<'_, '_>,
    args: &ExperimentArgs,
    p: &Prepared,
    mut on_round: impl FnMut(&str, &RoundRecord),
) -> Result<Vec<MethodRecord>> {
    let cfg = &p.cfg;
    let remote = |m: &Method| matches!(m, Method::Collective | Method::FedAvg);
    let here: Vec<Method> = cfg.methods.iter().copied().filter(|m| !remote(m)).collect();
    let mut zero = None;
    let mut local = experiment::run_methods(rt, cfg, &here, &p.base, p.base_hash, None, |m, r| {
        if m == "none" {
            zero = Some(r.clone());
        }
        on_round(m, r);
    })
    .map_err(|e| anyhow!("experiment: {e}"))?
    .into_iter();
    let zero = zero.expect("round 0 is always reported");
    let mut records = Vec::new();
    for &m in &cfg.methods {
        if remote(&m) {
            let mut rounds = vec![zero.clone()];
            for r in run_method(args, p, m)? {
                on_round(m.name(), &r);
                rounds.push(r);
            }
            records.push(MethodRecord { method: m.name().into(), rounds });
        } else {
            records.push(local.next().expect("one record per local method"));
        }
    }
    Ok(records)
}
