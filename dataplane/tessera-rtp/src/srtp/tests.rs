use super::*;
use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn session(profile: SrtpProfile, key: &str, salt: &str) -> SessionKeys {
    let (k, s) = (hex(key), hex(salt));
    let mut keys = SessionKeys {
        enc: [0; MAX_KEY_LEN],
        auth: [0; HMAC_SHA1_KEY_LEN],
        salt: [0; CM_SALT_LEN],
    };
    keys.enc[..k.len()].copy_from_slice(&k);
    keys.salt[..s.len()].copy_from_slice(&s);
    assert_eq!(k.len(), profile.master_key_len());
    keys
}

fn prf(key: &str, salt: &str, label: u8, len: usize) -> Vec<u8> {
    let mut s = [0u8; CM_SALT_LEN];
    let salt = hex(salt);
    s[..salt.len()].copy_from_slice(&salt);
    let mut out = vec![0u8; len];
    kdf(&hex(key), &s, label, &mut out).unwrap();
    out
}

fn rtp_packet(ssrc: u32, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 96];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 90).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn pair(profile: SrtpProfile, seed: u8) -> (SrtpContext, SrtpContext) {
    let km: Vec<u8> = (0..profile.keying_material_len())
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    let (client, _server) = split_keying_material(profile, &km).unwrap();
    (
        SrtpContext::new(&client).unwrap(),
        SrtpContext::new(&client).unwrap(),
    )
}

fn protect(tx: &mut SrtpContext, pkt: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; pkt.len() + tx.profile().rtp_overhead()];
    buf[..pkt.len()].copy_from_slice(pkt);
    let n = tx.protect_rtp(&mut buf, pkt.len()).unwrap();
    buf.truncate(n);
    buf
}

fn protect_rtcp(tx: &mut SrtpContext, pkt: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; pkt.len() + tx.profile().rtcp_overhead()];
    buf[..pkt.len()].copy_from_slice(pkt);
    let n = tx.protect_rtcp(&mut buf, pkt.len()).unwrap();
    buf.truncate(n);
    buf
}

fn unprotect(rx: &mut SrtpContext, srtp: &[u8]) -> Result<Vec<u8>, RtpError> {
    let mut buf = srtp.to_vec();
    let n = rx.unprotect_rtp(&mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

fn unprotect_rtcp(rx: &mut SrtpContext, srtcp: &[u8]) -> Result<Vec<u8>, RtpError> {
    let mut buf = srtcp.to_vec();
    let n = rx.unprotect_rtcp(&mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

// ---- Profiles and keying ------------------------------------------------------------------

#[test]
fn profile_ids_rfc5764_4_1_2_and_rfc7714_14_2() {
    for p in SrtpProfile::ALL {
        assert_eq!(SrtpProfile::from_id(p.id()), Ok(p));
    }
    assert_eq!(SrtpProfile::Aes128CmSha1_80.id(), 0x0001);
    assert_eq!(SrtpProfile::AeadAes128Gcm.id(), 0x0007);
    assert_eq!(SrtpProfile::AeadAes256Gcm.id(), 0x0008);
    assert_eq!(
        SrtpProfile::from_id(0x0002),
        Err(RtpError::UnknownProfile(0x0002))
    );
    assert_eq!(SrtpProfile::Aes128CmSha1_80.keying_material_len(), 60);
    assert_eq!(SrtpProfile::AeadAes128Gcm.keying_material_len(), 56);
    assert_eq!(SrtpProfile::AeadAes256Gcm.keying_material_len(), 88);
}

#[test]
fn keying_material_layout_rfc5764_4_2() {
    // client key (16) ‖ server key (16) ‖ client salt (14) ‖ server salt (14).
    let km: Vec<u8> = (0u8..60).collect();
    let (c, s) = split_keying_material(SrtpProfile::Aes128CmSha1_80, &km).unwrap();
    assert_eq!(c.key(), &km[0..16]);
    assert_eq!(s.key(), &km[16..32]);
    assert_eq!(c.salt(), &km[32..46]);
    assert_eq!(s.salt(), &km[46..60]);
    let km: Vec<u8> = (0u8..88).collect();
    let (c, s) = split_keying_material(SrtpProfile::AeadAes256Gcm, &km).unwrap();
    assert_eq!(c.key(), &km[0..32]);
    assert_eq!(s.key(), &km[32..64]);
    assert_eq!(c.salt(), &km[64..76]);
    assert_eq!(s.salt(), &km[76..88]);
    assert_eq!(
        split_keying_material(SrtpProfile::AeadAes128Gcm, &km).unwrap_err(),
        RtpError::BadKeyLength { need: 56, have: 88 }
    );
    assert!(!format!("{c:?}").contains("0, 1, 2"));
}

// ---- RFC 3711 Appendix B ------------------------------------------------------------------

#[test]
fn rfc3711_b2_aes_cm_keystream() {
    let key = ctr_key(&hex("2B7E151628AED2A6ABF7158809CF4F3C")).unwrap();
    let mut salt = [0u8; CM_SALT_LEN];
    salt.copy_from_slice(&hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD"));
    let iv = cm_iv(&salt, 0, 0);
    assert_eq!(iv.to_vec(), hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000"));
    let mut ks = vec![0u8; 16 * 0xFF02];
    ctr_apply(&key, iv, &mut ks).unwrap();
    let block = |i: usize| ks[16 * i..16 * (i + 1)].to_vec();
    assert_eq!(block(0x0000), hex("E03EAD0935C95E80E166B16DD92B4EB4"));
    assert_eq!(block(0x0001), hex("D23513162B02D0F72A43A2FE4A5F97AB"));
    assert_eq!(block(0x0002), hex("41E95B3BB0A2E8DD477901E4FCA894C0"));
    assert_eq!(block(0xFEFF), hex("EC8CDF7398607CB0F2D21675EA9EA1E4"));
    assert_eq!(block(0xFF00), hex("362B7C3C6773516318A077D7FC5073AE"));
    assert_eq!(block(0xFF01), hex("6A2CC3787889374FBEB4C81B17BA6C44"));
}

#[test]
fn rfc3711_b3_key_derivation() {
    let (k, s) = (
        "E1F97A0D3E018BE0D64FA32C06DE4139",
        "0EC675AD498AFEEBB6960B3AABE6",
    );
    assert_eq!(prf(k, s, 0x00, 16), hex("C61E7A93744F39EE10734AFE3FF7A087"));
    assert_eq!(prf(k, s, 0x02, 14), hex("30CBBC08863D8C85D49DB34A9AE1"));
    // §B.3 lists 94 octets of the authentication-key keystream.
    assert_eq!(
        prf(k, s, 0x01, 94),
        hex(
            "CEBE321F6FF7716B6FD4AB49AF256A15 6D38BAA48F0A0ACF3C34E2359E6CDBCE
             E049646C43D9327AD175578EF7227098 6371C10C9A369AC2F94A8C5FBCDDDC25
             6D6E919A48B610EF17C2041E47403576 6B68642C59BBFC2F34DB60DBDFB2"
        )
    );
    // The context derives the same session keys from the same master keys.
    let m = MasterKeys::new(SrtpProfile::Aes128CmSha1_80, &hex(k), &hex(s)).unwrap();
    let rtp = SessionKeys::derive(&m, [0, 1, 2]).unwrap();
    assert_eq!(
        rtp.enc[..16].to_vec(),
        hex("C61E7A93744F39EE10734AFE3FF7A087")
    );
    assert_eq!(
        rtp.auth.to_vec(),
        hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4")
    );
    assert_eq!(rtp.salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
}

#[test]
fn rfc6188_7_2_aes_256_cm_prf() {
    let (k, s) = (
        "f0f04914b513f2763a1b1fa130f10e2998f6f6e43e4309d1e622a0e332b9f1b6",
        "3b04803de51ee7c96423ab5b78d2",
    );
    assert_eq!(
        prf(k, s, 0x00, 32),
        hex("5ba1064e30ec51613cad926c5a28ef731ec7fb397f70a960653caf06554cd8c4")
    );
    assert_eq!(prf(k, s, 0x02, 14), hex("fa31791685ca444a9e07c6c64e93"));
    assert_eq!(
        prf(k, s, 0x01, 20),
        hex("fd9c32d39ed5fbb5a9dc96b30818454d1313dc05")
    );
}

// ---- RFC 7714 §16 / §17 -------------------------------------------------------------------

const RFC7714_SALT: &str = "517569642070726f2071756f";
const RFC7714_KEY_128: &str = "000102030405060708090a0b0c0d0e0f";
const RFC7714_KEY_256: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
/// RTP header ‖ "Gallia est omnis divisa in partes tres".
const RFC7714_RTP: &str = "8040f17b8041f8d35501a0b2 47616c6c696120657374206f6d6e69732064697669736120696e207061727465732074726573";
/// SR from "Mars", SRTCP index 0x5d4.
const RFC7714_RTCP: &str = "81c8000d4d6172734e5450314e545032525450200000042a0000e9304c756e61 deadbeefdeadbeefdeadbeefdeadbeefdeadbeef";

fn rfc7714_context(profile: SrtpProfile, key: &str) -> SrtpContext {
    let k = session(profile, key, RFC7714_SALT);
    SrtpContext::from_session_keys(profile, &k, &k, 8).unwrap()
}

#[test]
fn rfc7714_ivs() {
    let mut salt = [0u8; 12];
    salt.copy_from_slice(&hex(RFC7714_SALT));
    assert_eq!(
        gcm_rtp_iv(&salt, 0x5501_a0b2, 0, 0xf17b).to_vec(),
        hex("51753c6580c2726f20718414")
    );
    assert_eq!(
        gcm_rtcp_iv(&salt, 0x4d61_7273, 0x5d4).to_vec(),
        hex("517524055203726f207170bb")
    );
}

fn check_rtp_vector(profile: SrtpProfile, key: &str, expected: &str) {
    let plain = hex(RFC7714_RTP);
    let mut tx = rfc7714_context(profile, key);
    assert_eq!(protect(&mut tx, &plain), hex(expected));
    let mut rx = rfc7714_context(profile, key);
    assert_eq!(unprotect(&mut rx, &hex(expected)).unwrap(), plain);
}

fn check_rtcp_vector(profile: SrtpProfile, key: &str, expected: &str) {
    let plain = hex(RFC7714_RTCP);
    let mut tx = rfc7714_context(profile, key);
    tx.set_srtcp_index(0x4d61_7273, 0x5d4).unwrap();
    assert_eq!(protect_rtcp(&mut tx, &plain), hex(expected));
    let mut rx = rfc7714_context(profile, key);
    assert_eq!(unprotect_rtcp(&mut rx, &hex(expected)).unwrap(), plain);
}

#[test]
fn rfc7714_16_aes_128_gcm_srtp() {
    check_rtp_vector(
        SrtpProfile::AeadAes128Gcm,
        RFC7714_KEY_128,
        "8040f17b8041f8d35501a0b2 f24de3a3fb34de6cacba861c9d7e4bcabe633bd50d294e6f42a5f47a51c7d19b36de3adf8833
         899d7f27beb16a9152cf765ee4390cce",
    );
}

#[test]
fn rfc7714_16_aes_256_gcm_srtp() {
    check_rtp_vector(
        SrtpProfile::AeadAes256Gcm,
        RFC7714_KEY_256,
        "8040f17b8041f8d35501a0b2 32b1de78a822fe12ef9f78fa332e33aab18012389a58e2f3b50b2a0276ffae0f1ba63799b87b
         7aa3db36dfffd6b0f9bb7878d7a76c13",
    );
}

#[test]
fn rfc7714_17_aes_128_gcm_srtcp() {
    check_rtcp_vector(
        SrtpProfile::AeadAes128Gcm,
        RFC7714_KEY_128,
        "81c8000d4d617273 63e94885dcdab67ca727d7662f6b7e997ff5c0f76c06f32dc676a5f1730d6fda4ce09b46
         86303ded0bb9275bc84aa45896cf4d2fc5abf87245d9eade 800005d4",
    );
}

#[test]
fn rfc7714_17_aes_256_gcm_srtcp() {
    check_rtcp_vector(
        SrtpProfile::AeadAes256Gcm,
        RFC7714_KEY_256,
        "81c8000d4d617273 d50ae4d1f5ce5d304ba297e47d470c282c3ece5dbffe0a50a2eaa5c1110555be8415f658
         c61de0476f1b6fad1d1eb30c4446839f57ff6f6cb26ac3be 800005d4",
    );
}

#[test]
fn gcm_unencrypted_srtcp_is_authenticated_only() {
    // Build an E = 0 packet by hand: AAD = packet ‖ E‖index, empty plaintext (RFC 7714 §9).
    let profile = SrtpProfile::AeadAes128Gcm;
    let plain = hex(RFC7714_RTCP);
    let mut salt = [0u8; 12];
    salt.copy_from_slice(&hex(RFC7714_SALT));
    let key = LessSafeKey::new(UnboundKey::new(&aead::AES_128_GCM, &hex(RFC7714_KEY_128)).unwrap());
    let e_index = 0x5d4u32.to_be_bytes();
    let mut aad = plain.clone();
    aad.extend_from_slice(&e_index);
    let nonce = Nonce::assume_unique_for_key(gcm_rtcp_iv(&salt, 0x4d61_7273, 0x5d4));
    let tag = key
        .seal_in_place_separate_tag(nonce, Aad::from(&aad[..]), &mut [])
        .unwrap();
    let mut pkt = plain.clone();
    pkt.extend_from_slice(tag.as_ref());
    pkt.extend_from_slice(&e_index);

    let mut rx = rfc7714_context(profile, RFC7714_KEY_128);
    assert_eq!(unprotect_rtcp(&mut rx, &pkt).unwrap(), plain);
    // Replay of the same index.
    assert_eq!(unprotect_rtcp(&mut rx, &pkt), Err(RtpError::Replayed));
    // A flipped payload bit fails and leaves the packet as it was.
    let mut rx = rfc7714_context(profile, RFC7714_KEY_128);
    let mut bad = pkt.clone();
    bad[20] ^= 1;
    let copy = bad.clone();
    assert_eq!(rx.unprotect_rtcp(&mut bad), Err(RtpError::AuthFailed));
    assert_eq!(bad, copy);
}

// ---- libsrtp reference packets (interoperability, not RFC vectors) ------------------------

#[test]
fn libsrtp_reference_packet_aes_cm() {
    let m = MasterKeys::new(
        SrtpProfile::Aes128CmSha1_80,
        &hex("e1f97a0d3e018be0d64fa32c06de4139"),
        &hex("0ec675ad498afeebb6960b3aabe6"),
    )
    .unwrap();
    let plain = hex("800f1234decafbadcafebabe abababababababababababababababab");
    let srtp = hex("800f1234decafbadcafebabe 4e55dc4ce79978d88ca4d215949d2402b78d6acc99ea179b8dbb");
    let mut tx = SrtpContext::new(&m).unwrap();
    assert_eq!(protect(&mut tx, &plain), srtp);
    let mut rx = SrtpContext::new(&m).unwrap();
    assert_eq!(unprotect(&mut rx, &srtp).unwrap(), plain);

    // libsrtp numbers its first SRTCP packet 1.
    let rtcp = hex("81c8000bcafebabe abababababababababababababababab");
    let srtcp =
        hex("81c8000bcafebabe 7128035be487b9bdbef89041f977a5a8 80000001 993e08cd54d6c1230798");
    tx.set_srtcp_index(0xcafebabe, 1).unwrap();
    assert_eq!(protect_rtcp(&mut tx, &rtcp), srtcp);
    assert_eq!(unprotect_rtcp(&mut rx, &srtcp).unwrap(), rtcp);
}

#[test]
fn libsrtp_reference_packet_aes_128_gcm_with_kdf() {
    // Exercises the KDF with a 96-bit master salt (RFC 7714 erratum 4938).
    let m = MasterKeys::new(
        SrtpProfile::AeadAes128Gcm,
        &hex("000102030405060708090a0b0c0d0e0f"),
        &hex("a0a1a2a3a4a5a6a7a8a9aaab"),
    )
    .unwrap();
    let plain = hex("800f1234decafbadcafebabe abababababababababababababababab");
    let srtp = hex(
        "800f1234decafbadcafebabe c5002ede04cfdd2eb91159e0880aa06ed2976826f796b201df3131a127e8a392",
    );
    let mut tx = SrtpContext::new(&m).unwrap();
    assert_eq!(protect(&mut tx, &plain), srtp);
    let mut rx = SrtpContext::new(&m).unwrap();
    assert_eq!(unprotect(&mut rx, &srtp).unwrap(), plain);

    let rtcp = hex("81c8000bcafebabe abababababababababababababababab");
    let srtcp = hex(
        "81c8000bcafebabe c98b8b5df0392a55852b6c21ac8e7025c52c6fbea2b3b446ea31123ba88ce61e 80000001",
    );
    tx.set_srtcp_index(0xcafebabe, 1).unwrap();
    assert_eq!(protect_rtcp(&mut tx, &rtcp), srtcp);
    assert_eq!(unprotect_rtcp(&mut rx, &srtcp).unwrap(), rtcp);
}

#[test]
fn aes_256_gcm_with_kdf_cross_check() {
    // AES-256-GCM through the AES-256 PRF and the 96-bit salt; the expected packet comes
    // from an independent implementation, not from an RFC.
    let m = MasterKeys::new(
        SrtpProfile::AeadAes256Gcm,
        &hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
        &hex("a0a1a2a3a4a5a6a7a8a9aaab"),
    )
    .unwrap();
    let plain = hex("800f1234decafbadcafebabe abababababababababababababababab");
    let srtp = hex(
        "800f1234decafbadcafebabe 0af7f21e8a90bdad7a425c9c31ed4bb1d90238917e7390a2793500e1681acaea",
    );
    let mut tx = SrtpContext::new(&m).unwrap();
    assert_eq!(protect(&mut tx, &plain), srtp);
}

// ---- Behaviour ----------------------------------------------------------------------------

#[test]
fn roc_wraps_across_65535_to_0() {
    for profile in SrtpProfile::ALL {
        let (mut tx, mut rx) = pair(profile, 1);
        let ssrc = 0x0102_0304;
        let mut seq = 65530u16;
        for _ in 0..12 {
            let p = rtp_packet(ssrc, seq, b"payload bytes");
            assert_eq!(unprotect(&mut rx, &protect(&mut tx, &p)).unwrap(), p);
            seq = seq.wrapping_add(1);
        }
        assert_eq!(tx.rollover_counter(ssrc), Some(1));
        assert_eq!(rx.rollover_counter(ssrc), Some(1));
        // A late packet from before the wrap still decrypts with ROC 0 ...
        let mut tx2 = pair(profile, 1).0;
        let early = protect(&mut tx2, &rtp_packet(ssrc, 65528, b"late"));
        assert_eq!(
            unprotect(&mut rx, &early).unwrap(),
            rtp_packet(ssrc, 65528, b"late")
        );
        // ... and does not move the receiver's ROC back.
        assert_eq!(rx.rollover_counter(ssrc), Some(1));
    }
}

#[test]
fn roc_index_is_bound_into_the_tag() {
    // A packet protected with ROC 1 does not authenticate for a receiver at ROC 0.
    for profile in SrtpProfile::ALL {
        let (mut tx, mut rx) = pair(profile, 2);
        tx.set_rollover_counter(9, 1, 10).unwrap();
        let srtp = protect(&mut tx, &rtp_packet(9, 11, b"x"));
        assert_eq!(unprotect(&mut rx, &srtp), Err(RtpError::AuthFailed));
        rx.set_rollover_counter(9, 1, 10).unwrap();
        assert!(unprotect(&mut rx, &srtp).is_ok());
    }
}

#[test]
fn replay_and_window() {
    for profile in SrtpProfile::ALL {
        let (mut tx, mut rx) = pair(profile, 3);
        let pkts: Vec<Vec<u8>> = (0..100u16)
            .map(|s| protect(&mut tx, &rtp_packet(7, 1000 + s, &[s as u8; 20])))
            .collect();
        assert!(unprotect(&mut rx, &pkts[10]).is_ok());
        assert_eq!(unprotect(&mut rx, &pkts[10]), Err(RtpError::Replayed));
        // Out of order within the window is fine, once.
        assert!(unprotect(&mut rx, &pkts[5]).is_ok());
        assert_eq!(unprotect(&mut rx, &pkts[5]), Err(RtpError::Replayed));
        assert!(unprotect(&mut rx, &pkts[99]).is_ok());
        // 99 - 30 = 69 >= 64: behind the window.
        assert_eq!(unprotect(&mut rx, &pkts[30]), Err(RtpError::TooOld));
        assert!(unprotect(&mut rx, &pkts[40]).is_ok());
    }
}

#[test]
fn tampering_fails_authentication_and_leaves_state() {
    for profile in SrtpProfile::ALL {
        let (mut tx, mut rx) = pair(profile, 4);
        let srtp = protect(&mut tx, &rtp_packet(5, 1, &[0x55; 100]));
        for bit in [0usize, 8 * 3, 8 * 12, 8 * 50, 8 * (srtp.len() - 1)] {
            let mut bad = srtp.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let r = unprotect(&mut rx, &bad);
            assert!(
                matches!(r, Err(RtpError::AuthFailed) | Err(RtpError::BadVersion(_))),
                "{profile:?} bit {bit}: {r:?}"
            );
        }
        assert_eq!(rx.stream_count(), 0, "nothing stored before authentication");
        assert!(unprotect(&mut rx, &srtp).is_ok());

        let srtcp = protect_rtcp(&mut tx, &[0x80, 201, 0, 1, 0, 0, 0, 5]);
        let mut bad = srtcp.clone();
        bad[6] ^= 0x10;
        assert_eq!(unprotect_rtcp(&mut rx, &bad), Err(RtpError::AuthFailed));
        let mut bad = srtcp.clone();
        let n = bad.len();
        bad[n - 1] ^= 0x01;
        assert!(unprotect_rtcp(&mut rx, &bad).is_err());
        assert!(unprotect_rtcp(&mut rx, &srtcp).is_ok());
    }
}

#[test]
fn srtcp_index_increments_and_replays_are_rejected() {
    for profile in SrtpProfile::ALL {
        let (mut tx, mut rx) = pair(profile, 5);
        let rr = [0x80, 201, 0, 1, 0, 0, 0x30, 0x39];
        let tag = profile.rtcp_auth_tag_len();
        let mut sent = vec![];
        for expect in 0u32..5 {
            let s = protect_rtcp(&mut tx, &rr);
            // E‖index sits before the tag (CM) or at the very end (GCM).
            let at = if profile.is_gcm() {
                s.len() - 4
            } else {
                s.len() - tag - 4
            };
            let word = u32::from_be_bytes([s[at], s[at + 1], s[at + 2], s[at + 3]]);
            assert_eq!(word, E_BIT | expect);
            sent.push(s);
        }
        for s in &sent {
            assert_eq!(unprotect_rtcp(&mut rx, s).unwrap(), rr);
        }
        assert_eq!(unprotect_rtcp(&mut rx, &sent[2]), Err(RtpError::Replayed));
        tx.set_srtcp_index(0x3039, SRTCP_MAX_INDEX).unwrap();
        let _ = protect_rtcp(&mut tx, &rr);
        let mut buf = [0u8; 64];
        buf[..8].copy_from_slice(&rr);
        assert_eq!(tx.protect_rtcp(&mut buf, 8), Err(RtpError::IndexExhausted));
    }
}

#[test]
fn rtp_index_exhaustion() {
    let (mut tx, _) = pair(SrtpProfile::AeadAes128Gcm, 6);
    tx.set_rollover_counter(1, u32::MAX, 65535).unwrap();
    let mut buf = [0u8; 64];
    let p = rtp_packet(1, 0, b"x");
    buf[..p.len()].copy_from_slice(&p);
    assert_eq!(
        tx.protect_rtp(&mut buf, p.len()),
        Err(RtpError::IndexExhausted)
    );
}

#[test]
fn framing_errors_and_small_buffers() {
    for profile in SrtpProfile::ALL {
        let (mut tx, mut rx) = pair(profile, 7);
        let p = rtp_packet(1, 1, b"abc");
        let mut small = p.clone();
        assert!(matches!(
            tx.protect_rtp(&mut small, p.len()),
            Err(RtpError::BufferTooSmall { .. })
        ));
        assert!(matches!(
            tx.protect_rtp(&mut [0u8; 40], 41),
            Err(RtpError::InvalidInput(_))
        ));
        assert!(matches!(
            rx.unprotect_rtp(&mut [0x80; 11]),
            Err(RtpError::TooShort { .. })
        ));
        // Header only, no room for a tag.
        assert!(matches!(
            rx.unprotect_rtp(&mut rtp_packet(1, 1, b"")),
            Err(RtpError::TooShort { .. })
        ));
        // Extension length running past the packet.
        let mut ext = rtp_packet(1, 1, &[0; 20]);
        ext[0] |= 0x10;
        ext[12..16].copy_from_slice(&[0xBE, 0xDE, 0xFF, 0xFF]);
        assert!(matches!(
            rx.unprotect_rtp(&mut ext),
            Err(RtpError::TooShort { .. })
        ));
        assert!(matches!(
            rx.unprotect_rtcp(&mut [0x80; 10]),
            Err(RtpError::TooShort { .. })
        ));
    }
}

#[test]
fn stream_table_is_bounded() {
    let km = [9u8; 56];
    let (c, _) = split_keying_material(SrtpProfile::AeadAes128Gcm, &km).unwrap();
    let mut tx = SrtpContext::with_max_streams(&c, 2).unwrap();
    let mut rx = SrtpContext::with_max_streams(&c, 2).unwrap();
    for ssrc in [1, 2] {
        let s = protect(&mut tx, &rtp_packet(ssrc, 1, b"x"));
        unprotect(&mut rx, &s).unwrap();
    }
    let mut buf = [0u8; 64];
    let p = rtp_packet(3, 1, b"x");
    buf[..p.len()].copy_from_slice(&p);
    assert_eq!(
        tx.protect_rtp(&mut buf, p.len()),
        Err(RtpError::TooManyStreams(2))
    );
    assert!(tx.remove_stream(1));
    assert!(!tx.remove_stream(1));
    let s = protect(&mut tx, &p);
    assert_eq!(unprotect(&mut rx, &s), Err(RtpError::TooManyStreams(2)));
    rx.remove_stream(1);
    assert!(unprotect(&mut rx, &s).is_ok());
}

#[test]
fn csrcs_extensions_and_padding_are_handled() {
    for profile in SrtpProfile::ALL {
        let (mut tx, mut rx) = pair(profile, 8);
        // CC = 2, X = 1 (one word), P = 1 (3 bytes of padding).
        let mut p = vec![0xB2, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9];
        p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]);
        p.extend_from_slice(&[0xBE, 0xDE, 0, 1, 0x10, 0xAA, 0, 0]);
        p.extend_from_slice(b"media");
        p.extend_from_slice(&[0, 0, 3]);
        let s = protect(&mut tx, &p);
        // Header (28 bytes) stays in the clear.
        assert_eq!(&s[..28], &p[..28]);
        assert_ne!(&s[28..p.len()], &p[28..]);
        assert_eq!(unprotect(&mut rx, &s).unwrap(), p);
    }
}

proptest! {
    #[test]
    fn round_trip_every_profile(
        which in 0usize..3,
        ssrc: u32,
        start: u16,
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..1300), 1..12),
    ) {
        let profile = SrtpProfile::ALL[which];
        let (mut tx, mut rx) = pair(profile, 9);
        for (i, payload) in payloads.iter().enumerate() {
            let p = rtp_packet(ssrc, start.wrapping_add(i as u16), payload);
            let s = protect(&mut tx, &p);
            prop_assert_eq!(s.len(), p.len() + profile.rtp_overhead());
            prop_assert_eq!(unprotect(&mut rx, &s).unwrap(), p);

            let mut rtcp = vec![0x80, 200, 0, 0];
            rtcp.extend_from_slice(&ssrc.to_be_bytes());
            rtcp.extend_from_slice(&payload[..payload.len().min(64)]);
            let c = protect_rtcp(&mut tx, &rtcp);
            prop_assert_eq!(c.len(), rtcp.len() + profile.rtcp_overhead());
            prop_assert_eq!(unprotect_rtcp(&mut rx, &c).unwrap(), rtcp);
        }
    }

    #[test]
    fn unprotect_never_panics(which in 0usize..3, bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let profile = SrtpProfile::ALL[which];
        let (_, mut rx) = pair(profile, 10);
        let mut a = bytes.clone();
        let _ = rx.unprotect_rtp(&mut a);
        let mut b = bytes;
        let _ = rx.unprotect_rtcp(&mut b);
    }
}
