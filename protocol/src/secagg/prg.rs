//! Seeds and masks: SHA-256 derives each seed from a key-agreement output under its own domain
//! tag, and ChaCha20 expands a seed into a mask vector over Z_2^32.
//!
//! The raw X25519 output is a curve coordinate, not a uniform string, so it is always hashed
//! before use. Each purpose (pairwise mask, share encryption) has its own tag and binds the
//! round and the instance ids, so no seed or key is ever used for two things.

use chacha20::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

const PAIRWISE_MASK_DOMAIN: &[u8] = b"dfma-secagg/pairwise-mask/v1\0";
const SELF_MASK_DOMAIN: &[u8] = b"dfma-secagg/self-mask/v1\0";
const SHARE_KEY_DOMAIN: &[u8] = b"dfma-secagg/share-encryption/v1\0";

/// Seed of the mask instances `a` and `b` share in `round_id`; symmetric in `a` and `b`.
pub fn pairwise_mask_seed(shared_secret: &[u8; 32], round_id: u64, a: usize, b: usize) -> [u8; 32] {
    let (low, high) = if a < b { (a, b) } else { (b, a) };
    Sha256::new()
        .chain_update(PAIRWISE_MASK_DOMAIN)
        .chain_update(shared_secret)
        .chain_update(round_id.to_le_bytes())
        .chain_update((low as u64).to_le_bytes())
        .chain_update((high as u64).to_le_bytes())
        .finalize()
        .into()
}

/// Seed of an instance's self mask, from its secret self-mask key.
pub fn self_mask_seed(self_mask_key: &[u8; 32], round_id: u64) -> [u8; 32] {
    Sha256::new()
        .chain_update(SELF_MASK_DOMAIN)
        .chain_update(self_mask_key)
        .chain_update(round_id.to_le_bytes())
        .finalize()
        .into()
}

/// Key that encrypts the shares `from` sends to `to`; differs per direction so that the two
/// streams between a pair never reuse keystream.
pub fn share_encryption_key(shared_secret: &[u8; 32], round_id: u64, from: usize, to: usize) -> [u8; 32] {
    Sha256::new()
        .chain_update(SHARE_KEY_DOMAIN)
        .chain_update(shared_secret)
        .chain_update(round_id.to_le_bytes())
        .chain_update((from as u64).to_le_bytes())
        .chain_update((to as u64).to_le_bytes())
        .finalize()
        .into()
}

/// Adds (`sign` = +1) or subtracts (−1) the ChaCha20 expansion of `seed` to `vector`,
/// element-wise modulo 2^32.
pub fn apply_mask(vector: &mut [u32], seed: [u8; 32], subtract: bool) {
    let mut stream = ChaCha20Rng::from_seed(seed);
    for element in vector.iter_mut() {
        let word = stream.next_u32();
        *element = if subtract { element.wrapping_sub(word) } else { element.wrapping_add(word) };
    }
}

/// XORs the ChaCha20 keystream of `key` into `bytes` (encrypts and decrypts alike).
pub fn xor_keystream(bytes: &mut [u8], key: [u8; 32]) {
    let mut stream = ChaCha20Rng::from_seed(key);
    let mut keystream = vec![0u8; bytes.len()];
    stream.fill_bytes(&mut keystream);
    for (byte, key_byte) in bytes.iter_mut().zip(keystream) {
        *byte ^= key_byte;
    }
}
