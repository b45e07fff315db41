//! The k-regular neighbour graph of SecAgg+: each instance masks with, and shares its secrets
//! among, only `k` neighbours instead of all `n − 1` other instances.
//!
//! The graph is a Harary graph (a ring where each vertex links to the `k/2` vertices on either
//! side) laid over a seeded random permutation of the instances, so that the aggregator cannot
//! choose who neighbours whom once the seed is fixed. Cost per instance drops from O(n) to
//! O(k) key agreements, mask expansions and shares.

use rand_core::{Rng, SeedableRng};

use chacha20::ChaCha20Rng;

use super::SecAggError;

/// Who neighbours whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighbourGraph {
    neighbours: Vec<Vec<usize>>,
}

impl NeighbourGraph {
    /// A k-regular graph on `instances` vertices; `k` must be even and below `instances`.
    pub fn harary(instances: usize, k: usize, seed: [u8; 32]) -> Result<Self, SecAggError> {
        if k == 0 || !k.is_multiple_of(2) || k >= instances {
            return Err(SecAggError::InvalidConfig("neighbour count k must be even, ≥ 2 and < n"));
        }
        // Fisher–Yates shuffle with a seeded ChaCha20 stream.
        let mut rng = ChaCha20Rng::from_seed(seed);
        let mut ring: Vec<usize> = (0..instances).collect();
        for index in (1..instances).rev() {
            let pick = (rng.next_u64() % (index as u64 + 1)) as usize;
            ring.swap(index, pick);
        }
        let mut neighbours = vec![Vec::with_capacity(k); instances];
        for (position, &instance) in ring.iter().enumerate() {
            for offset in 1..=k / 2 {
                neighbours[instance].push(ring[(position + offset) % instances]);
                neighbours[instance].push(ring[(position + instances - offset) % instances]);
            }
            neighbours[instance].sort_unstable();
        }
        Ok(Self { neighbours })
    }

    /// The neighbours of `instance`, in increasing order.
    pub fn neighbours(&self, instance: usize) -> &[usize] {
        &self.neighbours[instance]
    }

    /// The 1-based Shamir x-coordinate `instance`'s shares use for `neighbour`, if they are
    /// neighbours.
    pub fn share_index(&self, instance: usize, neighbour: usize) -> Option<u8> {
        let position = self.neighbours[instance].binary_search(&neighbour).ok()?;
        u8::try_from(position + 1).ok()
    }

    /// Number of instances.
    pub fn len(&self) -> usize {
        self.neighbours.len()
    }

    /// Whether the graph has no instances.
    pub fn is_empty(&self) -> bool {
        self.neighbours.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_graph_is_k_regular_symmetric_and_loop_free() {
        let graph = NeighbourGraph::harary(100, 10, [7; 32]).unwrap();
        for instance in 0..100 {
            let neighbours = graph.neighbours(instance);
            assert_eq!(neighbours.len(), 10);
            assert!(!neighbours.contains(&instance));
            assert!(neighbours.windows(2).all(|pair| pair[0] < pair[1]));
            for &other in neighbours {
                assert!(graph.neighbours(other).contains(&instance));
            }
        }
    }

    #[test]
    fn odd_or_too_large_k_is_refused() {
        assert!(NeighbourGraph::harary(10, 3, [0; 32]).is_err());
        assert!(NeighbourGraph::harary(10, 10, [0; 32]).is_err());
    }
}
