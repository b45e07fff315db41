//! candle's quantized matmul (crate `candle-core`) as a peer of dfma's cpu GEMVs.
//!
//! A bench-only dependency behind the `candle-peer` feature (`cargo run --release --features
//! candle-peer -- bench --peers …`), so a plain build neither compiles nor links it. Its matrix
//! is quantized by candle itself (GGML's Q4_0 / Q8_0 blocks, the format dfma reads) from seeded
//! weights, and `QMatMul::forward` multiplies it by one seeded activation row, on candle's own
//! worker threads — which it sizes from the machine, as rayon does for dfma. Like llama.cpp's
//! tool it repeats one product back to back, so it is compared with dfma's `hot` median.

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
/// `q8_0`) by one activation row, over at least `min_samples` runs and `min_seconds`. The error
/// is a whole "not run: <reason>" sentence.
#[cfg(feature = "candle-peer")]
pub fn gemv_median_s(
    ty: &str,
    rows: usize,
    cols: usize,
    seed: u64,
    min_samples: usize,
    min_seconds: f64,
) -> Result<f64, String> {
    use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
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
    let mm = QMatMul::from_qtensor(QTensor::quantize(&w, dtype).map_err(fail)?).map_err(fail)?;
    if !matches!(mm, QMatMul::QTensor(_)) {
        return Err("not run: candle dequantized the matrix instead of multiplying it quantized".into());
    }
    // One warm-up product, then timed ones.
    mm.forward(&x).map_err(fail)?;
    let mut samples = Vec::new();
    let start = std::time::Instant::now();
    while samples.len() < min_samples || start.elapsed().as_secs_f64() < min_seconds {
        let t = std::time::Instant::now();
        let y = mm.forward(&x).map_err(fail)?;
        samples.push(t.elapsed().as_secs_f64());
        std::hint::black_box(y);
    }
    samples.sort_by(f64::total_cmp);
    Ok(samples[samples.len() / 2])
}

/// Without the feature: why the peer did not run.
#[cfg(not(feature = "candle-peer"))]
pub fn gemv_median_s(_: &str, _: usize, _: usize, _: u64, _: usize, _: f64) -> Result<f64, String> {
    Err("not run: dfma was built without the `candle-peer` feature (cargo run --release --features candle-peer -- bench --peers …)".into())
}
