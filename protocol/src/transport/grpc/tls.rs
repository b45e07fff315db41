//! TLS for the gRPC transport: the server's identity and the checks on PEM input.
//!
//! tonic takes PEM bytes as they are and, handed text with no PEM block in it, goes on with no
//! certificate at all; the checks here turn such input into an [`ErrorKind::InvalidInput`] that
//! names the input and what is wrong with it, before tonic sees it.

use std::error::Error;
use std::fmt;
use std::io::{self, ErrorKind};

use rustls::pki_types::pem::{self, PemObject as _};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, Server, ServerTlsConfig};

use super::{CONNECT_TIMEOUT, error_chain};

/// The CCF's TLS identity for [`super::GrpcCcf::serve_tls`]: its certificate chain and private
/// key, both PEM as read from their files.
///
/// `Debug` shows the chain's size but never the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerTls {
    /// One or more `CERTIFICATE` blocks: the server's own certificate first, then any
    /// intermediates up to (not necessarily including) the CA instances trust.
    pub cert_chain_pem: Vec<u8>,
    /// The private key of the first certificate: one `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY`
    /// (PKCS#1) or `EC PRIVATE KEY` (SEC1) block.
    pub key_pem: Vec<u8>,
}

impl ServerTls {
    /// The identity made of the PEM certificate chain `cert_chain_pem` and the PEM private key
    /// `key_pem`; they are checked when the server starts.
    pub fn new(cert_chain_pem: impl Into<Vec<u8>>, key_pem: impl Into<Vec<u8>>) -> Self {
        Self { cert_chain_pem: cert_chain_pem.into(), key_pem: key_pem.into() }
    }

    /// Checks the identity as [`super::GrpcCcf::serve_tls`] does, without serving: both are PEM
    /// of their kind and the key is the first certificate's. An error is
    /// [`ErrorKind::InvalidInput`] saying which is wrong, on one line.
    ///
    /// If the process has no default rustls crypto provider yet, this installs ring's.
    pub fn check(&self) -> io::Result<()> {
        self.server().map(drop)
    }

    /// tonic's server with this identity, after checking that both are PEM of their kind and
    /// the key is the certificate's. The handshake of a connection must end within
    /// [`CONNECT_TIMEOUT`].
    pub(super) fn server(&self) -> io::Result<Server> {
        certificates(&self.cert_chain_pem, "TLS certificate chain")?;
        private_key(&self.key_pem)?;
        let config = ServerTlsConfig::new()
            .identity(Identity::from_pem(&self.cert_chain_pem, &self.key_pem))
            .timeout(CONNECT_TIMEOUT);
        // tonic's server takes the process's default provider, which rustls can only pick by
        // itself while a single one is compiled in. One already installed is kept.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Server::builder().tls_config(config).map_err(|e| {
            if error_sources(&e).any(|cause| matches!(cause.downcast_ref(), Some(rustls::Error::InconsistentKeys(_)))) {
                invalid("TLS private key: not the key of the chain's first certificate")
            } else {
                invalid(format!("TLS certificate chain and key: {}", error_chain(&e)))
            }
        })
    }
}

/// Checks `ca_pem` as [`super::GrpcInstance::connect_tls`] does, without connecting: one or more
/// whole PEM `CERTIFICATE` blocks. An error is [`ErrorKind::InvalidInput`] on one line.
pub fn check_ca_pem(ca_pem: &[u8]) -> io::Result<()> {
    certificates(ca_pem, "CA certificate").map(drop)
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("cert_chain_pem", &format_args!("{} bytes", self.cert_chain_pem.len()))
            .field("key_pem", &format_args!("(hidden)"))
            .finish()
    }
}

/// tonic's client configuration trusting only the CA certificates in `ca_pem` and expecting the
/// server's certificate to name `domain` (the URL's host when `None`).
pub(super) fn client_config(ca_pem: &[u8], domain: Option<&str>) -> io::Result<ClientTlsConfig> {
    certificates(ca_pem, "CA certificate")?;
    let config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca_pem)).timeout(CONNECT_TIMEOUT);
    Ok(match domain {
        Some(domain) => config.domain_name(domain),
        None => config,
    })
}

/// An [`ErrorKind::InvalidInput`] error with `message`.
pub(super) fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(ErrorKind::InvalidInput, message.into())
}

/// The certificates in `pem`, `what` naming it in the error: at least one, every block whole.
fn certificates(pem: &[u8], what: &str) -> io::Result<Vec<CertificateDer<'static>>> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("{what}: not valid PEM: {}", pem_error(&e))))?;
    if certificates.is_empty() {
        return Err(invalid(format!("{what}: no PEM CERTIFICATE block found")));
    }
    Ok(certificates)
}

/// The private key in `pem`: the first private key block, whole.
fn private_key(pem: &[u8]) -> io::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        pem::Error::NoItemsFound => {
            invalid("TLS private key: no PEM PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block found")
        }
        e => invalid(format!("TLS private key: not valid PEM: {}", pem_error(&e))),
    })
}

/// `error` and its sources.
fn error_sources<'a>(error: &'a (dyn Error + 'static)) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    std::iter::successors(Some(error), |&cause| cause.source())
}

/// `error` in a few words (its `Display` of a base64 error can span several).
fn pem_error(error: &pem::Error) -> String {
    error.to_string().lines().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_with_no_pem_block_is_invalid_input_naming_the_input() {
        let e = ServerTls::new("not a certificate", "not a key").check().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains("TLS certificate chain"), "{e}");
        let e = client_config(b"", None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains("CA certificate"), "{e}");
    }

    #[test]
    fn a_broken_block_is_invalid_input() {
        let broken = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        let e = client_config(broken, None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains("not valid PEM"), "{e}");
    }

    #[test]
    fn debug_never_shows_the_key() {
        let shown = format!("{:?}", ServerTls::new("chain", "SECRET"));
        assert!(!shown.contains("SECRET"), "{shown}");
    }
}
