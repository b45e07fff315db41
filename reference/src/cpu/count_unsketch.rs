//! Fast CPU `count_unsketch`: coordinates in parallel (rayon, chunks of 4096), each one's r row
//! values turned into `totalOrder` keys ([`order_key`]) in a fixed array, sorted by an
//! insertion sort (r ≤ 16) and the median picked as the op defines it. Keys are integers and
//! every coordinate is independent, so the result is the reference's, bit for bit.

use rayon::prelude::*;

use crate::ops::count_unsketch::{MAX_ROWS, from_order_key, order_key};
use crate::signals::derive::count_sketch_hash;

/// Coordinates one rayon task decodes.
const CHUNK: usize = 4096;

/// `g[i]` = median over rows of `σ_r(i)·sketch[r·c + h_r(i)]` for every i < `g.len()`; `sketch`
/// holds r rows of `c` buckets, 1 ≤ r ≤ [`MAX_ROWS`]. `g` is overwritten.
pub fn count_unsketch(key: [u32; 2], sketch: &[f32], c: usize, g: &mut [f32]) {
    assert!(c > 0 && sketch.len().is_multiple_of(c), "count_unsketch: sketch holds whole rows of {c}");
    let r = sketch.len() / c;
    assert!((1..=MAX_ROWS).contains(&r), "count_unsketch: {r} rows, 1..={MAX_ROWS} supported");
    g.par_chunks_mut(CHUNK).enumerate().for_each(|(chunk, out)| {
        let mut keys = [0u32; MAX_ROWS];
        for (j, o) in out.iter_mut().enumerate() {
            let i = (chunk * CHUNK + j) as u64;
            for (row, k) in keys[..r].iter_mut().enumerate() {
                let (b, negative) = count_sketch_hash(key, row as u32, i, c as u32);
                let bits = sketch[row * c + b as usize].to_bits() ^ (u32::from(negative) << 31);
                *k = order_key(f32::from_bits(bits));
            }
            insertion_sort(&mut keys[..r]);
            let m = r / 2;
            *o = if r % 2 == 1 {
                from_order_key(keys[m])
            } else {
                (from_order_key(keys[m - 1]) + from_order_key(keys[m])) * 0.5
            };
        }
    });
}

/// Sorts a handful of keys ascending (fewer moves than a general sort at r ≤ 16).
fn insertion_sort(keys: &mut [u32]) {
    for j in 1..keys.len() {
        let k = keys[j];
        let mut m = j;
        while m > 0 && keys[m - 1] > k {
            keys[m] = keys[m - 1];
            m -= 1;
        }
        keys[m] = k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::Op;
    use crate::ops::count_unsketch::{CountUnsketch, dims};
    use crate::seed::rng_for;
    use crate::signals::derive::key_of_seed;
    use crate::tensor::Tensor;

    #[test]
    fn the_decode_equals_the_reference_bit_for_bit_for_odd_and_even_rows() {
        for (i, (n, r, c)) in [(5000, 3, 97), (4097, 4, 64), (3000, 16, 33), (2, 1, 1)].into_iter().enumerate() {
            let d = dims(n, r, c);
            let inputs = CountUnsketch.random_inputs(&d, &mut rng_for(11, i as u64));
            let want = CountUnsketch.reference(&d, &inputs);
            let key = crate::ops::dense_project::key_of(&inputs[1]);
            let mut got = vec![f32::NAN; n];
            count_unsketch(key, inputs[0].as_f32().unwrap(), c, &mut got);
            let want = want[0].as_f32().unwrap();
            for j in 0..n {
                assert_eq!(got[j].to_bits(), want[j].to_bits(), "r {r}, coordinate {j}");
            }
        }
    }

    #[test]
    fn a_sketch_of_zeros_decodes_to_signed_zeros_without_nan() {
        let s = Tensor::f32(vec![3, 8], vec![0.0; 24]);
        let mut g = vec![f32::NAN; 100];
        count_unsketch(key_of_seed(5), s.as_f32().unwrap(), 8, &mut g);
        assert!(g.iter().all(|&x| x == 0.0), "{g:?}");
    }

    #[test]
    fn insertion_sort_sorts() {
        let mut k = [5u32, 1, 4, 1, 0xFFFF_FFFF, 0];
        insertion_sort(&mut k);
        assert_eq!(k, [0, 1, 1, 4, 5, 0xFFFF_FFFF]);
    }
}
