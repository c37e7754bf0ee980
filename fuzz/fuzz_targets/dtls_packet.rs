//! DTLS datagrams into tessera-dtls's server instance, before and after a real handshake: no
//! panic, outputs always drain to a `Timeout`, and nothing unauthenticated ends an established
//! session.
//!
//! Input: one mode byte (bit 0: handshake with a client of ours first), then datagrams as
//! `[len_hi, len_lo, bytes..]`.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use str0m::crypto::dtls::{DtlsCert, DtlsInstance, DtlsOutput, DtlsProvider, DtlsVersion};

fn certs() -> &'static (DtlsCert, DtlsCert) {
    static CERTS: OnceLock<(DtlsCert, DtlsCert)> = OnceLock::new();
    CERTS.get_or_init(|| {
        let v = tessera_dtls::SESSION_CERT_VALIDITY;
        (
            tessera_dtls::generate_dtls_cert(v).unwrap(),
            tessera_dtls::generate_dtls_cert(v).unwrap(),
        )
    })
}

fn instance(cert: &DtlsCert, now: Instant, active: bool) -> Box<dyn DtlsInstance> {
    let mut i = tessera_dtls::DTLS_PROVIDER
        .new_dtls(cert, now, DtlsVersion::Dtls12, Some(1150))
        .unwrap();
    i.set_active(active);
    i.handle_timeout(now).unwrap();
    i
}

/// Polls until `Timeout`, returning datagrams and whether `Connected` came out.
fn drain(i: &mut dyn DtlsInstance) -> (Vec<Vec<u8>>, bool) {
    let mut buf = vec![0u8; 2000];
    let mut out = Vec::new();
    let mut connected = false;
    for _ in 0..1000 {
        match i.poll_output(&mut buf) {
            DtlsOutput::Packet(p) => out.push(p.to_vec()),
            DtlsOutput::Connected => connected = true,
            DtlsOutput::Timeout(_) => return (out, connected),
            _ => {}
        }
    }
    panic!("poll_output did not reach Timeout");
}

fn datagrams(mut data: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let (len, rest) = data.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*len)).min(rest.len());
        let (d, rest) = rest.split_at(len);
        data = rest;
        Some(d)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let now = Instant::now();
    let (cc, sc) = certs();
    let mut server = instance(sc, now, false);
    let established = mode & 1 == 1;
    let mut client = None;
    if established {
        let mut c = instance(cc, now, true);
        let _ = c.handle_packet(&[]);
        let (mut c_done, mut s_done) = (false, false);
        for _ in 0..10 {
            let (from_c, cd) = drain(&mut *c);
            for d in from_c {
                server.handle_packet(&d).unwrap();
            }
            let (from_s, sd) = drain(&mut *server);
            for d in from_s {
                c.handle_packet(&d).unwrap();
            }
            c_done |= cd;
            s_done |= sd;
        }
        let (_, cd) = drain(&mut *c);
        assert!(c_done | cd && s_done, "in-memory handshake completes");
        client = Some(c);
    }

    for d in datagrams(rest) {
        let _ = server.handle_packet(d);
        drain(&mut *server);
    }
    let _ = server.handle_timeout(now + Duration::from_secs(2));
    drain(&mut *server);

    if let Some(mut c) = client {
        // The session survives: the server can still protect data and the client read it.
        assert_eq!(server.send_application_data(b"alive").unwrap(), 5);
        let (out, _) = drain(&mut *server);
        let mut buf = vec![0u8; 2000];
        let mut got = false;
        for d in out {
            c.handle_packet(&d).unwrap();
            while let DtlsOutput::ApplicationData(x) | DtlsOutput::Packet(x) =
                c.poll_output(&mut buf)
            {
                got |= x == b"alive";
            }
        }
        assert!(got, "application data still flows after fuzz input");
    }
});
