//! The fused adapter kernels against their parts: the base product alone plus the adapters'
//! products in f64.

use super::fused::{Adapter, lora_fused, lora_fused_int8};
use crate::cpu::q8_activations;
use crate::ops::lora::fused::BaseFormat;
use crate::quant::{q4_0, q4_1, q8_0};
use crate::seed::{rng_for, seed_from_env};
use rand::Rng;
use rand::rngs::StdRng;

fn uniform(rng: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

/// s·B·(A·x) in f64 for one token.
fn adapter_f64(ad: &Adapter<'_>, x: &[f32], n: usize, k: usize) -> Vec<f64> {
    let t: Vec<f64> =
        (0..ad.rank).map(|i| (0..k).map(|c| f64::from(ad.a[i * k + c]) * f64::from(x[c])).sum()).collect();
    (0..n)
        .map(|o| f64::from(ad.s) * (0..ad.rank).map(|i| f64::from(ad.b[o * ad.rank + i]) * t[i]).sum::<f64>())
        .collect()
}

/// `lora_fused_int8` = the 8-bit base GEMV's own output (same bits) + both adapters on the exact
/// x, for every quantized format, ragged row counts (bands not a multiple of 8 rows), ranks on
/// and off the eight-row SIMD path, one adapter absent; y starts as NaN.
#[test]
fn int8_fused_is_the_int8_gemv_plus_the_adapters() {
    let seed = seed_from_env().expect("DFMA_SEED");
    println!("seed {seed} (DFMA_SEED reproduces)");
    let mut rng = rng_for(seed, 61);
    for format in [BaseFormat::Q4_0, BaseFormat::Q4_1, BaseFormat::Q8_0] {
        for (n, k, rank_p, rank_c) in [(37, 64, 16, 0), (100, 96, 4, 24), (16, 128, 8, 16)] {
            let w = uniform(&mut rng, n * k);
            let wq = match format {
                BaseFormat::Q4_0 => q4_0::quantize(&w, k),
                BaseFormat::Q4_1 => q4_1::quantize(&w, k),
                _ => q8_0::quantize(&w, k),
            };
            let x = uniform(&mut rng, k);
            let xq = q8_activations::quantize(&x);
            let factors: Vec<(Vec<f32>, Vec<f32>)> =
                [rank_p, rank_c].iter().map(|&r| (uniform(&mut rng, r * k), uniform(&mut rng, n * r))).collect();
            let adapters = [0, 1].map(|i| Adapter {
                a: &factors[i].0,
                b: &factors[i].1,
                rank: [rank_p, rank_c][i],
                s: [0.5, -0.25][i],
            });
            let mut base = vec![f32::NAN; n];
            match format {
                BaseFormat::Q4_0 => q8_activations::q4_0_gemv(&wq, &xq, &mut base, n, k),
                BaseFormat::Q4_1 => q8_activations::q4_1_gemv(&wq, &xq, &mut base, n, k),
                _ => q8_activations::q8_0_gemv(&wq, &xq, &mut base, n, k),
            }
            let mut got = vec![f32::NAN; n];
            lora_fused_int8(format, &wq, &x, &xq, &mut got, n, k, adapters);
            let extra: Vec<Vec<f64>> = adapters.iter().map(|ad| adapter_f64(ad, &x, n, k)).collect();
            for o in 0..n {
                let want = f64::from(base[o]) + extra[0][o] + extra[1][o];
                let err = (f64::from(got[o]) - want).abs();
                assert!(err <= 1e-5 * (1.0 + want.abs()), "{format:?} {n}x{k} row {o}: {} vs {want}", got[o]);
            }
            // The f32 fused kernel on the same operands differs only by the activations'
            // rounding: every dequantized weight here has |w| <= 1 (to its f16 scale's
            // rounding), so a row moves by at most Σ|x - x̂|, plus f32 rounding.
            let mut exact = vec![f32::NAN; n];
            lora_fused(format, &wq, &x, &mut exact, n, k, adapters);
            let rounding: f64 = x.iter().zip(xq.dequantize()).map(|(a, b)| f64::from(a - b).abs()).sum();
            for (o, (e, g)) in exact.iter().zip(&got).enumerate() {
                let bound = 1.001 * rounding + 1e-4 * (1.0 + f64::from(e.abs()));
                let diff = f64::from(e - g).abs();
                assert!(diff <= bound, "{format:?} {n}x{k} row {o}: f32 {e} vs int8 {g}, beyond {bound}");
            }
        }
    }
}
