//! Peer input never panics: arbitrary bytes, and well-framed records with arbitrary contents,
//! into `handle_packet` before and after the handshake.

mod common;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{Endpoint, Instance, handshake, no_loss};
use proptest::prelude::*;
use str0m::crypto::dtls::DtlsCert;
use tessera_dtls::record::{self, ContentType, RecordHeader};

fn certs() -> &'static (DtlsCert, DtlsCert) {
    static CERTS: OnceLock<(DtlsCert, DtlsCert)> = OnceLock::new();
    CERTS.get_or_init(|| (common::our_cert(), common::our_cert()))
}

/// Datagrams of 1..4 records with arbitrary types (of the four), versions, epochs, sequence
/// numbers and bodies: these pass the framing check and reach OpenSSL.
fn framed_datagram() -> impl Strategy<Value = Vec<u8>> {
    let rec = (
        prop::sample::select(vec![
            ContentType::ChangeCipherSpec,
            ContentType::Alert,
            ContentType::Handshake,
            ContentType::ApplicationData,
        ]),
        prop::sample::select(vec![record::VERSION_DTLS_1_0, record::VERSION_DTLS_1_2]),
        0u16..3,
        0u64..64,
        prop::collection::vec(any::<u8>(), 0..200),
    );
    prop::collection::vec(rec, 1..4).prop_map(|recs| {
        let mut d = Vec::new();
        for (content_type, version, epoch, sequence, body) in recs {
            let h = RecordHeader {
                content_type,
                version,
                epoch,
                sequence,
                length: 0,
            };
            record::write_record(&mut d, &h, &body);
        }
        d
    })
}

/// A handshake message header (ClientHello, type 1) with arbitrary fields and body, in an
/// epoch-0 record: reaches OpenSSL's handshake parser.
fn handshake_datagram() -> impl Strategy<Value = Vec<u8>> {
    (
        0u8..25,
        any::<u16>(),
        any::<u32>(),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(msg_type, msg_seq, frag, body)| {
            let mut hs = vec![msg_type];
            hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
            hs.extend_from_slice(&msg_seq.to_be_bytes());
            hs.extend_from_slice(&(frag & 0xff).to_be_bytes()[1..]);
            hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
            hs.extend_from_slice(&body);
            let h = RecordHeader {
                content_type: ContentType::Handshake,
                version: record::VERSION_DTLS_1_2,
                epoch: 0,
                sequence: 0,
                length: 0,
            };
            let mut d = Vec::new();
            record::write_record(&mut d, &h, &hs);
            d
        })
}

fn any_datagram() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        framed_datagram(),
        handshake_datagram(),
    ]
}

/// Feeds `datagrams` to `e`, polls it dry and runs its timer; nothing may panic.
fn feed(e: &mut Instance, datagrams: &[Vec<u8>], now: Instant) {
    for d in datagrams {
        let _ = e.receive(d);
        e.drain();
    }
    let _ = e.timeout(now + Duration::from_secs(2));
    e.drain();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn garbage_before_the_handshake_never_panics(
        datagrams in prop::collection::vec(any_datagram(), 1..6),
        as_client in any::<bool>(),
    ) {
        let now = Instant::now();
        let mut e = common::ours(&certs().0, now);
        e.start(as_client, now);
        e.drain();
        feed(&mut e, &datagrams, now);
    }

    #[test]
    fn garbage_after_the_handshake_never_panics_and_the_connection_survives(
        to_client in prop::collection::vec(any_datagram(), 1..6),
        to_server in prop::collection::vec(any_datagram(), 1..6),
    ) {
        let now = Instant::now();
        let mut client = common::ours(&certs().0, now);
        let mut server = common::ours(&certs().1, now);
        handshake(&mut client, &mut server, now, &mut no_loss()).unwrap();
        feed(&mut client, &to_client, now);
        feed(&mut server, &to_server, now);
        // Nothing the garbage did (unauthenticated records are dropped) breaks the session.
        prop_assert_eq!(
            common::app_data(&mut client, &mut server, b"still here"),
            vec![b"still here".to_vec()]
        );
        prop_assert_eq!(
            common::app_data(&mut server, &mut client, b"me too"),
            vec![b"me too".to_vec()]
        );
    }

    #[test]
    fn garbage_mid_handshake_never_panics(
        datagrams in prop::collection::vec(any_datagram(), 1..4),
        after in 0usize..4,
    ) {
        // Garbage injected into the server after `after` genuine client datagrams.
        let now = Instant::now();
        let mut client = common::ours(&certs().0, now);
        let mut server = common::ours(&certs().1, now);
        client.start(true, now);
        server.start(false, now);
        let mut delivered = 0;
        for _ in 0..6 {
            for d in client.drain() {
                if delivered == after {
                    feed(&mut server, &datagrams, now);
                }
                delivered += 1;
                let _ = server.receive(&d);
            }
            for d in server.drain() {
                let _ = client.receive(&d);
            }
        }
    }
}

#[test]
fn malformed_datagrams_are_errors_and_counted() {
    let now = Instant::now();
    let mut e = common::ours(&certs().0, now);
    e.start(false, now);
    let before = tessera_dtls::counters().malformed_datagrams;
    assert!(e.receive(&[0x16, 0xfe]).is_err());
    assert!(e.receive(&[0x30; 40]).is_err());
    assert!(tessera_dtls::counters().malformed_datagrams >= before + 2);
    // The instance still works afterwards.
    let mut client = common::ours(&certs().1, now);
    handshake(&mut client, &mut e, now, &mut no_loss()).unwrap();
}

fn epoch_1_record(len: usize) -> Vec<u8> {
    let mut d = vec![23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9];
    d.extend_from_slice(&(len as u16).to_be_bytes());
    d.extend((0..len).map(|i| (i * 7 + 3) as u8));
    d
}

/// A raw OpenSSL client that offers only `cipher`, with our ECDSA certificate.
fn client_with_cipher(cipher: &str) -> common::RawOpenssl {
    use openssl::ssl::{Ssl, SslContextBuilder, SslMethod, SslVerifyMode};
    let mut ctx = SslContextBuilder::new(SslMethod::dtls()).unwrap();
    ctx.set_cipher_list(cipher).unwrap();
    ctx.set_tlsext_use_srtp("SRTP_AES128_CM_SHA1_80").unwrap();
    ctx.set_verify_callback(SslVerifyMode::PEER, |_, _| true);
    let c = &certs().0;
    ctx.set_certificate(&openssl::x509::X509::from_der(&c.certificate).unwrap())
        .unwrap();
    ctx.set_private_key(&openssl::pkey::PKey::private_key_from_der(&c.private_key).unwrap())
        .unwrap();
    common::RawOpenssl::new(Ssl::new(&ctx.build()).unwrap())
}

/// Regression: OpenSSL 3.0 failed the connection (and sent an alert) on an epoch-1 record
/// shorter than the AEAD expansion (1..=23 bytes for AES-GCM, 1..=15 for ChaCha20-Poly1305)
/// instead of discarding it, so one spoofed datagram ended a session.
#[test]
fn short_encrypted_records_are_rejected_and_the_connection_survives() {
    let now = Instant::now();
    let mut client = common::ours(&certs().0, now);
    let mut server = common::ours(&certs().1, now);
    handshake(&mut client, &mut server, now, &mut no_loss()).unwrap();
    for len in 0..24 {
        assert!(
            server.receive(&epoch_1_record(len)).is_err(),
            "length {len}"
        );
        assert!(server.drain().is_empty(), "no alert for length {len}");
    }
    for len in [24, 25, 40, 100] {
        assert!(server.receive(&epoch_1_record(len)).is_ok(), "length {len}");
    }
    assert_eq!(
        common::app_data(&mut client, &mut server, b"alive"),
        vec![b"alive".to_vec()]
    );
    assert_eq!(
        common::app_data(&mut server, &mut client, b"alive"),
        vec![b"alive".to_vec()]
    );
}

#[test]
fn short_chacha20_records_are_rejected_and_the_connection_survives() {
    let now = Instant::now();
    let mut client = client_with_cipher("ECDHE-ECDSA-CHACHA20-POLY1305");
    let mut server = common::ours(&certs().1, now);
    handshake(&mut client, &mut server, now, &mut no_loss()).unwrap();
    for len in 0..16 {
        assert!(
            server.receive(&epoch_1_record(len)).is_err(),
            "length {len}"
        );
    }
    for len in [16, 17, 40] {
        assert!(server.receive(&epoch_1_record(len)).is_ok(), "length {len}");
    }
    assert_eq!(server.inner.send_application_data(b"alive").unwrap(), 5);
    let out = server.drain();
    client.stream.get_mut().incoming.extend(out);
    let mut buf = [0u8; 64];
    let n = client.stream.ssl_read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"alive");
}

#[test]
fn a_peer_offering_only_aes_cbc_is_refused() {
    // CBC suites are off: with encrypt-then-MAC OpenSSL fails the connection on any forged
    // record (measured: every epoch-1 record of 1..=99 random bytes was fatal).
    let now = Instant::now();
    let mut client = client_with_cipher("ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA");
    let mut server = common::ours(&certs().1, now);
    assert!(handshake(&mut client, &mut server, now, &mut no_loss()).is_err());
}
