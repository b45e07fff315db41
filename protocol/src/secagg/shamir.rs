//! Shamir secret sharing of 32-byte secrets, byte-wise over GF(2^8) with the `blahaj` crate.
//!
//! Share `x` coordinates are chosen by the caller (1..=255), so the holder of each share is
//! fixed by the neighbour graph rather than by the order shares come out of the dealer.

use blahaj::{Share, Sharks};
use rand_core::CryptoRng;

use super::SecAggError;

/// Bytes of a serialized share of a 32-byte secret: the x coordinate, then 32 y bytes.
pub const SHARE_BYTES: usize = 33;

/// Splits `secret` so that any `threshold` of the shares at `x_coordinates` recover it and
/// fewer reveal nothing about it. Returns one serialized share per coordinate, in order.
pub fn split(
    secret: &[u8; 32],
    threshold: u8,
    x_coordinates: &[u8],
    rng: &mut impl CryptoRng,
) -> Vec<[u8; SHARE_BYTES]> {
    let mut dealer = Sharks(threshold).dealer_rng(secret, rng);
    // The dealer yields x = 1, 2, …, 255 in order; keep the ones asked for.
    let mut all: Vec<Option<Share>> = Vec::new();
    let largest = x_coordinates.iter().copied().max().unwrap_or(0);
    for _ in 0..largest {
        all.push(dealer.next());
    }
    x_coordinates
        .iter()
        .map(|&x| {
            let share = all[usize::from(x) - 1].as_ref().map(Vec::from).unwrap_or_default();
            let mut bytes = [0u8; SHARE_BYTES];
            bytes.copy_from_slice(&share);
            bytes
        })
        .collect()
}

/// Recovers a secret from at least `threshold` serialized shares with distinct x coordinates.
pub fn recover(owner: usize, threshold: u8, shares: &[[u8; SHARE_BYTES]]) -> Result<[u8; 32], SecAggError> {
    let mut seen = [false; 256];
    let mut distinct: Vec<Share> = Vec::with_capacity(shares.len());
    for bytes in shares {
        if bytes[0] == 0 || seen[usize::from(bytes[0])] {
            return Err(SecAggError::InconsistentShare { owner });
        }
        seen[usize::from(bytes[0])] = true;
        distinct.push(Share::try_from(&bytes[..]).map_err(|_| SecAggError::InconsistentShare { owner })?);
    }
    if distinct.len() < usize::from(threshold) {
        return Err(SecAggError::TooFewShares { owner, needed: usize::from(threshold), got: distinct.len() });
    }
    let secret = Sharks(threshold)
        .recover(&distinct[..usize::from(threshold)])
        .map_err(|_| SecAggError::InconsistentShare { owner })?;
    secret.try_into().map_err(|_| SecAggError::InconsistentShare { owner })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chacha20::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn any_threshold_shares_recover_and_fewer_do_not() {
        let mut rng = ChaCha20Rng::from_seed([3; 32]);
        let secret = [0xa5u8; 32];
        let xs: Vec<u8> = (1..=9).collect();
        let shares = split(&secret, 5, &xs, &mut rng);
        assert_eq!(recover(0, 5, &shares[4..]).unwrap(), secret);
        assert_eq!(recover(0, 5, &[shares[0], shares[2], shares[4], shares[6], shares[8]]).unwrap(), secret);
        assert!(matches!(recover(0, 5, &shares[..4]), Err(SecAggError::TooFewShares { .. })));
    }

    #[test]
    fn duplicate_coordinates_are_refused() {
        let mut rng = ChaCha20Rng::from_seed([4; 32]);
        let shares = split(&[1; 32], 2, &[1, 2], &mut rng);
        assert!(matches!(recover(7, 2, &[shares[0], shares[0]]), Err(SecAggError::InconsistentShare { owner: 7 })));
    }
}
