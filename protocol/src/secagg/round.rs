//! One secure-aggregation round: the instances' side ([`Client`]), the aggregator's side
//! ([`Aggregator`]), what the aggregator sees ([`Transcript`]) and an in-process driver
//! ([`simulate_round`]).
//!
//! Rounds, as in the paper: (0) every instance advertises two X25519 public keys, one for
//! masking and one for encrypting shares; (1) every instance sends each neighbour, through the
//! aggregator, an encrypted share of its mask secret and of its self-mask key; (2) instances
//! send masked vectors, masking only with neighbours that completed step 1; (3) survivors
//! reveal, per neighbour, the share the aggregator needs and may have. Instances that drop out
//! after step 1 are unmasked around; instances that drop before it are simply not in the round.

use chacha20::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};

use super::SecAggError;
use super::graph::NeighbourGraph;
use super::prg::{apply_mask, pairwise_mask_seed, self_mask_seed, share_encryption_key, xor_keystream};
use super::shamir::{self, SHARE_BYTES};

/// Parameters every participant of a round agrees on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecAggConfig {
    /// Instances in the round.
    pub instances: usize,
    /// Neighbours per instance, `k` (even, below `instances`, at most 254).
    pub neighbours: usize,
    /// Shares needed to recover a secret, `t`, with `k/2 < t ≤ k`: more than half of a
    /// neighbourhood, so that no split of it into "survived" and "dropped" lets the aggregator
    /// collect `t` shares of both secrets of one instance.
    pub threshold: usize,
    /// Elements of every vector.
    pub vector_len: usize,
    /// The round id, bound into every derived seed and key.
    pub round_id: u64,
}

impl SecAggConfig {
    /// Checks the constraints documented on the fields.
    pub fn validate(&self) -> Result<(), SecAggError> {
        if self.neighbours > 254 {
            return Err(SecAggError::InvalidConfig("at most 254 neighbours (GF(2^8) shares)"));
        }
        if self.threshold * 2 <= self.neighbours || self.threshold > self.neighbours {
            return Err(SecAggError::InvalidConfig("threshold must satisfy k/2 < t ≤ k"));
        }
        NeighbourGraph::harary(self.instances, self.neighbours, [0; 32]).map(drop)
    }
}

/// Step 0: an instance's public keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdvertisedKeys {
    /// The instance.
    pub instance: usize,
    /// X25519 key for pairwise-mask agreement.
    pub mask_public_key: [u8; 32],
    /// X25519 key for share encryption.
    pub encryption_public_key: [u8; 32],
}

/// Bytes of an encrypted share pair: mask-secret share, then self-mask-key share.
pub const SHARE_PAIR_BYTES: usize = 2 * SHARE_BYTES;

/// Step 1: one instance's shares for one neighbour, encrypted to that neighbour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptedShares {
    /// The instance whose secrets are shared.
    pub from: usize,
    /// The neighbour that can decrypt them.
    pub to: usize,
    /// The ciphertext.
    pub ciphertext: [u8; SHARE_PAIR_BYTES],
}

/// Step 2: a masked vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskedInput {
    /// The sender.
    pub instance: usize,
    /// `x + self mask + Σ ± pairwise masks`, element-wise modulo 2^32.
    pub masked: Vec<u32>,
}

/// Which of an instance's two secrets a share belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretKind {
    /// The self-mask key `b`: revealed for instances that survived.
    SelfMaskKey,
    /// The X25519 mask secret: revealed for instances that dropped out.
    MaskSecret,
}

/// Step 3: one share a survivor reveals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevealedShare {
    /// The instance the secret belongs to.
    pub owner: usize,
    /// Which secret.
    pub kind: SecretKind,
    /// The serialized share.
    pub share: [u8; SHARE_BYTES],
}

/// Step 3: everything one survivor reveals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmaskingResponse {
    /// The survivor.
    pub instance: usize,
    /// Its shares, one per neighbour that completed step 1.
    pub revealed: Vec<RevealedShare>,
}

/// Everything the aggregator receives in one round, and nothing else.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Transcript {
    /// Step 0.
    pub keys: Vec<AdvertisedKeys>,
    /// Step 1 (ciphertexts the aggregator routes but cannot read).
    pub shares: Vec<EncryptedShares>,
    /// Step 2.
    pub masked_inputs: Vec<MaskedInput>,
    /// Step 3.
    pub unmasking: Vec<UnmaskingResponse>,
}

impl Transcript {
    /// Instances that completed step 1.
    pub fn shared(&self, instances: usize) -> Vec<bool> {
        let mut shared = vec![false; instances];
        for share in &self.shares {
            if let Some(flag) = shared.get_mut(share.from) {
                *flag = true;
            }
        }
        shared
    }

    /// Instances that completed step 2.
    pub fn survivors(&self, instances: usize) -> Vec<bool> {
        let mut survivors = vec![false; instances];
        for input in &self.masked_inputs {
            if let Some(flag) = survivors.get_mut(input.instance) {
                *flag = true;
            }
        }
        survivors
    }
}

/// One instance's secrets and steps.
pub struct Client {
    instance: usize,
    mask_secret: StaticSecret,
    encryption_secret: StaticSecret,
    self_mask_key: [u8; 32],
    rng: ChaCha20Rng,
    /// X25519 outputs with each neighbour's encryption key, computed in step 1 and reused in
    /// step 3 (one scalar multiplication each instead of two).
    encryption_agreements: Vec<(usize, [u8; 32])>,
}

impl Client {
    /// An instance whose secrets come from `rng_seed` (32 uniformly random bytes).
    pub fn new(instance: usize, rng_seed: [u8; 32]) -> Self {
        let mut rng = ChaCha20Rng::from_seed(rng_seed);
        let mut draw = || {
            let mut bytes = [0u8; 32];
            rng.fill_bytes(&mut bytes);
            bytes
        };
        let mask_secret = StaticSecret::from(draw());
        let encryption_secret = StaticSecret::from(draw());
        let self_mask_key = draw();
        Self { instance, mask_secret, encryption_secret, self_mask_key, rng, encryption_agreements: Vec::new() }
    }

    /// Step 0.
    pub fn advertise(&self) -> AdvertisedKeys {
        AdvertisedKeys {
            instance: self.instance,
            mask_public_key: PublicKey::from(&self.mask_secret).to_bytes(),
            encryption_public_key: PublicKey::from(&self.encryption_secret).to_bytes(),
        }
    }

    /// Step 1: shares of both secrets for every neighbour, each encrypted to its recipient.
    pub fn share_secrets(
        &mut self,
        config: &SecAggConfig,
        graph: &NeighbourGraph,
        keys: &[AdvertisedKeys],
    ) -> Vec<EncryptedShares> {
        let neighbours = graph.neighbours(self.instance);
        let xs: Vec<u8> = (1..=neighbours.len() as u8).collect();
        let threshold = config.threshold as u8;
        let mask_shares = shamir::split(&self.mask_secret.to_bytes(), threshold, &xs, &mut self.rng);
        let self_shares = shamir::split(&self.self_mask_key, threshold, &xs, &mut self.rng);
        self.encryption_agreements = neighbours
            .iter()
            .map(|&to| {
                let public = PublicKey::from(keys[to].encryption_public_key);
                (to, self.encryption_secret.diffie_hellman(&public).to_bytes())
            })
            .collect();
        self.encryption_agreements
            .iter()
            .enumerate()
            .map(|(position, (to, agreed))| {
                let mut ciphertext = [0u8; SHARE_PAIR_BYTES];
                ciphertext[..SHARE_BYTES].copy_from_slice(&mask_shares[position]);
                ciphertext[SHARE_BYTES..].copy_from_slice(&self_shares[position]);
                let key = share_encryption_key(agreed, config.round_id, self.instance, *to);
                xor_keystream(&mut ciphertext, key);
                EncryptedShares { from: self.instance, to: *to, ciphertext }
            })
            .collect()
    }

    /// Step 2: masks `input` (already fixed-point encoded) with the self mask and with the
    /// pairwise masks of every neighbour in `shared`.
    pub fn mask_input(
        &self,
        config: &SecAggConfig,
        graph: &NeighbourGraph,
        keys: &[AdvertisedKeys],
        shared: &[bool],
        input: &[u32],
    ) -> Result<MaskedInput, SecAggError> {
        if input.len() != config.vector_len {
            return Err(SecAggError::WrongLength {
                instance: self.instance,
                expected: config.vector_len,
                actual: input.len(),
            });
        }
        let mut masked = input.to_vec();
        apply_mask(&mut masked, self_mask_seed(&self.self_mask_key, config.round_id), false);
        for &neighbour in graph.neighbours(self.instance) {
            if !shared[neighbour] {
                continue;
            }
            let agreed = self.mask_secret.diffie_hellman(&PublicKey::from(keys[neighbour].mask_public_key));
            let seed = pairwise_mask_seed(agreed.as_bytes(), config.round_id, self.instance, neighbour);
            apply_mask(&mut masked, seed, self.instance > neighbour);
        }
        Ok(MaskedInput { instance: self.instance, masked })
    }

    /// Step 3: decrypts the shares addressed to this instance and reveals, per neighbour, the
    /// self-mask-key share if it survived and the mask-secret share if it did not. Refuses
    /// when fewer than `threshold` instances survived.
    pub fn unmask(
        &self,
        config: &SecAggConfig,
        graph: &NeighbourGraph,
        keys: &[AdvertisedKeys],
        received: &[EncryptedShares],
        survivors: &[bool],
    ) -> Result<UnmaskingResponse, SecAggError> {
        let surviving = survivors.iter().filter(|&&survived| survived).count();
        if surviving < config.threshold {
            return Err(SecAggError::TooFewSurvivors { needed: config.threshold, got: surviving });
        }
        let mut revealed = Vec::with_capacity(received.len());
        for share in received.iter().filter(|share| share.to == self.instance) {
            let owner = share.from;
            let mut plaintext = share.ciphertext;
            let agreed = match self.encryption_agreements.iter().find(|(with, _)| *with == owner) {
                Some((_, agreed)) => *agreed,
                None => self
                    .encryption_secret
                    .diffie_hellman(&PublicKey::from(keys[owner].encryption_public_key))
                    .to_bytes(),
            };
            xor_keystream(&mut plaintext, share_encryption_key(&agreed, config.round_id, owner, self.instance));
            let expected_x = graph.share_index(owner, self.instance).ok_or(SecAggError::InconsistentShare { owner })?;
            if plaintext[0] != expected_x || plaintext[SHARE_BYTES] != expected_x {
                return Err(SecAggError::InconsistentShare { owner });
            }
            let (kind, range) = if survivors[owner] {
                (SecretKind::SelfMaskKey, SHARE_BYTES..SHARE_PAIR_BYTES)
            } else {
                (SecretKind::MaskSecret, 0..SHARE_BYTES)
            };
            let mut bytes = [0u8; SHARE_BYTES];
            bytes.copy_from_slice(&plaintext[range]);
            revealed.push(RevealedShare { owner, kind, share: bytes });
        }
        Ok(UnmaskingResponse { instance: self.instance, revealed })
    }
}

/// Secrets the aggregator reconstructed in step 3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredSecrets {
    /// Self-mask key of each survivor.
    pub self_mask_keys: Vec<Option<[u8; 32]>>,
    /// Mask secret of each instance that shared and then dropped out.
    pub mask_secrets: Vec<Option<[u8; 32]>>,
}

/// The aggregator's side of a round.
#[derive(Debug, Clone)]
pub struct Aggregator {
    config: SecAggConfig,
    graph: NeighbourGraph,
}

impl Aggregator {
    /// An aggregator for `config` over `graph`.
    pub fn new(config: SecAggConfig, graph: NeighbourGraph) -> Self {
        Self { config, graph }
    }

    /// Reconstructs each survivor's self-mask key and each dropped instance's mask secret from
    /// the revealed shares, checking each mask secret against its advertised public key.
    pub fn recover_secrets(&self, transcript: &Transcript) -> Result<RecoveredSecrets, SecAggError> {
        let n = self.config.instances;
        let shared = transcript.shared(n);
        let survivors = transcript.survivors(n);
        let surviving = survivors.iter().filter(|&&survived| survived).count();
        if surviving < self.config.threshold {
            return Err(SecAggError::TooFewSurvivors { needed: self.config.threshold, got: surviving });
        }
        let mut by_owner: Vec<Vec<[u8; SHARE_BYTES]>> = vec![Vec::new(); n];
        for share in transcript.unmasking.iter().flat_map(|response| &response.revealed) {
            let wanted = if survivors[share.owner] { SecretKind::SelfMaskKey } else { SecretKind::MaskSecret };
            if share.kind == wanted {
                by_owner[share.owner].push(share.share);
            }
        }
        let threshold = self.config.threshold as u8;
        let mut recovered = RecoveredSecrets { self_mask_keys: vec![None; n], mask_secrets: vec![None; n] };
        for owner in 0..n {
            if survivors[owner] {
                recovered.self_mask_keys[owner] = Some(shamir::recover(owner, threshold, &by_owner[owner])?);
            } else if shared[owner] {
                let secret = shamir::recover(owner, threshold, &by_owner[owner])?;
                let public = PublicKey::from(&StaticSecret::from(secret)).to_bytes();
                if public != transcript.keys[owner].mask_public_key {
                    return Err(SecAggError::InconsistentShare { owner });
                }
                recovered.mask_secrets[owner] = Some(secret);
            }
        }
        Ok(recovered)
    }

    /// The part of survivor `instance`'s masked vector the aggregator can compute and remove:
    /// its self mask, plus the pairwise masks it shares with neighbours that dropped out.
    /// What remains, `x + Σ ± masks shared with surviving neighbours`, is hidden from it.
    pub fn removable_mask(&self, transcript: &Transcript, recovered: &RecoveredSecrets, instance: usize) -> Vec<u32> {
        let mut mask = vec![0u32; self.config.vector_len];
        if let Some(key) = &recovered.self_mask_keys[instance] {
            apply_mask(&mut mask, self_mask_seed(key, self.config.round_id), false);
        }
        for &neighbour in self.graph.neighbours(instance) {
            let Some(secret) = recovered.mask_secrets[neighbour] else { continue };
            let public = PublicKey::from(transcript.keys[instance].mask_public_key);
            let agreed = StaticSecret::from(secret).diffie_hellman(&public);
            let seed = pairwise_mask_seed(agreed.as_bytes(), self.config.round_id, instance, neighbour);
            apply_mask(&mut mask, seed, instance > neighbour);
        }
        mask
    }

    /// The sum in Z_2^32 of the survivors' unmasked vectors.
    pub fn aggregate(&self, transcript: &Transcript) -> Result<Vec<u32>, SecAggError> {
        let recovered = self.recover_secrets(transcript)?;
        let mut sum = vec![0u32; self.config.vector_len];
        for input in &transcript.masked_inputs {
            if input.masked.len() != self.config.vector_len {
                return Err(SecAggError::WrongLength {
                    instance: input.instance,
                    expected: self.config.vector_len,
                    actual: input.masked.len(),
                });
            }
            let removable = self.removable_mask(transcript, &recovered, input.instance);
            for ((total, masked), known) in sum.iter_mut().zip(&input.masked).zip(removable) {
                *total = total.wrapping_add(masked.wrapping_sub(known));
            }
        }
        Ok(sum)
    }
}

/// Result of [`simulate_round`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulationOutcome {
    /// The aggregate the aggregator computed.
    pub sum: Vec<u32>,
    /// What the aggregator saw.
    pub transcript: Transcript,
    /// The neighbour graph used.
    pub graph: NeighbourGraph,
}

/// The neighbour graph and per-instance secret seeds a simulation derives from `seed`.
pub fn simulation_seeds(seed: &[u8; 32], instances: usize) -> ([u8; 32], Vec<[u8; 32]>) {
    let derive = |label: &[u8], index: u64| -> [u8; 32] {
        Sha256::new()
            .chain_update(b"dfma-secagg/simulation/v1\0")
            .chain_update(label)
            .chain_update(seed)
            .chain_update(index.to_le_bytes())
            .finalize()
            .into()
    };
    let clients = (0..instances as u64).map(|index| derive(b"client", index)).collect();
    (derive(b"graph", 0), clients)
}

/// Runs a whole round in process: `inputs[i]` is instance `i`'s fixed-point vector, and
/// instances with `dropped_after_sharing[i]` complete step 1 and then vanish. All randomness
/// derives from `seed`, so a run is reproducible.
pub fn simulate_round(
    config: &SecAggConfig,
    inputs: &[Vec<u32>],
    dropped_after_sharing: &[bool],
    seed: [u8; 32],
) -> Result<SimulationOutcome, SecAggError> {
    config.validate()?;
    if inputs.len() != config.instances || dropped_after_sharing.len() != config.instances {
        return Err(SecAggError::InvalidConfig("one input and one dropout flag per instance"));
    }
    let (graph_seed, client_seeds) = simulation_seeds(&seed, config.instances);
    let graph = NeighbourGraph::harary(config.instances, config.neighbours, graph_seed)?;
    let mut clients: Vec<Client> = client_seeds
        .into_iter()
        .enumerate()
        .map(|(instance, client_seed)| Client::new(instance, client_seed))
        .collect();
    let mut transcript = Transcript { keys: clients.iter().map(Client::advertise).collect(), ..Transcript::default() };
    for client in &mut clients {
        let shares = client.share_secrets(config, &graph, &transcript.keys);
        transcript.shares.extend(shares);
    }
    let shared = transcript.shared(config.instances);
    for (client, input) in clients.iter().zip(inputs) {
        if !dropped_after_sharing[client.instance] {
            let masked = client.mask_input(config, &graph, &transcript.keys, &shared, input)?;
            transcript.masked_inputs.push(masked);
        }
    }
    let survivors = transcript.survivors(config.instances);
    for client in clients.iter().filter(|client| survivors[client.instance]) {
        let response = client.unmask(config, &graph, &transcript.keys, &transcript.shares, &survivors)?;
        transcript.unmasking.push(response);
    }
    let sum = Aggregator::new(*config, graph.clone()).aggregate(&transcript)?;
    Ok(SimulationOutcome { sum, transcript, graph })
}
