//! candle's quantized matmul (crate `candle-core`) as a peer of dfma's cpu GEMVs.
//!
//! A bench-only dependency behind the `candle-peer` feature (`cargo run --release --features
//! candle-peer -- bench --peers …`), so a plain build neither compiles nor links it. Its matrix
//! is quantized by candle itself (GGML's Q4_0 / Q8_0 blocks, the format dfma reads) from seeded
//! weights, and `QMatMul::forward` multiplies it by one seeded activation row, on candle's own
//! worker threads — which it sizes from the machine, as rayon does for dfma. Measured twice when
//! the run has both kinds of dfma case: repeating one product back to back (like llama.cpp's
//! tool; compared with dfma's `hot` median) and rotating over copies of the matrix that exceed the
//! last-level cache (compared with dfma's `streamed` median: the bars' out-of-cache figures).

/// The peer as the report names it, with the threads both sides ran on.
#[cfg(feature = "candle-peer")]
pub fn name(threads: usize) -> String {
    format!("candle-core 0.11 (QMatMul, cpu, {threads} threads)")
}

/// The peer as the report names it, when this dfma was built without it.
#[cfg(not(feature = "candle-peer"))]
pub fn name(_threads: usize) -> String {
    "candle-core (not built into this dfma)".into()
}

/// Median seconds of one `QMatMul::forward` of a `rows` × `cols` matrix of `ty` (`q4_0` or
/// `q8_0`) by one activation row, over at least `min_samples` samples and `min_seconds`.
///
/// `copies` = 1 repeats one product back to back (warm caches, as llama.cpp's tool does). More
/// copies is dfma's streamed mode: candle quantizes the matrix once, each copy holds the same
/// blocks in memory of its own, and each product runs on the next copy, so none finds its
/// weights in a cache when the copies together exceed it; a sample then times whole rounds over
/// the copies, at least 5 ms. The error is a whole "not run: <reason>" sentence.
#[cfg(feature = "candle-peer")]
pub fn gemv_median_s(
    ty: &str,
    rows: usize,
    cols: usize,
    seed: u64,
    copies: usize,
    min_samples: usize,
    min_seconds: f64,
) -> Result<f64, String> {
    use std::borrow::Cow;

    use candle_core::quantized::{GgmlDType, QMatMul, QStorage, QTensor};
    use candle_core::{Device, Module, Tensor};
    use rand::{Rng, SeedableRng};

    let fail = |e: candle_core::Error| format!("not run: candle failed on {ty} {rows}x{cols}: {e}");
    let dtype = match ty {
        "q4_0" => GgmlDType::Q4_0,
        "q8_0" => GgmlDType::Q8_0,
        other => return Err(format!("not run: candle is not compared on type {other}")),
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut draw = |n: usize| (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect::<Vec<f32>>();
    let w = Tensor::from_vec(draw(rows * cols), (rows, cols), &Device::Cpu).map_err(fail)?;
    let x = Tensor::from_vec(draw(cols), (1, cols), &Device::Cpu).map_err(fail)?;
    let quantized = QTensor::quantize(&w, dtype).map_err(fail)?;
    drop(w);
    let blocks = quantized.data().map_err(fail)?.into_owned();
    let mut mms = vec![QMatMul::from_qtensor(quantized).map_err(fail)?];
    for _ in 1..copies.max(1) {
        let storage = QStorage::from_data(Cow::Borrowed(&blocks), &Device::Cpu, dtype).map_err(fail)?;
        mms.push(QMatMul::from_qtensor(QTensor::new(storage, (rows, cols)).map_err(fail)?).map_err(fail)?);
    }
    if mms.iter().any(|mm| !matches!(mm, QMatMul::QTensor(_))) {
        return Err("not run: candle dequantized the matrix instead of multiplying it quantized".into());
    }
    // A warm-up round (first touches, candle's own one-time work), then one that sizes a sample.
    let round = |mms: &[QMatMul]| -> Result<f64, String> {
        let t = std::time::Instant::now();
        for mm in mms {
            std::hint::black_box(mm.forward(&x).map_err(fail)?);
        }
        Ok(t.elapsed().as_secs_f64())
    };
    round(&mms)?;
    let round_s = round(&mms)?;
    let rounds = if mms.len() == 1 { 1 } else { (5e-3 / round_s.max(1e-9)).ceil().max(1.0) as usize };
    let mut samples = Vec::new();
    let start = std::time::Instant::now();
    while samples.len() < min_samples || start.elapsed().as_secs_f64() < min_seconds {
        let mut s = 0.0;
        for _ in 0..rounds {
            s += round(&mms)?;
        }
        samples.push(s / (rounds * mms.len()) as f64);
    }
    samples.sort_by(f64::total_cmp);
    Ok(samples[samples.len() / 2])
}

/// Without the feature: why the peer did not run.
#[cfg(not(feature = "candle-peer"))]
pub fn gemv_median_s(_: &str, _: usize, _: usize, _: u64, _: usize, _: usize, _: f64) -> Result<f64, String> {
    Err("not run: dfma was built without the `candle-peer` feature (cargo run --release --features candle-peer -- bench --peers …)".into())
}
