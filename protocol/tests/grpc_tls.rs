//! The gRPC transport over TLS on loopback, with a CA and a server certificate made here for
//! the test (nothing is written to disk): frames both ways, instances that must not get in
//! (another CA, another name, no TLS at all) refused while the CCF serves the others, and PEM
//! input that is not what it should be refused as bad input.

use std::io::ErrorKind;
use std::time::Duration;

use dfma_protocol::transport::grpc::{GrpcCcf, GrpcInstance, ServerTls, check_ca_pem};
use dfma_protocol::transport::{Ccf, ConnectionId, Incoming, Transport};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

const WAIT: Duration = Duration::from_secs(5);

/// A CA: its certificate as PEM and what signs with it.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn new_ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let key = KeyPair::generate().unwrap();
    let pem = params.self_signed(&key).unwrap().pem();
    Ca { pem, issuer: Issuer::new(params, key) }
}

/// A server identity for "localhost" and 127.0.0.1, signed by `ca`.
fn server_tls(ca: &Ca) -> ServerTls {
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "dfma test CCF");
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    ServerTls::new(cert.pem(), key.serialize_pem())
}

fn https(ccf: &GrpcCcf) -> String {
    format!("https://{}", ccf.local_addr())
}

/// Sends `frame` from `instance`, answers it from the CCF and checks both ends got it whole.
fn round_trip(ccf: &mut GrpcCcf, instance: &mut GrpcInstance, id: ConnectionId, frame: Vec<u8>) {
    instance.send(Ccf, frame.clone()).unwrap();
    let Incoming { from, frame: got } = ccf.recv_timeout(WAIT).unwrap().expect("a frame within the wait");
    assert_eq!((from, &got), (id, &frame));
    let reply: Vec<u8> = got.iter().rev().copied().collect();
    ccf.send(id, reply.clone()).unwrap();
    let Incoming { frame: got, .. } = instance.recv_timeout(WAIT).unwrap().expect("a reply within the wait");
    assert_eq!(got, reply);
}

#[test]
fn frames_cross_tls_both_ways_checked_against_the_ip_or_a_domain_name() {
    let ca = new_ca("dfma test CA");
    let mut ccf = GrpcCcf::serve_tls("127.0.0.1:0", 4, &server_tls(&ca)).unwrap();
    // The URL's host, an IP address, is what the certificate must name...
    let mut by_ip = GrpcInstance::connect_tls(&https(&ccf), ca.pem.as_bytes(), None).unwrap();
    // ...unless a domain name is given.
    let mut by_name = GrpcInstance::connect_tls(&https(&ccf), ca.pem.as_bytes(), Some("localhost")).unwrap();
    assert_eq!(ccf.connections(), vec![ConnectionId(0), ConnectionId(1)]);
    // Empty, small, and above 1 MiB: many TLS records.
    for (index, len) in [0usize, 37, (1 << 20) + 5].into_iter().enumerate() {
        let frame: Vec<u8> = (0..len).map(|i| (i * 31 + index) as u8).collect();
        round_trip(&mut ccf, &mut by_ip, ConnectionId(0), frame.clone());
        round_trip(&mut ccf, &mut by_name, ConnectionId(1), frame);
    }
    drop(by_ip);
    drop(by_name);
    let counts = ccf.counts();
    assert_eq!((counts.connections, counts.frames), (2, 6));
}

#[test]
fn instances_that_do_not_trust_the_ccf_are_refused_and_others_still_get_in() {
    let ca = new_ca("dfma test CA");
    let other = new_ca("some other CA");
    let mut ccf = GrpcCcf::serve_tls("127.0.0.1:0", 4, &server_tls(&ca)).unwrap();
    let url = https(&ccf);

    let e = GrpcInstance::connect_tls(&url, other.pem.as_bytes(), None).expect_err("another CA is not trusted");
    assert!(e.to_string().contains(&url), "{e}");
    assert!(e.to_string().to_lowercase().contains("certificate"), "names the certificate problem: {e}");

    let e = GrpcInstance::connect_tls(&url, ca.pem.as_bytes(), Some("ccf.example")).expect_err("not its name");
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");

    // Plain HTTP/2 against the TLS server: refused, or at the latest its first exchange fails.
    match GrpcInstance::connect(&format!("http://{}", ccf.local_addr())) {
        Err(e) => assert!(e.to_string().contains("cannot connect") || e.kind() == ErrorKind::TimedOut, "{e}"),
        Ok(mut plain) => {
            let _ = plain.send(Ccf, b"hello".to_vec());
            assert!(plain.recv_timeout(WAIT).is_err(), "a plain client gets nothing through");
        }
    }

    // None of them became a connection, and a trusting instance gets in and through.
    assert_eq!(ccf.connections(), Vec::new());
    assert_eq!(ccf.counts().connections, 0);
    let mut good = GrpcInstance::connect_tls(&url, ca.pem.as_bytes(), None).unwrap();
    assert_eq!(ccf.connections(), vec![ConnectionId(0)]);
    round_trip(&mut ccf, &mut good, ConnectionId(0), b"still serving".to_vec());
    assert_eq!(ccf.recv_timeout(Duration::from_millis(50)).unwrap(), None, "nothing from the refused ones");
}

#[test]
fn pem_that_is_not_a_certificate_or_key_of_its_kind_is_bad_input() {
    let ca = new_ca("dfma test CA");
    let good = server_tls(&ca);
    let another = server_tls(&ca);
    let garbage = b"this is not PEM".to_vec();
    let broken = b"-----BEGIN CERTIFICATE-----\nnot base64 !!\n-----END CERTIFICATE-----\n".to_vec();
    for (tls, needle) in [
        (ServerTls::new(garbage.clone(), good.key_pem.clone()), "certificate chain"),
        (ServerTls::new(broken.clone(), good.key_pem.clone()), "certificate chain"),
        (ServerTls::new(Vec::new(), good.key_pem.clone()), "certificate chain"),
        (ServerTls::new(good.cert_chain_pem.clone(), garbage.clone()), "private key"),
        // A certificate where the key should be.
        (ServerTls::new(good.cert_chain_pem.clone(), good.cert_chain_pem.clone()), "private key"),
        // Both well formed, but the key is not the certificate's.
        (ServerTls::new(good.cert_chain_pem.clone(), another.key_pem.clone()), "not the key of"),
    ] {
        let e = GrpcCcf::serve_tls("127.0.0.1:0", 4, &tls).expect_err(needle);
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert_eq!(tls.check().unwrap_err().to_string(), e.to_string(), "check says what serving says");
        assert!(e.to_string().contains(needle), "{e} lacks {needle:?}");
        assert_eq!(e.to_string().lines().count(), 1, "{e}");
    }

    good.check().unwrap();
    check_ca_pem(ca.pem.as_bytes()).unwrap();
    let ccf = GrpcCcf::serve_tls("127.0.0.1:0", 4, &good).unwrap();
    let url = https(&ccf);
    let plain_url = url.replace("https://", "http://");
    for (ca_pem, url, domain, needle) in [
        (garbage.as_slice(), url.as_str(), None, "CA certificate"),
        (broken.as_slice(), url.as_str(), None, "CA certificate"),
        (good.key_pem.as_slice(), url.as_str(), None, "CA certificate"),
        (ca.pem.as_bytes(), plain_url.as_str(), None, "https://"),
        (ca.pem.as_bytes(), url.as_str(), Some("not a name!"), "TLS settings"),
    ] {
        let e = GrpcInstance::connect_tls(url, ca_pem, domain).expect_err(needle);
        if needle == "CA certificate" {
            assert_eq!(check_ca_pem(ca_pem).unwrap_err().to_string(), e.to_string());
        }
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains(needle), "{e} lacks {needle:?}");
        assert_eq!(e.to_string().lines().count(), 1, "{e}");
    }
    assert_eq!(ccf.counts().connections, 0);
}
