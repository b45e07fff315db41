//! An instance's (or the CCF's) long-term signing identity.

use ed25519_dalek::{Signer, SigningKey};

use crate::limits::{PUBLIC_KEY_BYTES, SIGNATURE_BYTES};

/// An Ed25519 key pair. The public half is the instance's identity on the wire.
pub struct Identity {
    signing_key: SigningKey,
}

impl Identity {
    /// The identity whose secret key is `secret`. The 32 bytes must be uniformly random and
    /// kept secret; simulations derive them from a seed, deployments use [`Identity::generate`].
    pub fn from_secret_bytes(secret: [u8; 32]) -> Self {
        Self { signing_key: SigningKey::from_bytes(&secret) }
    }

    /// A fresh identity from the operating system's random source.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)?;
        Ok(Self::from_secret_bytes(secret))
    }

    /// The public key that names this identity.
    pub fn public_key(&self) -> [u8; PUBLIC_KEY_BYTES] {
        self.signing_key.verifying_key().to_bytes()
    }

    /// Signs `message` (already domain-separated by the caller).
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_BYTES] {
        self.signing_key.sign(message).to_bytes()
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Identity").field("public_key", &self.public_key()).finish()
    }
}
