//! Adapter training through the frozen model, on tiny random models written here: the training
//! forward pass agrees with the cached one; gradients agree with central finite differences
//! (F32 and Q8_0 bases, a frozen attached adapter in the way, backward through two blocks);
//! the transposed product agrees with a plain one; AdamW lowers the loss; bad examples are
//! refused. Seeded: the seed is printed and `DFMA_SEED` reproduces a run.

use dfma_reference::seed::{rng_for, seed_from_env};
use dfma_runtime::model::Model;
use dfma_runtime::model::adapter::{Adapter, Projection};
use dfma_runtime::model::matvec::matvec_t;
use dfma_runtime::model::tiny::TinyLlama;
use dfma_runtime::model::train::{AdamW, Example, Gradients, loss, loss_and_gradients};
use dfma_runtime::model::weights::WeightFormat;
use rand::Rng;
use rand::rngs::StdRng;

fn seed() -> u64 {
    let s = seed_from_env().unwrap();
    println!("seed {s} (DFMA_SEED={s} reproduces)");
    s
}

fn tiny(format: WeightFormat, seed: u64) -> (tempfile::TempDir, Model<'static>) {
    let cfg = TinyLlama::small(3, 64, 96, 4, 2, 64, format);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    cfg.write(&path, seed).unwrap();
    let model = Model::load(&path).unwrap();
    (dir, model)
}

/// An adapter on `layers` × `projections` with both factors random (B = 0 would hide dA).
fn random_adapter(model: &Model<'_>, layers: &[usize], projections: &[Projection], rng: &mut StdRng) -> Adapter {
    let mut ad = Adapter::init(&model.config, "tiny", layers, projections, 4, 8.0, rng.random()).unwrap();
    for f in ad.factors.values_mut() {
        f.b.iter_mut().for_each(|b| *b = rng.random_range(-0.2..0.2));
    }
    ad
}

fn random_example(rng: &mut StdRng, n: usize, loss_from: usize, vocab: u32) -> Example {
    Example::new((0..n).map(|_| rng.random_range(0..vocab)).collect(), loss_from).unwrap()
}

#[test]
fn training_forward_gives_the_cached_forward_pass_loss() {
    let s = seed();
    let mut rng = rng_for(s, 1);
    let (_dir, mut model) = tiny(WeightFormat::F32, s);
    let attached = random_adapter(&model, &[0, 2], &[Projection::V, Projection::Up], &mut rng);
    model.attach(attached).unwrap();
    let ex = random_example(&mut rng, 10, 1, 64);
    let mut cache = model.new_cache(16);
    let mut want = 0.0f64;
    for (i, &t) in ex.tokens[..ex.tokens.len() - 1].iter().enumerate() {
        let logits = model.forward(t, &mut cache).unwrap();
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let log_z = f64::from(max) + logits.iter().map(|&z| f64::from(z - max).exp()).sum::<f64>().ln();
        want += log_z - f64::from(logits[ex.tokens[i + 1] as usize]);
    }
    let got = loss(&model, None, &ex).unwrap();
    println!("summed loss: training forward {:.6}, cached forward {want:.6}", got.nll);
    assert_eq!(got.tokens, 9);
    assert!(got.nll.is_finite() && (got.nll - want).abs() < 1e-4 * want.abs(), "{} vs {want}", got.nll);
}

/// Central difference of the loss along `dir` (unit norm) in factor `key`'s A or B.
fn numeric(model: &Model<'_>, ad: &Adapter, ex: &Example, key: (usize, Projection), b: bool, dir: &[f32]) -> f64 {
    let h = 1e-2f32;
    let at = |sign: f32| {
        let mut moved = ad.clone();
        let f = moved.factors.get_mut(&key).unwrap();
        let theta = if b { &mut f.b } else { &mut f.a };
        theta.iter_mut().zip(dir).for_each(|(t, d)| *t += sign * h * d);
        loss(model, Some(&moved), ex).unwrap().nll
    };
    (at(1.0) - at(-1.0)) / (2.0 * f64::from(h))
}

fn unit(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / n).collect()
}

fn check_gradients(format: WeightFormat) {
    let s = seed();
    let mut rng = rng_for(s, 2);
    let (_dir, mut model) = tiny(format, s);
    // A frozen adapter the gradient has to pass through, on a block above the lowest trained.
    model.attach(random_adapter(&model, &[2], &[Projection::Q, Projection::Down], &mut rng)).unwrap();
    let ad = random_adapter(&model, &[1, 2], &Projection::ALL, &mut rng);
    let ex = random_example(&mut rng, 12, 4, 64);
    let (l0, grads) = loss_and_gradients(&model, &ad, &ex).unwrap();
    assert_eq!(l0.nll, loss(&model, Some(&ad), &ex).unwrap().nll, "the two forward passes differ");
    let mut worst = 0.0f64;
    for (&key, g) in &grads.factors {
        for (b, grad) in [(false, &g.da), (true, &g.db)] {
            assert!(grad.iter().all(|v| v.is_finite()), "{key:?}: non-finite gradient");
            let norm = grad.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
            assert!(norm > 1e-4, "{key:?} {}: gradient norm {norm:e} (nothing flows)", if b { "B" } else { "A" });
            // Along the gradient itself the derivative is its norm.
            let along = numeric(&model, &ad, &ex, key, b, &unit(grad));
            // Along a random direction.
            let dir = unit(&(0..grad.len()).map(|_| rng.random_range(-1.0f32..1.0)).collect::<Vec<_>>());
            let random = numeric(&model, &ad, &ex, key, b, &dir);
            let analytic: f64 = grad.iter().zip(&dir).map(|(g, d)| f64::from(*g) * f64::from(*d)).sum();
            let (e1, e2) = ((along - norm).abs() / norm, (random - analytic).abs() / norm);
            println!(
                "{key:?} {}: |g| {norm:.4e}, along g {along:.4e} (err {e1:.1e}), random {random:.3e} vs {analytic:.3e} (err {e2:.1e})",
                if b { "B" } else { "A" }
            );
            worst = worst.max(e1).max(e2);
        }
    }
    println!("{format:?}: worst relative error {worst:.2e}");
    assert!(worst < 1e-2, "{format:?}: a gradient disagrees with finite differences by {worst:.2e} of its norm");
}

#[test]
fn gradients_match_finite_differences_on_an_f32_base() {
    check_gradients(WeightFormat::F32);
}

#[test]
fn gradients_match_finite_differences_on_a_q8_0_base() {
    check_gradients(WeightFormat::Q8_0);
}

#[test]
fn transposed_product_matches_the_plain_one_for_every_weight_format() {
    let s = seed();
    for (i, format) in
        [WeightFormat::Q4_1, WeightFormat::Q8_0, WeightFormat::Q4_0, WeightFormat::F16, WeightFormat::F32]
            .into_iter()
            .enumerate()
    {
        let mut rng = rng_for(s, 10 + i as u64);
        let (_dir, model) = tiny(format, s);
        let m = &model.weights.layers[1].down;
        // 9 tokens: the kernel's tasks then own 64 columns, so the 96 columns of `down` take two
        // bands and a band starts inside a row.
        let tokens = 9;
        let dy: Vec<f32> = (0..tokens * m.rows).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut dx = vec![f32::NAN; tokens * m.cols];
        matvec_t(model.file(), m, &dy, &mut dx, tokens);
        let rows: Vec<Vec<f32>> = (0..m.rows).map(|r| m.row_f32(model.file(), r)).collect();
        let (mut err, mut norm) = (0.0f64, 0.0f64);
        for t in 0..tokens {
            for c in 0..m.cols {
                let want: f64 = (0..m.rows).map(|r| f64::from(dy[t * m.rows + r]) * f64::from(rows[r][c])).sum();
                err += (f64::from(dx[t * m.cols + c]) - want).powi(2);
                norm += want * want;
            }
        }
        let rel = (err / norm).sqrt();
        println!("{format:?}: rel L2 {rel:.2e}");
        assert!(rel < 1e-5, "{format:?}: transposed product rel L2 {rel:e}");
    }
}

#[test]
fn adamw_steps_lower_the_loss_of_what_they_train_on() {
    let s = seed();
    let mut rng = rng_for(s, 3);
    let (_dir, model) = tiny(WeightFormat::Q8_0, s);
    let mut ad = Adapter::init(&model.config, "tiny", &[0, 1, 2], &Projection::ALL, 8, 16.0, rng.random()).unwrap();
    let ex = random_example(&mut rng, 16, 1, 64);
    let before = loss(&model, Some(&ad), &ex).unwrap().mean();
    let mut opt = AdamW::new(1e-2, 0.0);
    for _ in 0..30 {
        let (l, mut g): (_, Gradients) = loss_and_gradients(&model, &ad, &ex).unwrap();
        g.scale(1.0 / l.tokens as f32);
        opt.step(&mut ad, &g);
    }
    let after = loss(&model, Some(&ad), &ex).unwrap().mean();
    println!("mean loss {before:.4} -> {after:.4} after {} AdamW steps", opt.steps());
    assert!(after < 0.5 * before, "loss {before} -> {after}");
}

#[test]
fn bad_examples_are_refused_with_a_reason() {
    let (_dir, model) = tiny(WeightFormat::F32, 7);
    let ad = Adapter::init(&model.config, "tiny", &[2], &[Projection::Q], 4, 8.0, 1).unwrap();
    let e = Example::new(vec![1, 2, 3], 3).unwrap_err().to_string();
    assert!(e.contains("loss must start in 1..3"), "{e}");
    let e = Example::new(vec![1], 1).unwrap_err().to_string();
    assert!(e.contains("training example of 1 tokens"), "{e}");
    let bad = Example { tokens: vec![1, 99, 3], loss_from: 1 };
    let e = loss_and_gradients(&model, &ad, &bad).unwrap_err().to_string();
    assert!(e.contains("token id 99 is outside the vocabulary of 64"), "{e}");
    let long = Example::new(vec![1; 65], 1).unwrap();
    let e = loss(&model, None, &long).unwrap_err().to_string();
    assert!(e.contains("longer than the context of 64"), "{e}");
    let empty = Adapter { factors: Default::default(), ..ad };
    let e = loss_and_gradients(&model, &empty, &Example::new(vec![1, 2], 1).unwrap()).unwrap_err().to_string();
    assert!(e.contains("no factors"), "{e}");
}

#[test]
fn batched_prefill_gives_the_token_by_token_logits_and_cache() {
    let s = seed();
    let mut rng = rng_for(s, 4);
    let (_dir, mut model) = tiny(WeightFormat::Q4_1, s);
    model.attach(random_adapter(&model, &[1], &[Projection::K, Projection::Gate], &mut rng)).unwrap();
    let tokens: Vec<u32> = (0..13).map(|_| rng.random_range(0..64)).collect();
    let mut one_by_one = model.new_cache(20);
    let mut want = Vec::new();
    for &t in &tokens {
        want = model.forward(t, &mut one_by_one).unwrap();
    }
    let mut batched = model.new_cache(20);
    let got = model.prefill(&tokens, &mut batched).unwrap();
    assert_eq!(batched.len(), tokens.len());
    let rel = |a: &[f32], b: &[f32]| {
        let d: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum();
        (d / b.iter().map(|y| f64::from(*y).powi(2)).sum::<f64>()).sqrt()
    };
    println!("prefill logits rel L2 {:.2e}", rel(&got, &want));
    assert!(got.iter().all(|v| v.is_finite()) && rel(&got, &want) < 1e-5);
    // The caches agree too: the next token's logits match.
    let next = rng.random_range(0..64);
    let (a, b) = (model.forward(next, &mut batched).unwrap(), model.forward(next, &mut one_by_one).unwrap());
    assert!(rel(&a, &b) < 1e-5, "after prefill: rel L2 {:.2e}", rel(&a, &b));
    // A prefill continuing a cache: the first 5 tokens, then the rest at once.
    let mut split = model.new_cache(20);
    model.prefill(&tokens[..5], &mut split).unwrap();
    let continued = model.prefill(&tokens[5..], &mut split).unwrap();
    println!("continued prefill logits rel L2 {:.2e}", rel(&continued, &want));
    assert!(rel(&continued, &want) < 1e-5 && split.len() == tokens.len());
    let e = model.prefill(&[], &mut model.new_cache(4)).unwrap_err().to_string();
    assert!(e.contains("no tokens"), "{e}");
    let e = model.prefill(&tokens, &mut model.new_cache(8)).unwrap_err().to_string();
    assert!(e.contains("does not fit a cache of 8"), "{e}");
}

#[test]
fn batched_decode_gives_each_sequence_its_own_logits() {
    let s = seed();
    let mut rng = rng_for(s, 5);
    let (_dir, mut model) = tiny(WeightFormat::Q4_1, s);
    // Two adapters acting (the fused path) and a third (the plain product and adapters after).
    for layers in [&[0usize, 2][..], &[1], &[2]] {
        model.attach(random_adapter(&model, layers, &[Projection::Q, Projection::Down], &mut rng)).unwrap();
        // Prompts of ragged lengths, each in its own cache.
        let mut caches: Vec<_> = [3usize, 9, 1, 6, 11]
            .iter()
            .map(|&n| {
                let mut c = model.new_cache(24);
                let prompt: Vec<u32> = (0..n).map(|_| rng.random_range(0..64)).collect();
                model.prefill(&prompt, &mut c).unwrap();
                c
            })
            .collect();
        for step in 0..3 {
            let tokens: Vec<u32> = caches.iter().map(|_| rng.random_range(0..64)).collect();
            let want: Vec<Vec<f32>> =
                caches.iter().zip(&tokens).map(|(c, &t)| model.forward(t, &mut c.clone()).unwrap()).collect();
            let mut refs: Vec<_> = caches.iter_mut().collect();
            let got = model.forward_batch(&tokens, &mut refs).unwrap();
            let vocab = model.config.vocab;
            assert_eq!(got.len(), tokens.len() * vocab);
            for (i, (g, w)) in got.chunks_exact(vocab).zip(&want).enumerate() {
                let d: f64 = g.iter().zip(w).map(|(x, y)| f64::from(x - y).powi(2)).sum();
                let rel = (d / w.iter().map(|y| f64::from(*y).powi(2)).sum::<f64>()).sqrt();
                assert!(
                    g.iter().all(|v| v.is_finite()) && rel < 1e-5,
                    "adapters {layers:?} step {step} seq {i}: {rel:.2e}"
                );
            }
        }
        // Bad input changes no cache.
        let lens: Vec<usize> = caches.iter().map(|c| c.len()).collect();
        let mut refs: Vec<_> = caches.iter_mut().collect();
        let e = model.forward_batch(&[1, 2, 64, 3, 4], &mut refs).unwrap_err().to_string();
        assert!(e.contains("token id 64 is outside the vocabulary of 64"), "{e}");
        let e = model.forward_batch(&[1, 2], &mut refs).unwrap_err().to_string();
        assert!(e.contains("2 tokens for 5 caches"), "{e}");
        assert_eq!(caches.iter().map(|c| c.len()).collect::<Vec<_>>(), lens);
    }
    let mut full = model.new_cache(2);
    model.prefill(&[1, 2], &mut full).unwrap();
    let e = model.forward_batch(&[3], &mut [&mut full]).unwrap_err().to_string();
    assert!(e.contains("context full: 2 tokens"), "{e}");
}
