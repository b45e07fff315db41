//! Planted-bug kernels: each undefined behavior must be reported as an error that names the
//! kernel, the instruction's file:line and text, a thread and a block — never a wrong answer.

use dfma_ptxvm::{Arg, ExecError, LaunchConfig, Memory, Module, launch};

fn run(file: &str, text: &str, kernel: &str, threads: u32) -> ExecError {
    let m = Module::load(file, text).expect("planted kernels are valid PTX");
    let mut mem = Memory::new(&m);
    let out = mem.alloc(&vec![0u8; 4 * threads as usize]);
    let cfg = LaunchConfig::new([2, 1, 1], [threads, 1, 1]);
    launch(&m, &mem, kernel, cfg, &[Arg::U64(out)]).expect_err("a planted bug must not pass")
}

#[test]
fn an_out_of_bounds_store_is_reported_with_kernel_instruction_thread_and_block() {
    let e = run("oob_store.ptx", include_str!("planted/oob_store.ptx"), "oob_store", 64);
    let ExecError::Memory { site, what } = &e else { panic!("expected a memory error, got {e}") };
    assert_eq!(site.kernel, "oob_store");
    assert_eq!((site.file.as_str(), site.line, site.inst.as_str()), ("oob_store.ptx", 15, "st.global.u32"));
    assert_eq!(site.thread, [63, 0, 0]);
    assert!(what.contains("out-of-bounds global store of 4 bytes"), "{what}");
    assert!(
        e.to_string().starts_with("oob_store.ptx:15: `st.global.u32` in kernel oob_store, thread (63,0,0) of block (")
    );
}

#[test]
fn a_barrier_that_half_the_threads_skip_is_reported_as_never_completed() {
    let e = run("divergent_barrier.ptx", include_str!("planted/divergent_barrier.ptx"), "divergent_barrier", 64);
    let ExecError::Barrier { site, what } = &e else { panic!("expected a barrier error, got {e}") };
    assert_eq!((site.line, site.inst.as_str()), (14, "bar.sync"));
    assert_eq!(site.thread[0] % 2, 0, "the waiting thread is an even one");
    assert!(what.contains("32 of 64 expected threads arrived"), "{what}");
    assert!(what.contains("thread (1,0,0) exited without reaching it"), "{what}");
}

#[test]
fn reading_shared_memory_no_thread_wrote_is_an_error_at_the_load() {
    let e = run("uninit_shared.ptx", include_str!("planted/uninit_shared.ptx"), "uninit_shared", 32);
    let ExecError::UninitShared { site, what } = &e else { panic!("expected an uninitialized-shared error, got {e}") };
    assert_eq!((site.line, site.inst.as_str(), site.thread), (19, "ld.shared.u32", [31, 0, 0]));
    assert!(what.contains("never stored"), "{what}");
}

#[test]
fn a_misaligned_vector_load_is_an_error_not_a_silent_unaligned_read() {
    let e = run("misaligned_load.ptx", include_str!("planted/misaligned_load.ptx"), "misaligned_load", 32);
    let ExecError::Memory { site, what } = &e else { panic!("expected a memory error, got {e}") };
    assert_eq!((site.line, site.inst.as_str()), (11, "ld.global.v4.u32"));
    assert!(what.contains("misaligned load of 16 bytes"), "{what}");
}

#[test]
fn shuffles_with_inconsistent_member_masks_are_an_error() {
    let e = run("shfl_mask_mismatch.ptx", include_str!("planted/shfl_mask_mismatch.ptx"), "shfl_mask_mismatch", 32);
    let ExecError::Collective { site, what } = &e else { panic!("expected a collective error, got {e}") };
    assert_eq!((site.line, site.inst.as_str()), (13, "shfl.sync.bfly.b32"));
    assert!(what.contains("member mask") || what.contains("inconsistent"), "{what}");
}
