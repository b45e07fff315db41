//! The adapters inside the base product: with one or two adapters acting on a projection (a
//! personal and the collective one) the cpu engine runs the `lora_fused` kernel of the matrix's
//! format, one pass over W with y written once; with more it applies them after the product.
//! Both must give the same logits — token by token and in the batched prefill — on tiny random
//! models in every quantized format the fused ops take. A third adapter with B = 0 adds exactly
//! nothing but forces the unfused path, so the two runs differ only in how they multiply.

use dfma_reference::seed::seed_from_env;
use dfma_runtime::model::adapter::{Adapter, Projection};
use dfma_runtime::model::tiny::TinyLlama;
use dfma_runtime::model::weights::WeightFormat;
use dfma_runtime::model::{ActingAdapter, Model};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn rel_l2(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum();
    let den: f64 = b.iter().map(|y| f64::from(*y).powi(2)).sum();
    (num / den).sqrt()
}

/// Logits after each of `tokens` fed one by one, then the prefill's logits for all of them.
fn logits(model: &Model<'_>, tokens: &[u32]) -> (Vec<f32>, Vec<f32>) {
    let mut cache = model.new_cache(16);
    let stepwise: Vec<f32> = tokens.iter().flat_map(|&t| model.forward(t, &mut cache).unwrap()).collect();
    let mut cache = model.new_cache(16);
    (stepwise, model.prefill(tokens, &mut cache).unwrap())
}

#[test]
fn fused_adapters_give_the_logits_of_adapters_applied_after_the_product() {
    let seed = seed_from_env().unwrap();
    println!("seed {seed} (DFMA_SEED={seed} reproduces)");
    let all = Projection::ALL;
    for format in [WeightFormat::Q4_0, WeightFormat::Q4_1, WeightFormat::Q8_0, WeightFormat::F16] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        TinyLlama::small(2, 64, 96, 4, 2, 64, format).write(&path, seed).unwrap();
        let mut model = Model::load(&path).unwrap();
        let mut rng = StdRng::seed_from_u64(seed);
        for rank in [4, 8] {
            let mut ad = Adapter::init(&model.config, "tiny", &[0, 1], &all, rank, 8.0, rng.random()).unwrap();
            ad.factors.values_mut().for_each(|f| f.b.iter_mut().for_each(|b| *b = rng.random_range(-0.3..0.3)));
            model.attach(ad).unwrap();
        }
        // The cpu engine takes one or two adapters into the fused kernel and declines three.
        let q = &model.weights.layers[0].q;
        let x: Vec<f32> = (0..q.cols).map(|_| rng.random_range(-1.0..1.0)).collect();
        let acting: Vec<ActingAdapter<'_>> = model
            .adapters()
            .iter()
            .map(|ad| {
                let f = &ad.factors[&(0, Projection::Q)];
                ActingAdapter { a: &f.a, b: &f.b, rank: ad.rank, scale: ad.scale() }
            })
            .collect();
        let mut y = vec![f32::NAN; q.rows];
        assert!(model.engine().fused(model.file(), q, &x, &mut y, 1, &acting).unwrap(), "{format:?}: not fused");
        assert!(y.iter().all(|v| v.is_finite()), "{format:?}: the fused product left NaN");
        let three = [acting[0], acting[1], acting[0]];
        assert!(!model.engine().fused(model.file(), q, &x, &mut y, 1, &three).unwrap(), "{format:?}: fused 3");
        let tokens: Vec<u32> = (0..11).map(|_| rng.random_range(0..64)).collect();
        let (fused_steps, fused_prefill) = logits(&model, &tokens);
        let zero = Adapter::init(&model.config, "tiny", &[0, 1], &all, 4, 8.0, 1).unwrap();
        assert!(zero.factors.values().all(|f| f.b.iter().all(|&b| b == 0.0)), "a fresh adapter has B = 0");
        model.attach(zero).unwrap();
        let (plain_steps, plain_prefill) = logits(&model, &tokens);
        let (steps, prefill) = (rel_l2(&fused_steps, &plain_steps), rel_l2(&fused_prefill, &plain_prefill));
        println!("{format:?}: token by token rel L2 {steps:.2e}, prefill rel L2 {prefill:.2e}");
        assert!(fused_steps.iter().chain(&fused_prefill).all(|v| v.is_finite()), "{format:?}: non-finite logits");
        assert!(steps < 1e-5 && prefill < 1e-5, "{format:?}: fused and unfused logits differ ({steps:e}, {prefill:e})");
        // And the adapters matter: without them the logits move.
        model.detach_all();
        let (bare, _) = logits(&model, &tokens);
        assert!(rel_l2(&bare, &plain_steps) > 1e-3, "{format:?}: the adapters change nothing");
    }
}

/// A personal and a collective adapter drawn from one seed share A, and the forward pass
/// applies them as one adapter over the summed B's. Against the same two adapters applied one
/// by one — the collective's A moved by one ulp, so they no longer merge — the logits agree to
/// rounding, token by token and in the prefill, with f32 activations, and to the activations'
/// quantization with 8-bit ones.
#[test]
fn adapters_sharing_a_apply_as_one_with_the_same_logits() {
    let seed = seed_from_env().unwrap();
    println!("seed {seed} (DFMA_SEED={seed} reproduces)");
    let all = Projection::ALL;
    for format in [WeightFormat::Q4_0, WeightFormat::Q8_0] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        TinyLlama::small(2, 64, 96, 4, 2, 64, format).write(&path, seed).unwrap();
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5A);
        let a_seed: u64 = rng.random();
        let config = Model::load(&path).unwrap().config;
        let pair = [8.0, 4.0].map(|alpha| {
            let mut ad = Adapter::init(&config, "tiny", &[0, 1], &all, 8, alpha, a_seed).unwrap();
            ad.factors.values_mut().for_each(|f| f.b.iter_mut().for_each(|b| *b = rng.random_range(-0.3..0.3)));
            ad
        });
        let tokens: Vec<u32> = (0..9).map(|_| rng.random_range(0..64)).collect();
        for int8 in [false, true] {
            let mut merged = Model::load(&path).unwrap();
            let mut apart = Model::load(&path).unwrap();
            if int8 {
                merged.use_int8_activations().unwrap();
                apart.use_int8_activations().unwrap();
            }
            merged.attach(pair[0].clone()).unwrap();
            merged.attach(pair[1].clone()).unwrap();
            assert_eq!((merged.adapters().len(), merged.applied_adapters().len()), (2, 1), "{format:?}: not merged");
            let mut nudged = pair[1].clone();
            nudged.factors.values_mut().for_each(|f| f.a.iter_mut().for_each(|a| *a = f32::from_bits(a.to_bits() ^ 1)));
            apart.attach(pair[0].clone()).unwrap();
            apart.attach(nudged).unwrap();
            assert_eq!(apart.applied_adapters().len(), 2, "{format:?}: distinct A merged");
            let (m_steps, m_prefill) = logits(&merged, &tokens);
            let (a_steps, a_prefill) = logits(&apart, &tokens);
            let (steps, prefill) = (rel_l2(&m_steps, &a_steps), rel_l2(&m_prefill, &a_prefill));
            println!(
                "{format:?} int8 {int8}: merged vs one by one, rel L2 {steps:.2e} token by token, {prefill:.2e} prefill"
            );
            assert!(m_steps.iter().chain(&m_prefill).all(|v| v.is_finite()), "{format:?}: non-finite logits");
            // With 8-bit activations a difference of one rounding in a product's output can move
            // a later activation across a code boundary (one code: 1/127 of its block's largest
            // magnitude): measured up to 6e-3 token by token over 60 draws. A merge that dropped
            // a scale or a B moves the logits by order 1e-1.
            let bound = if int8 { 3e-2 } else { 1e-5 };
            assert!(steps < bound && prefill < bound, "{format:?} int8 {int8}: {steps:e}, {prefill:e}");
        }
    }
}
