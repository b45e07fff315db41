//! `dfma bench --suite compression`: the signal-compression ops timed like every suite, plus
//! what timing alone cannot say — how much of the signal each method keeps for the bits it
//! sends, and how close to a plain copy of the signal each kernel runs.
//!
//! - **Quality**: NMSE = ‖ĝ − g‖²/‖g‖² against bits per coordinate for every method of
//!   [`dfma_reference::signals::codecs`], on three seeded test vectors of [`QUALITY_N`]
//!   coordinates: Gaussian, heavy-tailed (Student t, 3 degrees of freedom) and sparse (1 % of
//!   the coordinates Gaussian, the rest zero). Computed with the CPU kernels, whose outputs the
//!   test matrix ties to every backend's.
//! - **Throughput**: each compression case's rate as a fraction of copy bandwidth measured in
//!   the same run: (8·n bytes, what copying the n-coordinate signal moves) / median time,
//!   divided by the backend's measured copy (read + write) bandwidth. 1.0 means the op handles
//!   the signal as fast as memcpy moves it.
//! - **Quality bar**: srht-rotated 1-bit stochastic quantization must reach an NMSE at least as
//!   good as QSGD's (s = 1, no rotation) on the heavy-tailed vector; both are reported.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use dfma_reference::signals::codecs::{Codec, nmse};
use dfma_reference::signals::derive::key_of_seed;

use crate::report::{CaseReport, RooflineReport};

/// The ops `--suite compression` times (those the registry has).
pub const OPS: &[&str] = &[
    "dense_project",
    "dense_project_t",
    "dense_project_gaussian",
    "dense_project_gaussian_t",
    "srht",
    "srht_t",
    "count_sketch",
    "count_unsketch",
    "stochastic_quantize",
    "stochastic_dequantize",
    "topk",
];

/// Coordinates of the quality test vectors (4 MiB of f32: every method runs in seconds).
pub const QUALITY_N: usize = 1 << 20;

/// One method on one test vector.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QualityRow {
    /// `gaussian`, `student_t3` or `sparse_1pct`.
    pub vector: String,
    /// [`Codec::name`].
    pub method: String,
    /// Payload bits per coordinate.
    pub bits_per_coordinate: f64,
    /// ‖ĝ − g‖² / ‖g‖².
    pub nmse: f64,
}

/// One compression case's speed against a copy of its signal.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ThroughputRow {
    /// Op.
    pub op: String,
    /// Kernel (`op/variant`).
    pub kernel: String,
    /// Backend.
    pub backend: String,
    /// Cache mode.
    pub cache_mode: String,
    /// Dims as printed.
    pub dims: String,
    /// Median seconds.
    pub median_s: f64,
    /// Signal coordinates n.
    pub n: u64,
    /// (8·n / median) / measured copy bandwidth.
    pub fraction_of_copy: f64,
}

/// A promised NMSE comparison between two methods on one vector.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QualityBar {
    /// What is promised.
    pub name: String,
    /// NMSE of the method under test.
    pub case_nmse: f64,
    /// NMSE of the method it must match or beat.
    pub peer_nmse: f64,
    /// case ≤ peer.
    pub met: bool,
}

/// The compression section of a bench report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CompressionReport {
    /// Coordinates of the quality vectors.
    pub quality_n: u64,
    /// NMSE against bits per coordinate.
    pub quality: Vec<QualityRow>,
    /// Fraction of copy bandwidth per timed case.
    pub throughput: Vec<ThroughputRow>,
    /// Quality bars.
    pub quality_bars: Vec<QualityBar>,
}

/// A standard normal by Box–Muller (the test vectors only; not the specified transform).
fn normal(rng: &mut StdRng) -> f64 {
    let u: f64 = 1.0 - rng.random::<f64>();
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// The three test vectors, seeded.
pub fn test_vectors(seed: u64, n: usize) -> Vec<(&'static str, Vec<f32>)> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x00C0_DEC5);
    let gaussian = (0..n).map(|_| normal(&mut rng) as f32).collect();
    let student = (0..n)
        .map(|_| {
            let z = normal(&mut rng);
            let chi2: f64 = (0..3).map(|_| normal(&mut rng).powi(2)).sum();
            (z / (chi2 / 3.0).sqrt()) as f32
        })
        .collect();
    let mut sparse = vec![0.0f32; n];
    for _ in 0..n.div_ceil(100) {
        let i = rng.random_range(0..n);
        sparse[i] = normal(&mut rng) as f32;
    }
    vec![("gaussian", gaussian), ("student_t3", student), ("sparse_1pct", sparse)]
}

/// The methods of the quality table at n coordinates.
pub fn methods(n: usize) -> Vec<Codec> {
    let mut m = vec![Codec::DenseRademacher { k: n / 1024 }, Codec::DenseRademacher { k: n / 256 }];
    m.push(Codec::DenseGaussian { k: n / 1024 });
    m.extend([n / 256, n / 32, n / 8, n / 2].map(|k| Codec::Srht { k }));
    // 5 rows at 1 and 4 bits a coordinate; heavy hitters keep as many coordinates as topk at 1 bit.
    for buckets in [n / 160, n / 40] {
        m.push(Codec::CountSketch { rows: 5, buckets, heavy: None });
        m.push(Codec::CountSketch { rows: 5, buckets, heavy: Some(n / 64) });
    }
    m.extend([n / 512, n / 64, n / 16].map(|k| Codec::TopK { k }));
    for rotate in [false, true] {
        m.extend([1, 2, 4, 8].map(|bits| Codec::Quantize { bits, rotate }));
    }
    m.extend([1, 7].map(|levels| Codec::Qsgd { levels }));
    m
}

/// NMSE of every method on every test vector.
pub fn quality(seed: u64, n: usize) -> Vec<QualityRow> {
    let key = key_of_seed(seed);
    let mut rows = Vec::new();
    for (vector, g) in test_vectors(seed, n) {
        for codec in methods(n) {
            let estimate = codec.round_trip(key, &g);
            rows.push(QualityRow {
                vector: vector.into(),
                method: codec.name(),
                bits_per_coordinate: codec.bits_per_coordinate(n),
                nmse: nmse(&g, &estimate),
            });
        }
    }
    rows
}

/// The quality bars over a quality table.
pub fn quality_bars(rows: &[QualityRow]) -> Vec<QualityBar> {
    let find = |method: &str| rows.iter().find(|r| r.vector == "student_t3" && r.method == method).map(|r| r.nmse);
    let case = Codec::Quantize { bits: 1, rotate: true }.name();
    let peer = Codec::Qsgd { levels: 1 }.name();
    match (find(&case), find(&peer)) {
        (Some(c), Some(p)) => vec![QualityBar {
            name: format!("student_t3: {case} NMSE <= {peer} NMSE"),
            case_nmse: c,
            peer_nmse: p,
            met: c <= p,
        }],
        _ => vec![],
    }
}

/// The rate of each correct case of a compression op against its backend's copy bandwidth.
pub fn throughput(cases: &[CaseReport], rooflines: &[RooflineReport]) -> Vec<ThroughputRow> {
    cases
        .iter()
        .filter(|c| OPS.contains(&c.op.as_str()) && c.correct)
        .filter_map(|c| {
            let median_s = c.summary.as_ref()?.median_s;
            let roof = rooflines.iter().find(|r| r.backend == c.backend)?;
            let n: u64 = c.dims.split_whitespace().find_map(|d| d.strip_prefix("n=")?.parse().ok())?;
            Some(ThroughputRow {
                op: c.op.clone(),
                kernel: c.kernel.clone(),
                backend: c.backend.clone(),
                cache_mode: c.cache_mode.clone(),
                dims: c.dims.clone(),
                median_s,
                n,
                fraction_of_copy: 8.0 * n as f64 / median_s / roof.copy_bytes_per_s,
            })
        })
        .collect()
}

/// The printed tables.
pub fn lines(r: &CompressionReport) -> Vec<String> {
    let mut out = vec![format!("compression quality, n = {} (NMSE = |g^ - g|^2 / |g|^2)", r.quality_n)];
    out.push(format!("{:<12} {:<44} {:>10} {:>12}", "vector", "method", "bits/coord", "NMSE"));
    for q in &r.quality {
        out.push(format!("{:<12} {:<44} {:>10.4} {:>12.5}", q.vector, q.method, q.bits_per_coordinate, q.nmse));
    }
    out.push("compression throughput (fraction of copy bandwidth: 8n bytes / median / copy GB/s)".into());
    for t in &r.throughput {
        out.push(format!(
            "{:<44} {:<9} {:<5} {:<40} {:>12.3} ms  {:.3} of copy",
            format!("{}/{}", t.op, t.kernel),
            t.backend,
            t.cache_mode,
            t.dims,
            t.median_s * 1e3,
            t.fraction_of_copy
        ));
    }
    for b in &r.quality_bars {
        out.push(format!(
            "bar quality {} {}: {:.4} vs {:.4}",
            if b.met { "met" } else { "NOT met" },
            b.name,
            b.case_nmse,
            b.peer_nmse
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_vectors_have_their_shapes() {
        let v = test_vectors(1, 100_000);
        let moment = |g: &[f32], p: i32| g.iter().map(|&x| f64::from(x).powi(p)).sum::<f64>() / g.len() as f64;
        let (gauss, student, sparse) = (&v[0].1, &v[1].1, &v[2].1);
        assert!((moment(gauss, 2) - 1.0).abs() < 0.03, "gaussian variance {}", moment(gauss, 2));
        // Kurtosis: 3 for a Gaussian; a t3 has infinite kurtosis, so its sample kurtosis is large.
        assert!((moment(gauss, 4) / moment(gauss, 2).powi(2) - 3.0).abs() < 0.2);
        assert!(moment(student, 4) / moment(student, 2).powi(2) > 10.0);
        let nonzero = sparse.iter().filter(|&&x| x != 0.0).count();
        assert!((900..=1000).contains(&nonzero), "{nonzero} nonzeros");
    }

    #[test]
    fn a_compression_section_matches_the_report_schema() {
        let quality = quality(4, 1 << 10);
        let section = CompressionReport {
            quality_n: 1 << 10,
            quality_bars: quality_bars(&quality),
            quality,
            throughput: vec![ThroughputRow {
                op: "srht".into(),
                kernel: "rayon_fwht".into(),
                backend: "cpu".into(),
                cache_mode: "cold".into(),
                dims: "n=1024 k=16 n_pad=1024".into(),
                median_s: 1e-5,
                n: 1024,
                fraction_of_copy: 0.4,
            }],
        };
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../schema/report-v1.schema.json")).expect("schema parses");
        let validator = jsonschema::validator_for(&schema["properties"]["compression"]).expect("valid schema");
        let value = serde_json::to_value(&section).expect("serializes");
        let errors: Vec<String> = validator.iter_errors(&value).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}");
        // And the schema is strict: a misspelt field is refused.
        let mut bad = value.clone();
        bad["quality"][0]["nmsee"] = serde_json::json!(1.0);
        assert!(!validator.is_valid(&bad));
    }

    #[test]
    fn the_quality_table_covers_every_method_and_vector_without_nan() {
        let rows = quality(9, 1 << 12);
        assert_eq!(rows.len(), 3 * methods(1 << 12).len());
        assert!(rows.iter().all(|r| r.nmse.is_finite() && r.bits_per_coordinate > 0.0), "{rows:?}");
        assert_eq!(quality_bars(&rows).len(), 1);
    }
}
