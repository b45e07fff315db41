use super::*;
use crate::seed::rng_for;
use rand::Rng;
use rand::rngs::StdRng;

const FORMATS: [u8; 3] = [Q4_0, Q4_1, Q8_0];

/// The vector paths this CPU can run for weight format `f`.
fn simd_paths(f: u8) -> Vec<Path> {
    #[allow(unused_mut)]
    let mut paths = Vec::new();
    #[cfg(target_arch = "x86_64")]
    if avx2::available() {
        paths.push(Path::Avx2);
        if avx2::vnni_available() {
            paths.push(Path::Avx2Vnni);
        }
        if (f == Q4_0 || f == Q8_0) && avx512::available() {
            paths.push(Path::Avx512);
        }
    }
    println!("vector paths compared: {paths:?}");
    paths
}

fn name(f: u8) -> &'static str {
    ["q4_0", "q4_1", "q8_0"][usize::from(f)]
}

fn gaussian(rng: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let u1: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
            let u2: f64 = rng.random::<f64>();
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
        })
        .collect()
}

/// Random weights of format `f` (rows with scales over two decades) and their dequantization.
fn weights(f: u8, rng: &mut StdRng, rows: usize, cols: usize) -> (Vec<u8>, Vec<f32>) {
    let mut wf = Vec::with_capacity(rows * cols);
    for _ in 0..rows {
        let s = 10f32.powf(rng.random_range(-1.0..1.0));
        wf.extend((0..cols).map(|_| s * rng.random_range(-1.0f32..1.0)));
    }
    match f {
        Q4_0 => {
            let w = q4_0::quantize(&wf, cols);
            let deq = q4_0::dequantize(&w);
            (w, deq)
        }
        Q4_1 => {
            let w = q4_1::quantize(&wf, cols);
            let deq = q4_1::dequantize(&w);
            (w, deq)
        }
        _ => {
            let w = q8_0::quantize(&wf, cols);
            let deq = q8_0::dequantize(&w);
            (w, deq)
        }
    }
}

fn run(f: u8, w: &[u8], xq: &Q8Activations, rows: usize, cols: usize, path: Path) -> Vec<f32> {
    let mut y = vec![f32::NAN; rows];
    match f {
        Q4_0 => gemv::<Q4_0>(w, xq, &mut y, rows, cols, path),
        Q4_1 => gemv::<Q4_1>(w, xq, &mut y, rows, cols, path),
        _ => gemv::<Q8_0>(w, xq, &mut y, rows, cols, path),
    }
    y
}

fn exact(w: &[f32], x: &[f32], rows: usize, cols: usize) -> Vec<f64> {
    (0..rows)
        .map(|r| w[r * cols..(r + 1) * cols].iter().zip(x).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum())
        .collect()
}

fn rel_l2(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let err: f64 = got.iter().zip(want).map(|(&g, &w)| (f64::from(g) - w).powi(2)).sum();
    let norm: f64 = want.iter().map(|w| w * w).sum();
    (err / norm).sqrt()
}

const SHAPES: [(usize, usize); 9] =
    [(1, 32), (7, 32), (33, 32), (1, 96), (7, 96), (33, 96), (1, 4160), (7, 4160), (33, 4160)];

#[test]
fn quantize_scales_rounds_and_sums() {
    let mut x = vec![0.0f32; 64];
    x[0] = -127.0;
    x[1] = 2.4;
    x[2] = -2.5; // rounds away from zero
    x[3] = 126.6;
    let xq = quantize(&x);
    assert_eq!(xq.d, vec![1.0, 0.0]);
    assert_eq!(&xq.q[..4], &[-127, 2, -3, 127]);
    assert!(xq.q[32..].iter().all(|&q| q == 0));
    assert_eq!(xq.sums, vec![-1, 0]);
    // Every value within half a step.
    let x = gaussian(&mut rng_for(11, 0), 4160);
    let xq = quantize(&x);
    for ((xb, db), qb) in x.chunks(32).zip(&xq.d).zip(xq.dequantize().chunks(32)) {
        assert!(xb.iter().zip(qb).all(|(a, b)| (a - b).abs() <= db * 0.5 * (1.0 + 1e-5)));
    }
    for (qb, &s) in xq.q.chunks(32).zip(&xq.sums) {
        assert_eq!(qb.iter().map(|&q| i32::from(q)).sum::<i32>(), s);
    }
}

#[test]
fn simd_and_portable_paths_agree() {
    #[cfg(target_arch = "x86_64")]
    {
        if !avx2::available() {
            eprintln!("no AVX2/FMA/F16C: nothing to compare");
            return;
        }
        for f in FORMATS {
            for (k, &(rows, cols)) in SHAPES.iter().enumerate() {
                let mut rng = rng_for(21, 100 * u64::from(f) + k as u64);
                let (w, _) = weights(f, &mut rng, rows, cols);
                let x: Vec<f32> = (0..cols).map(|_| rng.random_range(-1.0f32..1.0)).collect();
                let xq = quantize(&x);
                let portable = run(f, &w, &xq, rows, cols, Path::Portable);
                for path in simd_paths(f) {
                    let simd = run(f, &w, &xq, rows, cols, path);
                    let want: Vec<f64> = portable.iter().map(|&v| f64::from(v)).collect();
                    let e = rel_l2(&simd, &want);
                    assert!(e < 1e-6, "{path:?} {} {rows}x{cols}: rel L2 {e:e}", name(f));
                    // Same integers, same fused multiply-adds, same order: the same bits.
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&simd), bits(&portable), "{path:?} {} {rows}x{cols}", name(f));
                }
            }
        }
    }
}

#[test]
fn integer_dots_are_exact_against_the_quantized_activations() {
    for f in FORMATS {
        let mut paths = vec![Path::Portable];
        paths.extend(simd_paths(f));
        for (k, &(rows, cols)) in SHAPES.iter().enumerate() {
            let mut rng = rng_for(22, 100 * u64::from(f) + k as u64);
            let (mut w, mut wd) = weights(f, &mut rng, rows, cols);
            if f == Q8_0 {
                // Code −128 (never produced by the quantizer, legal in the format) stays exact.
                w[2] = 0x80;
                wd = q8_0::dequantize(&w);
            }
            let x = gaussian(&mut rng, cols);
            let xq = quantize(&x);
            let want = exact(&wd, &xq.dequantize(), rows, cols);
            for &p in &paths {
                let e = rel_l2(&run(f, &w, &xq, rows, cols, p), &want);
                assert!(e < 1e-5, "{} {rows}x{cols} {p:?}: rel L2 {e:e}", name(f));
            }
        }
    }
}

#[test]
fn error_against_f32_activations_is_small() {
    for f in FORMATS {
        let (rows, cols) = (64, 4096);
        let mut rng = rng_for(23, u64::from(f));
        let (w, wd) = weights(f, &mut rng, rows, cols);
        let x = gaussian(&mut rng, cols);
        let mut y = vec![0.0; rows];
        match f {
            Q4_0 => q4_0_gemv(&w, &quantize(&x), &mut y, rows, cols),
            Q4_1 => q4_1_gemv(&w, &quantize(&x), &mut y, rows, cols),
            _ => q8_0_gemv(&w, &quantize(&x), &mut y, rows, cols),
        }
        let e = rel_l2(&y, &exact(&wd, &x, rows, cols));
        assert!(e < 1e-2, "{}: rel L2 {e:e} against f32 activations", name(f));
    }
}

#[test]
fn non_finite_activations_make_every_output_nan() {
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        for f in FORMATS {
            let mut paths = vec![Path::Portable];
            paths.extend(simd_paths(f));
            let (rows, cols) = (7, 96);
            let mut rng = rng_for(24, u64::from(f));
            let (mut w, _) = weights(f, &mut rng, rows, cols);
            // A row of zero weights (scale 0, min 0) must not hide the NaN either.
            w[..block_bytes(f) * cols / BLOCK].fill(0);
            let mut x = gaussian(&mut rng, cols);
            x[40] = bad;
            let xq = quantize(&x);
            assert!(xq.d[1].is_nan() && xq.d[0].is_finite() && xq.d[2].is_finite());
            assert!(xq.q[32..64].iter().all(|&q| q == 0) && xq.sums[1] == 0);
            for &p in &paths {
                let y = run(f, &w, &xq, rows, cols, p);
                assert!(y.iter().all(|v| v.is_nan()), "{} {bad} {p:?}: {y:?}", name(f));
            }
        }
    }
}

/// Median seconds of `n` runs of `f`.
fn median_secs(n: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..n)
        .map(|_| {
            let s = std::time::Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[n / 2]
}

/// Timing against the f32-activation kernels; run with
/// `cargo test --release -p dfma-reference q8_activations -- --ignored --nocapture`.
#[test]
#[ignore = "timing, not a check; run in release"]
fn speed_against_f32_activations() {
    for (rows, cols) in [(4096, 4096), (4096, 14336)] {
        let mut rng = rng_for(25, cols as u64);
        let wf: Vec<f32> = (0..rows * cols).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        let x = gaussian(&mut rng, cols);
        let mut y = vec![0.0f32; rows];
        for f in FORMATS {
            let w = match f {
                Q4_0 => q4_0::quantize(&wf, cols),
                Q4_1 => q4_1::quantize(&wf, cols),
                _ => q8_0::quantize(&wf, cols),
            };
            let old = median_secs(20, || match f {
                Q4_0 => crate::cpu::q4_0_gemv::q4_0_gemv(&w, &x, &mut y, rows, cols, 1),
                Q4_1 => crate::cpu::q4_1_gemv::q4_1_gemv(&w, &x, &mut y, rows, cols, 1),
                _ => crate::cpu::q8_0_gemv::q8_0_gemv(&w, &x, &mut y, rows, cols, 1),
            });
            let new = median_secs(20, || {
                let xq = quantize(&x);
                match f {
                    Q4_0 => q4_0_gemv(&w, &xq, &mut y, rows, cols),
                    Q4_1 => q4_1_gemv(&w, &xq, &mut y, rows, cols),
                    _ => q8_0_gemv(&w, &xq, &mut y, rows, cols),
                }
            });
            let xq = quantize(&x);
            let kernel_only = median_secs(20, || match f {
                Q4_0 => q4_0_gemv(&w, &xq, &mut y, rows, cols),
                Q4_1 => q4_1_gemv(&w, &xq, &mut y, rows, cols),
                _ => q8_0_gemv(&w, &xq, &mut y, rows, cols),
            });
            let quant_only = median_secs(20, || {
                std::hint::black_box(quantize(std::hint::black_box(&x)));
            });
            let gbs = |t: f64| w.len() as f64 / t / 1e9;
            println!(
                "{} {rows}x{cols} ({:.1} MB): f32-x {:.3} ms {:.1} GB/s | quantize+q8-x {:.3} ms {:.1} GB/s \
                 (kernel {:.3} ms, quantize {:.1} us) | speedup {:.2}x",
                name(f),
                w.len() as f64 / 1e6,
                old * 1e3,
                gbs(old),
                new * 1e3,
                gbs(new),
                kernel_only * 1e3,
                quant_only * 1e6,
                old / new
            );
        }
    }
}

#[test]
fn gemm_gives_each_token_the_bits_of_its_gemv() {
    for f in FORMATS {
        // 37 rows: two bands of 16 and a ragged one; 5 blocks: a lone last block; 7 tokens: a
        // step of four and a ragged three.
        let (rows, cols, m) = (37, 160, 7);
        let mut rng = rng_for(26, u64::from(f));
        let (w, _) = weights(f, &mut rng, rows, cols);
        let xs: Vec<Q8Activations> = (0..m).map(|_| quantize(&gaussian(&mut rng, cols))).collect();
        let mut y = vec![f32::NAN; m * rows];
        match f {
            Q4_0 => q4_0_gemm(&w, &xs, &mut y, rows, cols),
            Q4_1 => q4_1_gemm(&w, &xs, &mut y, rows, cols),
            _ => q8_0_gemm(&w, &xs, &mut y, rows, cols),
        }
        for (t, xq) in xs.iter().enumerate() {
            let one = run(f, &w, xq, rows, cols, Path::best(f));
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&y[t * rows..(t + 1) * rows]), bits(&one), "{} token {t}", name(f));
        }
    }
}

#[test]
fn q8_1_blocks_give_their_scales_codes_and_exact_sums() {
    let x = gaussian(&mut rng_for(27, 0), 96);
    let bytes = crate::quant::q8_1::quantize(&x, 96);
    let xq = Q8Activations::from_q8_1(&bytes);
    assert_eq!(xq.len(), 96);
    for (b, blk) in bytes.chunks_exact(36).enumerate() {
        assert_eq!(xq.d[b], f16_at(blk));
        let codes: Vec<i8> = blk[4..].iter().map(|&c| c as i8).collect();
        assert_eq!(&xq.q[b * 32..(b + 1) * 32], codes.as_slice());
        assert_eq!(xq.sums[b], codes.iter().map(|&c| i32::from(c)).sum::<i32>());
    }
    // The values it stands for are Q8_1's own.
    assert_eq!(xq.dequantize(), crate::quant::q8_1::dequantize(&bytes));
}

/// The several-tokens kernel, with and without VNNI where the CPU has it, gives each token the
/// bits of its portable GEMV: ragged rows, a lone last block, every remainder of tokens past a
/// multiple of four.
#[cfg(target_arch = "x86_64")]
#[test]
fn tokens_kernel_gives_each_token_the_bits_of_its_portable_gemv() {
    if !avx2::available() {
        println!("not run: the CPU lacks AVX2, FMA or F16C");
        return;
    }
    let seed = crate::seed::seed_from_env().unwrap();
    println!("seed {seed} (DFMA_SEED reproduces)");
    let vnnis: Vec<bool> = [false, true].into_iter().filter(|&v| !v || avx2::vnni_available()).collect();
    // 5, 6 and 7 tokens: a step of four and each remainder.
    for (f, m) in FORMATS.into_iter().flat_map(|f| [5, 6, 7].map(|m| (f, m))) {
        let (rows, cols) = (13, 224);
        let mut rng = rng_for(seed, 40 + u64::from(f) + 8 * m as u64);
        let (w, _) = weights(f, &mut rng, rows, cols);
        let xs: Vec<Q8Activations> = (0..m).map(|_| quantize(&gaussian(&mut rng, cols))).collect();
        let row_bytes = w.len() / rows;
        for &vnni in &vnnis {
            let mut ys = vec![f32::NAN; m * rows];
            let mut outs: Vec<&mut [f32]> = ys.chunks_exact_mut(rows).collect();
            match (f, vnni) {
                (Q4_0, false) => avx2_tokens::band::<Q4_0, false>(&w, &xs, &mut outs, row_bytes),
                (Q4_0, true) => avx2_tokens::band::<Q4_0, true>(&w, &xs, &mut outs, row_bytes),
                (Q4_1, false) => avx2_tokens::band::<Q4_1, false>(&w, &xs, &mut outs, row_bytes),
                (Q4_1, true) => avx2_tokens::band::<Q4_1, true>(&w, &xs, &mut outs, row_bytes),
                (_, false) => avx2_tokens::band::<Q8_0, false>(&w, &xs, &mut outs, row_bytes),
                (_, true) => avx2_tokens::band::<Q8_0, true>(&w, &xs, &mut outs, row_bytes),
            }
            for (t, xq) in xs.iter().enumerate() {
                let one = run(f, &w, xq, rows, cols, Path::Portable);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&ys[t * rows..(t + 1) * rows]), bits(&one), "{} vnni {vnni} token {t}", name(f));
            }
        }
    }
}
