//! Secure aggregation for a round whose signals are linear (the f32 change itself, a count
//! sketch or a projection): the CCF learns the sum of the round's sketches and nothing about
//! any one of them, with the protocol crate's SecAgg+ ([`dfma_protocol::secagg`]).
//!
//! What travels in the signed signal is step 2, the masked fixed-point vector. Steps 0, 1 and 3
//! (key advertisement, encrypted secret shares, unmasking) have no protocol messages yet, so
//! [`SecureRound`] runs them in process: it holds every participant's [`Client`], which a
//! deployment would keep on the instances. Instances that drop out after step 1 are unmasked
//! around, as the protocol allows: a round closes with whoever sent its masked vector.
//!
//! Fixed point: 16 fractional bits (resolution 1.5e-5), and a per-value range chosen so that
//! the sum of all participants cannot wrap; a value outside it is refused, never clamped.

use std::collections::BTreeMap;

use dfma_protocol::limits::PUBLIC_KEY_BYTES;
use dfma_protocol::secagg::SecAggError;
use dfma_protocol::secagg::fixed_point::FixedPoint;
use dfma_protocol::secagg::graph::NeighbourGraph;
use dfma_protocol::secagg::round::{Aggregator, Client, MaskedInput, SecAggConfig, Transcript, simulation_seeds};

/// Fractional bits of the fixed-point encoding.
pub const FRACTIONAL_BITS: u32 = 16;

/// One round's secure-aggregation state (see the module docs).
pub struct SecureRound {
    config: SecAggConfig,
    graph: NeighbourGraph,
    clients: Vec<Client>,
    index_of: BTreeMap<[u8; PUBLIC_KEY_BYTES], usize>,
    transcript: Transcript,
    fixed: FixedPoint,
}

impl std::fmt::Debug for SecureRound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureRound").field("config", &self.config).finish_non_exhaustive()
    }
}

impl SecureRound {
    /// Steps 0 and 1 for `participants` (their signing keys), vectors of `vector_len`, all
    /// secrets derived from `seed`. Needs at least 3 participants (each needs 2 neighbours).
    pub fn setup(
        round_id: u64,
        participants: &[[u8; PUBLIC_KEY_BYTES]],
        vector_len: usize,
        seed: [u8; 32],
    ) -> Result<Self, SecAggError> {
        let instances = participants.len();
        if instances < 3 {
            return Err(SecAggError::InvalidConfig("secure aggregation needs at least 3 instances in a round"));
        }
        // The largest even neighbourhood below the round's size, at most 8: the cost grows with it.
        let neighbours = ((instances - 1) & !1).min(8);
        let config = SecAggConfig { instances, neighbours, threshold: neighbours / 2 + 1, vector_len, round_id };
        config.validate()?;
        let (graph_seed, client_seeds) = simulation_seeds(&seed, instances);
        let graph = NeighbourGraph::harary(instances, neighbours, graph_seed)?;
        let mut clients: Vec<Client> = client_seeds.into_iter().enumerate().map(|(i, s)| Client::new(i, s)).collect();
        let mut transcript =
            Transcript { keys: clients.iter().map(Client::advertise).collect(), ..Transcript::default() };
        for client in &mut clients {
            let shares = client.share_secrets(&config, &graph, &transcript.keys);
            transcript.shares.extend(shares);
        }
        let index_of = participants.iter().enumerate().map(|(i, k)| (*k, i)).collect();
        // Each value within ±clip, so that `instances` of them sum inside [-2^31, 2^31).
        let clip = ((i32::MAX as f64) / f64::from(FRACTIONAL_BITS).exp2() / instances as f64).floor() as f32;
        Ok(Self {
            config,
            graph,
            clients,
            index_of,
            transcript,
            fixed: FixedPoint { fractional_bits: FRACTIONAL_BITS, clip },
        })
    }

    /// The fixed-point encoding of this round.
    pub fn fixed_point(&self) -> FixedPoint {
        self.fixed
    }

    /// Step 2 for the participant with `key`: its vector, fixed-point encoded and masked.
    pub fn mask(&self, key: &[u8; PUBLIC_KEY_BYTES], input: &[f32]) -> Result<Vec<u32>, SecAggError> {
        let &index = self.index_of.get(key).ok_or(SecAggError::InvalidConfig("not a participant of this round"))?;
        let encoded = self.fixed.encode(input)?;
        let shared = self.transcript.shared(self.config.instances);
        let masked =
            self.clients[index].mask_input(&self.config, &self.graph, &self.transcript.keys, &shared, &encoded)?;
        Ok(masked.masked)
    }

    /// Step 3 and the unmasked sum of `masked` (by sender key): the survivors are exactly the
    /// senders given.
    pub fn sum(&mut self, masked: &BTreeMap<[u8; PUBLIC_KEY_BYTES], Vec<u32>>) -> Result<Vec<f64>, SecAggError> {
        let mut transcript = Transcript {
            keys: self.transcript.keys.clone(),
            shares: self.transcript.shares.clone(),
            ..Transcript::default()
        };
        for (key, vector) in masked {
            let &instance = self.index_of.get(key).ok_or(SecAggError::InvalidConfig("a sender outside the round"))?;
            transcript.masked_inputs.push(MaskedInput { instance, masked: vector.clone() });
        }
        let survivors = transcript.survivors(self.config.instances);
        // Client i is participant i (built in that order in `setup`).
        for (_, client) in self.clients.iter().enumerate().filter(|(i, _)| survivors[*i]) {
            let response =
                client.unmask(&self.config, &self.graph, &transcript.keys, &transcript.shares, &survivors)?;
            transcript.unmasking.push(response);
        }
        let sum = Aggregator::new(self.config, self.graph.clone()).aggregate(&transcript)?;
        Ok(self.fixed.decode(&sum))
    }
}
