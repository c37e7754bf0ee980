//! Handshakes in memory: ours with ours, with a webrtcbin-like OpenSSL peer (RSA certificate,
//! AES128_CM_SHA1_80 only), and with str0m's default DTLS (dimpl); lost flights; close.

mod common;

use std::time::{Duration, Instant};

use common::{Clock, Endpoint, Instance, RawOpenssl, handshake, no_loss, run};
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::ssl::{Ssl, SslContextBuilder, SslMethod, SslVerifyMode};
use openssl::x509::{X509, X509NameBuilder};
use str0m::crypto::dtls::{DtlsProvider, DtlsVersion, SrtpProfile};
use tessera_dtls::OpensslDtlsProvider;

fn fingerprint_input(e: &dyn Endpoint) -> &[u8] {
    e.seen().peer_cert.as_deref().expect("peer certificate")
}

fn assert_same_keys(a: &dyn Endpoint, b: &dyn Endpoint) -> SrtpProfile {
    let (ka, pa) = a.seen().keys.clone().expect("keys on a");
    let (kb, pb) = b.seen().keys.clone().expect("keys on b");
    assert_eq!(pa, pb);
    assert_eq!(ka, kb, "both ends export the same keying material");
    assert_eq!(ka.len(), pa.keying_material_len());
    pa
}

#[test]
fn ours_with_ours_agrees_on_keys_and_aes_128_gcm() {
    let now = Instant::now();
    let (cc, sc) = (common::our_cert(), common::our_cert());
    let mut client = common::ours(&cc, now);
    let mut server = common::ours(&sc, now);
    handshake(&mut client, &mut server, now, &mut no_loss()).unwrap();

    assert!(client.seen.connected && server.seen.connected);
    assert_eq!(fingerprint_input(&client), &sc.certificate[..]);
    assert_eq!(fingerprint_input(&server), &cc.certificate[..]);
    assert_eq!(
        assert_same_keys(&client, &server),
        SrtpProfile::AEAD_AES_128_GCM
    );
    assert!(client.inner.is_active() && !server.inner.is_active());
    assert!(client.inner.protocol_version().is_some());

    // SCTP rides on application data, both ways.
    let got = common::app_data(&mut client, &mut server, b"sctp from client");
    assert_eq!(got, vec![b"sctp from client".to_vec()]);
    let got = common::app_data(&mut server, &mut client, b"sctp from server");
    assert_eq!(got, vec![b"sctp from server".to_vec()]);
}

#[test]
fn application_data_before_the_handshake_is_not_accepted() {
    let now = Instant::now();
    let mut client = common::ours(&common::our_cert(), now);
    client.start(true, now);
    assert_eq!(client.inner.send_application_data(b"early").unwrap(), 0);
    assert_eq!(client.inner.send_application_data(b"").unwrap(), 0);
}

/// Regression: OpenSSL 3.0 packs a flight up to the MTU without counting AES-GCM's 24 bytes
/// (explicit nonce and tag) for the encrypted Finished, and sent 315 bytes with MTU 300.
#[test]
fn datagrams_respect_the_mtu() {
    let now = Instant::now();
    let cert = common::our_cert();
    let p = OpensslDtlsProvider::new();
    let mk = || Instance::new(Box::new(p.new_instance(&cert, now, 300).unwrap()));
    let (mut client, mut server) = (mk(), mk());
    let mut max = 0;
    let mut sizes = |_: bool, _: usize, d: &[u8]| {
        max = max.max(d.len());
        false
    };
    handshake(&mut client, &mut server, now, &mut sizes).unwrap();
    assert!(max <= 300, "largest datagram {max} bytes with MTU 300");
    assert!(max > 200, "flights are packed up to the MTU ({max})");
}

fn rsa_2048_cert() -> (X509, PKey<Private>) {
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "webrtcbin").unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    let serial = BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap();
    b.set_serial_number(&serial).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    let nb = Asn1Time::days_from_now(0).unwrap();
    let na = Asn1Time::days_from_now(30).unwrap();
    b.set_not_before(&nb).unwrap();
    b.set_not_after(&na).unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    (b.build(), key)
}

/// An OpenSSL endpoint set up the way GStreamer 1.22's webrtcbin (gst-plugins-bad `dtls`) sets
/// up its own: RSA-2048 self-signed certificate, a broad cipher list, only
/// SRTP_AES128_CM_SHA1_80, and a peer certificate required but not verified.
fn webrtcbin_like(cert: &X509, key: &PKey<Private>) -> RawOpenssl {
    let mut ctx = SslContextBuilder::new(SslMethod::dtls()).unwrap();
    ctx.set_cipher_list("ALL:!ADH:!LOW:!EXP:!MD5:!RC4:@STRENGTH")
        .unwrap();
    ctx.set_tlsext_use_srtp("SRTP_AES128_CM_SHA1_80").unwrap();
    ctx.set_verify_callback(
        SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT,
        |_, _| true,
    );
    ctx.set_certificate(cert).unwrap();
    ctx.set_private_key(key).unwrap();
    RawOpenssl::new(Ssl::new(&ctx.build()).unwrap())
}

#[test]
fn webrtcbin_like_rsa_client_selects_aes128_cm_sha1_80() {
    let now = Instant::now();
    let (rsa_cert, rsa_key) = rsa_2048_cert();
    let mut client = webrtcbin_like(&rsa_cert, &rsa_key);
    let server_cert = common::our_cert();
    let mut server = common::ours(&server_cert, now);
    handshake(&mut client, &mut server, now, &mut no_loss()).unwrap();

    assert_eq!(
        assert_same_keys(&client, &server),
        SrtpProfile::AES128_CM_SHA1_80
    );
    // The client presented its RSA certificate (str0m fingerprints exactly these bytes).
    assert_eq!(fingerprint_input(&server), &rsa_cert.to_der().unwrap()[..]);
    assert_eq!(fingerprint_input(&client), &server_cert.certificate[..]);
    let cipher = client.stream.ssl().current_cipher().unwrap().name();
    assert!(cipher.starts_with("ECDHE-ECDSA-AES128-GCM"), "{cipher}");
}

#[test]
fn ours_as_client_against_an_rsa_server() {
    // webrtcbin answering `a=setup:passive`: its server certificate is RSA.
    let now = Instant::now();
    let (rsa_cert, rsa_key) = rsa_2048_cert();
    let mut server = webrtcbin_like(&rsa_cert, &rsa_key);
    let mut client = common::ours(&common::our_cert(), now);
    handshake(&mut client, &mut server, now, &mut no_loss()).unwrap();
    assert_eq!(
        assert_same_keys(&client, &server),
        SrtpProfile::AES128_CM_SHA1_80
    );
    assert_eq!(fingerprint_input(&client), &rsa_cert.to_der().unwrap()[..]);
    let cipher = server.stream.ssl().current_cipher().unwrap().name();
    assert!(cipher.starts_with("ECDHE-RSA-AES128-GCM"), "{cipher}");
}

#[test]
fn a_client_without_a_certificate_is_refused() {
    let now = Instant::now();
    let mut ctx = SslContextBuilder::new(SslMethod::dtls()).unwrap();
    ctx.set_tlsext_use_srtp("SRTP_AES128_CM_SHA1_80").unwrap();
    ctx.set_verify(SslVerifyMode::NONE);
    let mut client = RawOpenssl::new(Ssl::new(&ctx.build()).unwrap());
    let mut server = common::ours(&common::our_cert(), now);
    let r = handshake(&mut client, &mut server, now, &mut no_loss());
    assert!(
        r.is_err(),
        "handshake must fail without a client certificate"
    );
    assert!(!server.seen.connected && server.seen.keys.is_none());
}

#[test]
fn dimpl_client_with_our_server() {
    let now = Instant::now();
    let (cc, sc) = (common::dimpl_cert(), common::our_cert());
    let mut client = common::dimpl(&cc, now);
    let mut server = common::ours(&sc, now);
    handshake(&mut client, &mut server, now, &mut no_loss()).unwrap();
    assert_eq!(fingerprint_input(&client), &sc.certificate[..]);
    assert_eq!(fingerprint_input(&server), &cc.certificate[..]);
    assert_eq!(
        assert_same_keys(&client, &server),
        SrtpProfile::AEAD_AES_128_GCM
    );
    let got = common::app_data(&mut client, &mut server, b"dcep");
    assert_eq!(got, vec![b"dcep".to_vec()]);
    let got = common::app_data(&mut server, &mut client, b"dcep ack");
    assert_eq!(got, vec![b"dcep ack".to_vec()]);
}

#[test]
fn our_client_with_dimpl_server() {
    let now = Instant::now();
    let (cc, sc) = (common::our_cert(), common::dimpl_cert());
    let mut client = common::ours(&cc, now);
    let mut server = common::dimpl(&sc, now);
    handshake(&mut client, &mut server, now, &mut no_loss()).unwrap();
    assert_eq!(fingerprint_input(&client), &sc.certificate[..]);
    assert_eq!(fingerprint_input(&server), &cc.certificate[..]);
    let profile = assert_same_keys(&client, &server);
    // dimpl, as the server, applies its own preference (AES-256-GCM first).
    assert_eq!(profile, SrtpProfile::AEAD_AES_256_GCM);
    let got = common::app_data(&mut client, &mut server, b"dcep");
    assert_eq!(got, vec![b"dcep".to_vec()]);
}

#[test]
fn our_shared_cert_works_with_dimpl_too() {
    // A server may hand `shared_dtls_cert()` to an Rtc on str0m's default provider.
    let now = Instant::now();
    let cert = tessera_dtls::shared_dtls_cert();
    let mut client = common::ours(&common::our_cert(), now);
    let mut server = common::dimpl(&cert, now);
    handshake(&mut client, &mut server, now, &mut no_loss()).unwrap();
    assert_eq!(fingerprint_input(&client), &cert.certificate[..]);
}

/// A provider with a short first retransmission timeout, so tests that lose flights finish in
/// milliseconds of real time (OpenSSL's timer reads the wall clock).
static FAST_RETRANSMIT: OpensslDtlsProvider =
    OpensslDtlsProvider::with_initial_retransmit(Duration::from_millis(20));

fn fast(cert: &str0m::crypto::dtls::DtlsCert, now: Instant) -> Instance {
    Instance::new(
        FAST_RETRANSMIT
            .new_dtls(cert, now, DtlsVersion::Dtls12, Some(1150))
            .unwrap(),
    )
}

#[test]
fn lost_client_hellos_are_retransmitted() {
    let start = Instant::now();
    let before = tessera_dtls::counters().retransmissions;
    let mut client = fast(&common::our_cert(), start);
    let mut server = fast(&common::our_cert(), start);
    let mut loss = |from_client: bool, i: usize, _: &[u8]| from_client && i < 2;
    let took = run(&mut client, &mut server, start, &mut loss, Clock::Real).unwrap();
    assert_same_keys(&client, &server);
    assert!(tessera_dtls::counters().retransmissions >= before + 2);
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn lost_server_flight_is_retransmitted() {
    let start = Instant::now();
    let mut client = fast(&common::our_cert(), start);
    let mut server = fast(&common::our_cert(), start);
    // The server's first flight (ServerHello .. ServerHelloDone) is lost once.
    let mut loss = |from_client: bool, i: usize, _: &[u8]| !from_client && i == 0;
    run(&mut client, &mut server, start, &mut loss, Clock::Real).unwrap();
    assert_same_keys(&client, &server);
}

/// Content type of a datagram's first record.
const CHANGE_CIPHER_SPEC: u8 = 20;

#[test]
fn lost_final_flight_is_recovered() {
    // The server's ChangeCipherSpec + Finished are lost: the client retransmits its flight,
    // and OpenSSL's server answers the retransmitted Finished with its own again.
    let start = Instant::now();
    let mut client = fast(&common::our_cert(), start);
    let mut server = fast(&common::our_cert(), start);
    let mut dropped = false;
    let mut loss = |from_client: bool, _: usize, d: &[u8]| {
        let lost = !from_client && !dropped && d.first() == Some(&CHANGE_CIPHER_SPEC);
        dropped |= lost;
        lost
    };
    run(&mut client, &mut server, start, &mut loss, Clock::Real).unwrap();
    assert_same_keys(&client, &server);
}

#[test]
fn dimpl_client_recovers_from_our_lost_flight() {
    let start = Instant::now();
    let mut client = common::dimpl(&common::dimpl_cert(), start);
    let mut server = fast(&common::our_cert(), start);
    let mut loss = |from_client: bool, i: usize, _: &[u8]| !from_client && i == 0;
    run(&mut client, &mut server, start, &mut loss, Clock::Real).unwrap();
    assert_same_keys(&client, &server);
}

#[test]
fn our_client_recovers_when_dimpl_loses_its_final_flight() {
    let start = Instant::now();
    let mut client = fast(&common::our_cert(), start);
    let mut server = common::dimpl(&common::dimpl_cert(), start);
    let mut dropped = false;
    let mut loss = |from_client: bool, _: usize, d: &[u8]| {
        let lost = !from_client && !dropped && d.first() == Some(&CHANGE_CIPHER_SPEC);
        dropped |= lost;
        lost
    };
    run(&mut client, &mut server, start, &mut loss, Clock::Real).unwrap();
    assert_same_keys(&client, &server);
}

/// Regression: with a first timeout under OpenSSL's 15 ms "already expired" threshold the
/// ClientHello was retransmitted inside `SSL_connect` itself until OpenSSL's retransmission
/// limit failed the handshake. The provider clamps the initial timeout to 20 ms.
#[test]
fn initial_retransmit_is_clamped_above_opensslls_expiry_threshold() {
    static TOO_SHORT: OpensslDtlsProvider =
        OpensslDtlsProvider::with_initial_retransmit(Duration::from_micros(1));
    assert_eq!(TOO_SHORT.initial_retransmit(), Duration::from_millis(20));
    let now = Instant::now();
    let mut client = Instance::new(
        TOO_SHORT
            .new_dtls(&common::our_cert(), now, DtlsVersion::Dtls12, Some(1150))
            .unwrap(),
    );
    client.start(true, now);
    assert_eq!(client.drain().len(), 1, "one ClientHello");
    let mut server = common::ours(&common::our_cert(), now);
    let mut c2 = Instance::new(
        TOO_SHORT
            .new_dtls(&common::our_cert(), now, DtlsVersion::Dtls12, Some(1150))
            .unwrap(),
    );
    handshake(&mut c2, &mut server, now, &mut no_loss()).unwrap();
}

#[test]
fn close_notify_reaches_the_peer() {
    let now = Instant::now();
    let mut client = common::ours(&common::our_cert(), now);
    let mut server = common::ours(&common::our_cert(), now);
    handshake(&mut client, &mut server, now, &mut no_loss()).unwrap();
    client.inner.close().unwrap();
    assert!(client.inner.is_closing());
    for d in client.drain() {
        server.receive(&d).unwrap();
    }
    assert!(client.inner.is_closed());
    server.drain();
    assert!(server.seen.close_notify);
    assert!(server.inner.is_closing());
    // The server answered with its own close_notify.
    for d in server.drain() {
        let _ = client.receive(&d);
    }
    assert!(client.inner.send_application_data(b"late").is_err());
}

#[test]
fn handshake_time_in_memory() {
    // Reported in docs/DTLS.md: wall time of complete in-memory handshakes (both ends in this
    // thread, so the figure is the CPU time of client plus server).
    type Make = fn(&str0m::crypto::dtls::DtlsCert, Instant) -> Instance;
    let pairs: [(&str, Make, Make); 3] = [
        ("ours client / ours server", common::ours, common::ours),
        ("dimpl client / ours server", common::dimpl, common::ours),
        ("dimpl client / dimpl server", common::dimpl, common::dimpl),
    ];
    let certs = (common::our_cert(), common::our_cert());
    for (name, client, server) in pairs {
        let mut times = Vec::new();
        for _ in 0..21 {
            let now = Instant::now();
            let t = Instant::now();
            let mut c = client(&certs.0, now);
            let mut s = server(&certs.1, now);
            handshake(&mut c, &mut s, now, &mut no_loss()).unwrap();
            times.push(t.elapsed());
        }
        times.sort();
        eprintln!(
            "in-memory DTLS handshake, {name}: min {:?}, median {:?}, max {:?}",
            times[0],
            times[times.len() / 2],
            times[times.len() - 1]
        );
    }
}
