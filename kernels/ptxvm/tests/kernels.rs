//! Whole kernels through the interpreter: the shipped q8_0_gemv against a plain CPU product,
//! and small known-answer kernels for warp collectives and divergence.

use dfma_ptxvm::{Arg, Class, LaunchConfig, Memory, Module, launch};

const Q8_0_GEMV: &str = include_str!("../../ptx/q8_0_gemv.ptx");
const CACHE_FLUSH: &str = include_str!("../../ptx/cache_flush.ptx");

/// A tiny deterministic generator (tests must not depend on the reference crate).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
    fn unit(&mut self) -> f32 {
        self.next() as f32 / (1u64 << 31) as f32 - 1.0
    }
}

fn words(bytes: &[u8]) -> Vec<u32> {
    bytes.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect()
}

#[test]
fn q8_0_gemv_matches_a_plain_product_with_the_kernels_own_summation_order() {
    // cols = 608: one full 512-weight window and a ragged second one (96 weights).
    let (rows, cols, batch) = (37usize, 608usize, 3usize);
    let nb = cols / 32;
    let padded = nb.next_multiple_of(16);
    let mut g = Lcg(7);
    let scales: Vec<half::f16> = (0..rows * nb).map(|_| half::f16::from_f32(g.unit() * 0.1)).collect();
    let codes: Vec<i8> = (0..rows * cols).map(|_| (g.next() % 255) as i8).collect();
    let x: Vec<f32> = (0..batch * cols).map(|_| g.unit()).collect();
    // The "warp tiles" device layout, written out independently of dfma-kernels' layout code:
    // rows padded to 16-block windows, scales in block order, and within a window the code of
    // position 128*i + 4*l + k stored at byte 16*l + 4*i + k.
    let mut s_bytes = vec![0u8; 2 * rows * padded];
    let mut c_bytes = vec![0u8; 32 * rows * padded];
    for r in 0..rows {
        for b in 0..nb {
            let at = 2 * (r * padded + b);
            s_bytes[at..at + 2].copy_from_slice(&scales[r * nb + b].to_bits().to_le_bytes());
        }
        for pos in 0..cols {
            let (w, p) = (pos / 512, pos % 512);
            c_bytes[32 * r * padded + 512 * w + 16 * ((p % 128) / 4) + 4 * (p / 128) + p % 4] =
                codes[r * cols + pos] as u8;
        }
    }
    let m = Module::load("q8_0_gemv.ptx", Q8_0_GEMV).unwrap();
    let mut mem = Memory::new(&m);
    let x_bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    let (ps, pc, px) = (mem.alloc(&s_bytes), mem.alloc(&c_bytes), mem.alloc(&x_bytes));
    let py = mem.alloc(&vec![0xff; 4 * rows * batch]);
    let args = [ps, pc, px, py].map(Arg::U64).into_iter().chain([rows, cols, batch].map(|v| Arg::U32(v as u32)));
    let cfg = LaunchConfig::new([rows.div_ceil(4) as u32, 1, 1], [128, 1, 1]);
    let rep = launch(&m, &mem, "q8_0_gemv", cfg, &args.collect::<Vec<_>>()).unwrap();
    let y: Vec<f32> = words(&mem.read(py).unwrap()).into_iter().map(f32::from_bits).collect();
    // The kernel's exact order: lane l walks windows; in each, groups i = 0..3 of positions
    // 128*i + 4*l .. +3 (a mul and three fmas, then acc = fma(d, s, acc)); positions past the
    // row contribute nothing; then a butterfly over lanes 16, 8, 4, 2, 1.
    for j in 0..batch {
        for r in 0..rows {
            let mut lane_sum = [0f32; 32];
            for (lane, acc) in lane_sum.iter_mut().enumerate() {
                for w in 0..padded / 16 {
                    for i in 0..4 {
                        let first = 512 * w + 128 * i + 4 * lane;
                        if first >= cols {
                            continue;
                        }
                        let mut s = 0f32;
                        for k in 0..4 {
                            let q = f32::from(codes[r * cols + first + k]);
                            let xv = x[j * cols + first + k];
                            s = if k == 0 { q * xv } else { q.mul_add(xv, s) };
                        }
                        *acc = scales[r * nb + first / 32].to_f32().mul_add(s, *acc);
                    }
                }
            }
            for off in [16, 8, 4, 2, 1] {
                let prev = lane_sum;
                for l in 0..32 {
                    lane_sum[l] = prev[l] + prev[l ^ off];
                }
            }
            assert_eq!(y[j * rows + r].to_bits(), lane_sum[0].to_bits(), "y[{j}][{r}]");
        }
    }
    let c = &rep.counters;
    assert_eq!(c.blocks, rows.div_ceil(4) as u64);
    // Every lane runs the same windows (ragged positions are predicated, not branched), so only
    // `@%p8 bra NEXT_COLUMN` (lane 0 stores) splits a warp: once per row and column.
    assert_eq!(c.divergent_branches, (rows * batch) as u64);
    assert!(c.warp_insts[Class::WarpCollective as usize] == (rows * batch * 5) as u64);
    assert_eq!(c.global_by_pc.iter().map(|s| s.requests).sum::<u64>(), c.global.requests);
}

/// Runs the cuda backend's cache flush over `buf` on a grid of `blocks` x 64 threads; the sink
/// after it, starting from a poison value.
fn cache_flush_sink(buf: &[u32], blocks: u32) -> u32 {
    let m = Module::load("cache_flush.ptx", CACHE_FLUSH).unwrap();
    let mut mem = Memory::new(&m);
    let bytes: Vec<u8> = buf.iter().flat_map(|w| w.to_le_bytes()).collect();
    let pb = mem.alloc(&bytes);
    let sink = mem.alloc(&0xA5A5_A5A5u32.to_le_bytes());
    let args = [Arg::U64(pb), Arg::U32((buf.len() / 4) as u32), Arg::U64(sink)];
    launch(&m, &mem, "cache_flush", LaunchConfig::new([blocks, 1, 1], [64, 1, 1]), &args).unwrap();
    words(&mem.read(sink).unwrap())[0]
}

#[test]
fn cache_flush_reads_every_word_and_stores_nothing_for_zeros() {
    // 2563 16-byte words over 3 x 64 threads: each thread takes 13 or 14 words, the last ragged.
    let mut g = Lcg(11);
    let buf: Vec<u32> = (0..4 * 2563).map(|_| g.next()).collect();
    let all = buf.iter().fold(0, |a, w| a ^ w);
    assert_eq!(cache_flush_sink(&buf, 3), 0xA5A5_A5A5 ^ all, "the fold missed words");
    // One grid thread per word and more threads than words give the same fold.
    assert_eq!(cache_flush_sink(&buf[..4 * 64], 1), 0xA5A5_A5A5 ^ buf[..4 * 64].iter().fold(0, |a, w| a ^ w));
    assert_eq!(cache_flush_sink(&buf[..4 * 100], 3), 0xA5A5_A5A5 ^ buf[..4 * 100].iter().fold(0, |a, w| a ^ w));
    // The backend's buffer holds zeros: nothing is stored.
    assert_eq!(cache_flush_sink(&vec![0; 4 * 2563], 3), 0xA5A5_A5A5);
}

const COLLECTIVES: &str = r#"
.version 8.0
.target sm_80
.address_size 64
// Lanes 0..15 shuffle down by 3 within their half (clamp 15); lanes 16..31 take a ballot of
// odd lanes among themselves, then everyone votes.
.visible .entry halves(.param .u64 p_out)
{
    .reg .pred %p<4>;
    .reg .b32 %r<12>;
    .reg .b64 %rd<4>;
    ld.param.u64 %rd1, [p_out];
    mov.u32 %r1, %laneid;
    mul.wide.u32 %rd2, %r1, 8;
    add.s64 %rd3, %rd1, %rd2;
    setp.ge.u32 %p1, %r1, 16;
    @%p1 bra HIGH;
    mul.lo.u32 %r2, %r1, 10;
    shfl.sync.down.b32 %r3|%p2, %r2, 3, 15, 0x0000ffff;
    selp.u32 %r4, 1, 0, %p2;
    bra.uni DONE;
HIGH:
    and.b32 %r5, %r1, 1;
    setp.eq.u32 %p3, %r5, 1;
    vote.sync.ballot.b32 %r3, %p3, 0xffff0000;
    mov.u32 %r4, 7;
DONE:
    activemask.b32 %r6;
    vote.sync.all.pred %p2, %p1, 0xffffffff;
    selp.u32 %r7, 1, 0, %p2;
    add.u32 %r4, %r4, %r7;
    st.global.v2.u32 [%rd3], {%r3, %r4};
    st.global.u32 [%rd1+256], %r6;
    ret;
}
"#;

#[test]
fn shuffles_and_votes_with_partial_masks_give_the_isa_answers() {
    let m = Module::load("collectives.ptx", COLLECTIVES).unwrap();
    let mut mem = Memory::new(&m);
    let out = mem.alloc(&[0u8; 260]);
    let rep = launch(&m, &mem, "halves", LaunchConfig::new([1, 1, 1], [32, 1, 1]), &[Arg::U64(out)]).unwrap();
    let w = words(&mem.read(out).unwrap());
    for lane in 0..16u32 {
        let (val, valid) = (w[2 * lane as usize], w[2 * lane as usize + 1]);
        if lane + 3 <= 15 {
            assert_eq!((val, valid), (10 * (lane + 3), 1), "lane {lane}");
        } else {
            assert_eq!((val, valid), (10 * lane, 0), "lane {lane} keeps its own value past the clamp");
        }
    }
    for lane in 16..32usize {
        assert_eq!((w[2 * lane], w[2 * lane + 1]), (0xaaaa_0000, 7), "lane {lane}");
    }
    assert_eq!(w[64], u32::MAX, "the warp reconverged before activemask");
    assert_eq!(rep.counters.divergent_branches, 1);
}

const CALLS_ATOMS_BARRIERS: &str = r#"
.version 8.0
.target sm_80
.address_size 64
.func (.param .b32 ret) twice_plus(.param .b32 a, .param .b32 b)
{
    .reg .b32 %t<4>;
    ld.param.b32 %t1, [a];
    ld.param.b32 %t2, [b];
    mad.lo.s32 %t3, %t1, 2, %t2;
    st.param.b32 [ret], %t3;
    ret;
}
// Every thread computes 2*tid + 1 through a call, stores it to shared memory, syncs, reads its
// neighbour's value and atomically adds it to out[0]; out[1] counts threads with atom.inc.
.visible .entry k(.param .u64 p_out)
{
    .shared .align 4 .b32 tile[64];
    .reg .b32 %r<12>;
    .reg .b64 %rd<4>;
    ld.param.u64 %rd1, [p_out];
    mov.u32 %r1, %tid.x;
    {
        .param .b32 pa;
        .param .b32 pb;
        .param .b32 pr;
        st.param.b32 [pa], %r1;
        st.param.b32 [pb], 1;
        call.uni (pr), twice_plus, (pa, pb);
        ld.param.b32 %r2, [pr];
    }
    shl.b32 %r3, %r1, 2;
    mov.u32 %r4, tile;
    add.u32 %r5, %r4, %r3;
    st.shared.u32 [%r5], %r2;
    bar.sync 0;
    add.u32 %r6, %r1, 1;
    and.b32 %r6, %r6, 63;
    shl.b32 %r7, %r6, 2;
    add.u32 %r8, %r4, %r7;
    ld.shared.u32 %r9, [%r8];
    atom.global.add.u32 %r10, [%rd1], %r9;
    atom.global.inc.u32 %r11, [%rd1+4], 1000;
    ret;
}
"#;

#[test]
fn calls_pass_parameters_barriers_publish_shared_memory_and_atomics_sum_across_blocks() {
    let m = Module::load("calls.ptx", CALLS_ATOMS_BARRIERS).unwrap();
    let mut mem = Memory::new(&m);
    let out = mem.alloc(&[0u8; 8]);
    let rep = launch(&m, &mem, "k", LaunchConfig::new([3, 1, 1], [64, 1, 1]), &[Arg::U64(out)]).unwrap();
    let w = words(&mem.read(out).unwrap());
    // Each block sums 2t+1 over t in 0..64 = 64^2 = 4096.
    assert_eq!(w, vec![3 * 4096, 3 * 64]);
    assert_eq!(rep.counters.warp_insts[Class::Barrier as usize], 3 * 2);
    assert_eq!(rep.counters.bank_conflicts, 0);
}

const MMA_S8: &str = r#"
.version 8.0
.target sm_80
.address_size 64
// D = A*B + C with A = all 1, B = all 2 (as s8), C = lane: every D element is 64 + lane.
.visible .entry mma(.param .u64 p_out)
{
    .reg .b32 %r<16>;
    .reg .b64 %rd<4>;
    ld.param.u64 %rd1, [p_out];
    mov.u32 %r1, 0x01010101;
    mov.u32 %r2, 0x02020202;
    mov.u32 %r3, %laneid;
    mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%r4, %r5, %r6, %r7}, {%r1, %r1, %r1, %r1}, {%r2, %r2}, {%r3, %r3, %r3, %r3};
    mul.wide.u32 %rd2, %r3, 16;
    add.s64 %rd3, %rd1, %rd2;
    st.global.v4.u32 [%rd3], {%r4, %r5, %r6, %r7};
    ret;
}
"#;

#[test]
fn mma_sync_decodes_and_runs_as_a_warp_collective() {
    let m = Module::load("mma.ptx", MMA_S8).unwrap();
    let mut mem = Memory::new(&m);
    let out = mem.alloc(&[0u8; 512]);
    let rep = launch(&m, &mem, "mma", LaunchConfig::new([1, 1, 1], [32, 1, 1]), &[Arg::U64(out)]).unwrap();
    let w = words(&mem.read(out).unwrap());
    for lane in 0..32u32 {
        assert_eq!(&w[4 * lane as usize..4 * lane as usize + 4], &[64 + lane; 4], "lane {lane}");
    }
    assert_eq!(rep.counters.warp_insts[Class::Mma as usize], 1);
    // A partial block cannot run a full-warp mma: an error, not a wrong answer.
    let e = launch(&m, &mem, "mma", LaunchConfig::new([1, 1, 1], [16, 1, 1]), &[Arg::U64(out)]).unwrap_err();
    assert!(e.to_string().contains("mma.sync"), "{e}");
}
