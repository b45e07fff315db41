//! One block (CTA): its warps share shared memory and barriers. Warps run in turn until each is
//! finished or waiting; a barrier opens when its expected number of threads has arrived. When
//! nothing can move and some thread still waits, the block is deadlocked: that is reported as
//! the barrier (or collective) not every thread reached, naming a waiting thread and a missing one.

use crate::counters::Counters;
use crate::error::ExecError;
use crate::memory::Shared;
use crate::program::Program;
use crate::warp::{BlockState, LaneState, Launch, Warp};

/// Reusable per-worker storage: warps and a block state, allocated once per rayon worker.
pub(crate) struct BlockScratch {
    warps: Vec<Warp>,
    pub state: BlockState,
}

impl BlockScratch {
    pub fn new(prog: &Program) -> Self {
        Self {
            warps: Vec::new(),
            state: BlockState {
                ctaid: [0; 3],
                shared: Shared::new(0),
                counters: Counters::new(prog.code.len()),
                bar_arrived: [0; 16],
                bar_expected: [0; 16],
                nthreads: 0,
            },
        }
    }
}

fn describe(state: LaneState) -> &'static str {
    match state {
        LaneState::Exited => "exited without reaching it",
        LaneState::Bar(_) => "waits at a different barrier",
        LaneState::Coll => "waits at a warp collective",
        LaneState::Run => "is still running",
    }
}

/// Runs block `ctaid` to completion.
pub(crate) fn run_block(l: &Launch, s: &mut BlockScratch, ctaid: [u32; 3]) -> Result<(), ExecError> {
    let nthreads = l.ntid.iter().product::<u32>();
    let nwarps = nthreads.div_ceil(32) as usize;
    while s.warps.len() < nwarps {
        s.warps.push(Warp::new(l.prog));
    }
    for (w, warp) in s.warps[..nwarps].iter_mut().enumerate() {
        let left = nthreads - 32 * w as u32;
        let valid = if left >= 32 { u32::MAX } else { (1u32 << left) - 1 };
        warp.reset(w as u32, valid, l.kernel.entry_pc);
    }
    let b = &mut s.state;
    b.ctaid = ctaid;
    b.nthreads = nthreads;
    b.shared.reset(l.prog.shared_bytes as usize);
    b.bar_arrived = [0; 16];
    b.bar_expected = [0; 16];
    let warps = &mut s.warps[..nwarps];
    loop {
        let mut progressed = false;
        for w in warps.iter_mut() {
            if w.state.contains(&LaneState::Run) {
                w.run(l, b)?;
                progressed = true;
            }
        }
        for id in 0..16u8 {
            let i = usize::from(id);
            if b.bar_arrived[i] > 0 && b.bar_arrived[i] >= b.bar_expected[i] {
                for w in warps.iter_mut() {
                    for lane in 0..32 {
                        if w.state[lane] == LaneState::Bar(id) {
                            w.state[lane] = LaneState::Run;
                        }
                    }
                }
                b.bar_arrived[i] = 0;
                progressed = true;
            }
        }
        if !progressed {
            break;
        }
    }
    // Nothing can move. Every thread must have exited.
    fn missing(warps: &[Warp], not: LaneState) -> Option<(&Warp, usize)> {
        warps
            .iter()
            .find_map(|w| (0..32).find(|&lane| w.valid >> lane & 1 == 1 && w.state[lane] != not).map(|lane| (w, lane)))
    }
    for w in warps.iter() {
        for lane in 0..32 {
            match w.state[lane] {
                LaneState::Bar(id) => {
                    let site = w.site(l, b, w.pc[lane] - 1, lane);
                    let other = missing(warps, LaneState::Bar(id));
                    let who = match other {
                        Some((ow, ol)) => {
                            let t = ow.site(l, b, ow.pc[ol], ol).thread;
                            format!("; thread ({},{},{}) {}", t[0], t[1], t[2], describe(ow.state[ol]))
                        }
                        None => String::new(),
                    };
                    return Err(ExecError::Barrier {
                        site,
                        what: format!(
                            "barrier {id} is never completed: {} of {} expected threads arrived{who}",
                            b.bar_arrived[usize::from(id)],
                            b.bar_expected[usize::from(id)]
                        ),
                    });
                }
                LaneState::Coll => {
                    let mask = w.coll_mask[lane];
                    let here = (0..32)
                        .filter(|&k| w.state[k] == LaneState::Coll && w.pc[k] == w.pc[lane])
                        .fold(0u32, |m, k| m | 1 << k);
                    let absent = mask & !here;
                    let first = absent.trailing_zeros() as usize;
                    return Err(ExecError::Collective {
                        site: w.site(l, b, w.pc[lane], lane),
                        what: format!(
                            "member mask {mask:#010x} never completes: lanes {absent:#010x} did not arrive (lane {first} {})",
                            describe(w.state[first.min(31)])
                        ),
                    });
                }
                _ => {}
            }
        }
    }
    b.counters.blocks += 1;
    Ok(())
}
