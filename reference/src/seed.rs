//! Seeds for random test and bench inputs: fresh each run, printed, reproducible with `DFMA_SEED`.

use rand::SeedableRng;
use rand::rngs::StdRng;

/// Environment variable that fixes the seed of random inputs.
pub const SEED_ENV: &str = "DFMA_SEED";

/// The seed to use: `DFMA_SEED` when set (decimal or `0x` hex), else a fresh one from the OS.
/// Returns an error naming the variable when it is set but not a number.
pub fn seed_from_env() -> Result<u64, String> {
    match std::env::var(SEED_ENV) {
        Ok(s) => parse_seed(&s).ok_or_else(|| format!("{SEED_ENV}={s:?} is not a u64 (decimal or 0x-hex)")),
        Err(_) => Ok(rand::random()),
    }
}

/// Parses a decimal or `0x`-prefixed hexadecimal seed.
pub fn parse_seed(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// A deterministic generator for `seed`, mixed with `stream` so independent cases of one run
/// draw independent inputs from one printed seed.
pub fn rng_for(seed: u64, stream: u64) -> StdRng {
    StdRng::seed_from_u64(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_parse_in_decimal_and_hex() {
        assert_eq!(parse_seed("42"), Some(42));
        assert_eq!(parse_seed("0x2a"), Some(42));
        assert_eq!(parse_seed("forty-two"), None);
    }
}
