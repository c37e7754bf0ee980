//! Cost of SRTP protection per packet, against a raw aws-lc AES-128-GCM seal of the same size.
//!
//! Not a correctness test: run it in release and read the table.
//!
//! ```sh
//! cargo test --release -p tessera-rtp --test bench -- --ignored --nocapture
//! ```
//!
//! Every operation copies a fresh 1212-byte packet (12-byte header, 1200-byte payload) into
//! its work buffer before transforming it, as a forwarder would after receiving; the copy
//! alone is reported too. The machine is shared, so operations run interleaved round by
//! round and the ratio to the raw seal is taken per round (median over rounds), next to the
//! best and median absolute figures.

// A measurement report: its output is its stdout.
#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::time::Instant;

use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{AES_128, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;
use tessera_rtp::rtp::{self, RtpWriter};
use tessera_rtp::srtp::{SrtpContext, SrtpProfile, split_keying_material};

const PAYLOAD: usize = 1200;
const ITERS: u32 = 20_000;
const ROUNDS: usize = 25;

fn template() -> (Vec<u8>, usize) {
    let mut buf = vec![0u8; 1500];
    let w = RtpWriter {
        payload_type: 96,
        sequence_number: 1,
        timestamp: 90_000,
        ssrc: 0x0BAD_CAFE,
        ..RtpWriter::default()
    };
    let n = w.write_packet(&[0x5C; PAYLOAD], &mut buf).expect("fits");
    (buf, n)
}

type Op<'a> = (String, Box<dyn FnMut(u32) + 'a>);

fn profile_ops<'a>(tpl: &'a [u8], len: usize, profile: SrtpProfile) -> Vec<Op<'a>> {
    let km = vec![0x42; profile.keying_material_len()];
    let (client, _) = split_keying_material(profile, &km).expect("keys");
    let mut tx = SrtpContext::new(&client).expect("context");
    let mut buf = vec![0u8; 1500];
    let protect = move |i: u32| {
        buf[..len].copy_from_slice(&tpl[..len]);
        rtp::set_sequence_number(&mut buf, i as u16).expect("header");
        black_box(tx.protect_rtp(&mut buf, len).expect("protect"));
    };

    // Unprotect: a window of pre-protected packets, unprotected in order; a fresh receiver
    // (one key derivation) each time the window is used up.
    const N: usize = 4096;
    let mut sender = SrtpContext::new(&client).expect("context");
    let plen = len + profile.rtp_overhead();
    let mut wire = vec![0u8; N * plen];
    for (k, chunk) in wire.chunks_mut(plen).enumerate() {
        let mut b = [0u8; 1500];
        b[..len].copy_from_slice(&tpl[..len]);
        rtp::set_sequence_number(&mut b, k as u16).expect("header");
        sender.protect_rtp(&mut b, len).expect("protect");
        chunk.copy_from_slice(&b[..plen]);
    }
    let mut rx = SrtpContext::new(&client).expect("context");
    let mut next = 0usize;
    let mut buf = vec![0u8; 1500];
    let unprotect = move |_: u32| {
        if next == N {
            rx = SrtpContext::new(&client).expect("context");
            next = 0;
        }
        buf[..plen].copy_from_slice(&wire[next * plen..(next + 1) * plen]);
        black_box(rx.unprotect_rtp(&mut buf[..plen]).expect("unprotect"));
        next += 1;
    };
    vec![
        (format!("protect_rtp {profile:?}"), Box::new(protect)),
        (format!("unprotect_rtp {profile:?}"), Box::new(unprotect)),
    ]
}

#[test]
#[ignore = "timing report; run in release with --ignored --nocapture"]
fn protect_rtp_cost() {
    let (tpl, len) = template();
    let tpl = &tpl[..];
    let mut ops: Vec<Op<'_>> = Vec::new();

    let mut buf = vec![0u8; 1500];
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &[7u8; 16]).expect("key"));
    ops.push((
        "raw aws-lc AES-128-GCM seal".into(),
        Box::new(move |i: u32| {
            buf[..len].copy_from_slice(&tpl[..len]);
            let mut nonce = [0u8; 12];
            nonce[8..].copy_from_slice(&i.to_be_bytes());
            let (head, body) = buf.split_at_mut(12);
            let tag = key
                .seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(&*head),
                    &mut body[..PAYLOAD],
                )
                .expect("seal");
            body[PAYLOAD..PAYLOAD + 16].copy_from_slice(tag.as_ref());
            black_box(&mut buf);
        }),
    ));

    let mut buf = vec![0u8; 1500];
    ops.push((
        "copy packet only".into(),
        Box::new(move |i: u32| {
            buf[..len].copy_from_slice(&tpl[..len]);
            buf[2..4].copy_from_slice(&(i as u16).to_be_bytes());
            black_box(&mut buf);
        }),
    ));

    // The two halves of the AES-CM/HMAC-SHA1 profile, raw.
    let mut buf = vec![0u8; 1500];
    let ctr =
        EncryptingKey::ctr(UnboundCipherKey::new(&AES_128, &[7u8; 16]).expect("key")).expect("ctr");
    ops.push((
        "raw aws-lc AES-128-CTR".into(),
        Box::new(move |i: u32| {
            buf[..len].copy_from_slice(&tpl[..len]);
            let mut iv = [0u8; 16];
            iv[8..12].copy_from_slice(&i.to_be_bytes());
            ctr.less_safe_encrypt(
                &mut buf[12..len],
                EncryptionContext::Iv128(FixedLength::from(iv)),
            )
            .expect("ctr");
            black_box(&mut buf);
        }),
    ));
    let mut buf = vec![0u8; 1500];
    let mac = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &[9u8; 20]);
    ops.push((
        "raw aws-lc HMAC-SHA1 (packet + ROC)".into(),
        Box::new(move |i: u32| {
            buf[..len].copy_from_slice(&tpl[..len]);
            let mut ctx = hmac::Context::with_key(&mac);
            ctx.update(&buf[..len]);
            ctx.update(&i.to_be_bytes());
            black_box(ctx.sign());
        }),
    ));

    for profile in [
        SrtpProfile::AeadAes128Gcm,
        SrtpProfile::AeadAes256Gcm,
        SrtpProfile::Aes128CmSha1_80,
    ] {
        ops.extend(profile_ops(tpl, len, profile));
    }

    // Warm up, then interleave.
    for (_, f) in ops.iter_mut() {
        for i in 0..ITERS {
            f(i);
        }
    }
    let mut times = vec![Vec::with_capacity(ROUNDS); ops.len()];
    for r in 0..ROUNDS {
        for (k, (_, f)) in ops.iter_mut().enumerate() {
            let base = (r as u32 + 1) * ITERS;
            let t = Instant::now();
            for i in 0..ITERS {
                f(base + i);
            }
            times[k].push(t.elapsed().as_nanos() as f64 / f64::from(ITERS));
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!();
    println!(
        "| operation ({PAYLOAD}-byte payload) | best ns/packet | median ns/packet | median ratio to raw seal |"
    );
    println!("|---|---|---|---|");
    for k in 0..ops.len() {
        let mut ratios: Vec<f64> = times[k].iter().zip(&times[0]).map(|(a, b)| a / b).collect();
        let ratio = median(&mut ratios);
        let mut t = times[k].clone();
        let med = median(&mut t);
        println!("| {} | {:.0} | {med:.0} | {ratio:.2} |", ops[k].0, t[0]);
    }
    println!();
}
