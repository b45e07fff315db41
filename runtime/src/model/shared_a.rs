//! Adapters that share their A factors, applied as one.
//!
//! DFMA's personal and collective adapters are drawn from one seed and differ only in B (they
//! add by their B's; see the experiment's `fresh_adapter`). Then on every projection
//! s_p·B_p(A·x) + s_c·B_c(A·x) = (s_p·B_p + s_c·B_c)(A·x): one shrink and one expand instead of
//! two, so a decode step reads one adapter's factors, not two — on the embedded model two
//! rank-16 adapters on every projection are 39 MB a token beside 96 MB of weights. The forward
//! pass applies the merged set; [`super::Model::adapters`] still lists what was attached, and
//! the result differs from applying them one by one only by f32 rounding of the summed B.

use std::collections::BTreeMap;

use super::adapter::{Adapter, LoraFactors};

/// Whether `a` and `b` have the same rank, act on the same projections and hold bit-equal A
/// factors there.
fn same_a(a: &Adapter, b: &Adapter) -> bool {
    a.rank == b.rank
        && a.factors.len() == b.factors.len()
        && a.factors.iter().zip(&b.factors).all(|((ka, fa), (kb, fb))| {
            ka == kb
                && (fa.rows, fa.cols) == (fb.rows, fb.cols)
                && fa.a.iter().map(|v| v.to_bits()).eq(fb.a.iter().map(|v| v.to_bits()))
        })
}

/// The adapters as the forward pass applies them, when any two share A: each group of
/// adapters with one A becomes one adapter with B = Σ s_i·B_i and scale 1 (alpha = rank), in
/// the order of each group's first member. `None` when no two share A (apply them as attached).
pub(crate) fn merge_shared_a(adapters: &[Adapter]) -> Option<Vec<Adapter>> {
    let mut groups: Vec<Vec<&Adapter>> = Vec::new();
    for ad in adapters {
        match groups.iter_mut().find(|g| same_a(g[0], ad)) {
            Some(g) => g.push(ad),
            None => groups.push(vec![ad]),
        }
    }
    if groups.len() == adapters.len() {
        return None;
    }
    Some(groups.into_iter().map(merge).collect())
}

/// One group's adapter: itself when alone, else the summed B's over the shared A.
fn merge(group: Vec<&Adapter>) -> Adapter {
    let first = group[0];
    if group.len() == 1 {
        return first.clone();
    }
    let factors: BTreeMap<_, _> = first
        .factors
        .iter()
        .map(|(key, f)| {
            let mut b = vec![0.0f32; f.b.len()];
            for ad in &group {
                let s = ad.scale();
                b.iter_mut().zip(&ad.factors[key].b).for_each(|(m, v)| *m += s * v);
            }
            (*key, LoraFactors { a: f.a.clone(), b, rows: f.rows, cols: f.cols })
        })
        .collect();
    Adapter { rank: first.rank, alpha: first.rank as f32, base_sha256: first.base_sha256.clone(), factors }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::adapter::Projection;
    use crate::model::config::LlamaConfig;

    fn config() -> LlamaConfig {
        LlamaConfig::tiny_for_tests()
    }

    fn with_b(mut ad: Adapter, salt: f32) -> Adapter {
        let b: Vec<f32> = (0..ad.b_len()).map(|i| ((i as f32 * 0.37 + salt).sin()) * 0.1).collect();
        ad.set_b(&b).unwrap();
        ad
    }

    /// Two adapters from one seed merge into B = s_p·B_p + s_c·B_c over their A; a third with
    /// another A stays apart, after the merged one; distinct A's alone merge nothing.
    #[test]
    fn adapters_sharing_a_merge_into_summed_b() {
        let c = config();
        let p = [Projection::Q, Projection::Down];
        let personal = with_b(Adapter::init(&c, "h", &[0, 1], &p, 4, 8.0, 7).unwrap(), 0.0);
        let mut collective = with_b(Adapter::init(&c, "h", &[0, 1], &p, 4, 8.0, 7).unwrap(), 1.0);
        collective.alpha = 2.0;
        let other = with_b(Adapter::init(&c, "h", &[0, 1], &p, 4, 8.0, 8).unwrap(), 2.0);
        assert!(merge_shared_a(&[personal.clone(), other.clone()]).is_none());
        let merged = merge_shared_a(&[personal.clone(), other.clone(), collective.clone()]).unwrap();
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[1], other);
        let m = &merged[0];
        assert_eq!(m.scale(), 1.0);
        for (key, f) in &m.factors {
            assert_eq!(f.a, personal.factors[key].a);
            for (i, v) in f.b.iter().enumerate() {
                let want = 2.0 * personal.factors[key].b[i] + 0.5 * collective.factors[key].b[i];
                assert_eq!(*v, want, "{key:?} b[{i}]");
            }
        }
        // One projection fewer, or another rank: not the same A.
        let fewer = with_b(Adapter::init(&c, "h", &[0, 1], &p[..1], 4, 8.0, 7).unwrap(), 3.0);
        assert!(merge_shared_a(&[personal.clone(), fewer]).is_none());
        let wider = with_b(Adapter::init(&c, "h", &[0, 1], &p, 8, 8.0, 7).unwrap(), 3.0);
        assert!(merge_shared_a(&[personal, wider]).is_none());
    }
}
