//! SRTP and SRTCP (RFC 3711, RFC 7714) with DTLS-SRTP keying (RFC 5764).
//!
//! * [`SrtpProfile`]: the three DTLS-SRTP protection profiles WebRTC uses —
//!   `SRTP_AES128_CM_HMAC_SHA1_80` (0x0001, RFC 5764 §4.1.2), `SRTP_AEAD_AES_128_GCM` (0x0007)
//!   and `SRTP_AEAD_AES_256_GCM` (0x0008) (RFC 7714 §14.2).
//! * [`split_keying_material`]: cuts the DTLS exporter output into the client's and the
//!   server's master key and salt (RFC 5764 §4.2).
//! * [`SrtpContext`]: one direction of one DTLS-SRTP association. It derives the session keys
//!   with the AES-CM PRF (RFC 3711 §4.3.3; AES-256 for the 256-bit profile per RFC 6188 §3 and
//!   RFC 7714 §11, a 96-bit master salt being extended with two zero octets per RFC 7714
//!   erratum 4938), then protects and unprotects RTP and RTCP **in place** in caller buffers.
//!   Per-SSRC state — rollover counter and index estimation (RFC 3711 §3.3.1, Appendix A), a
//!   64-packet replay window for SRTP and one for SRTCP (§3.3.2), the SRTCP index (§3.4) —
//!   lives in a small table that grows only when a new SSRC appears; steady-state packets
//!   allocate nothing.
//!
//! Sending the same RTP packet twice (a retransmission under the same SSRC and sequence
//! number) is allowed and produces the same ciphertext; callers must never send *different*
//! payloads under one SSRC and index, which would reuse a GCM nonce or a CM keystream.

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{self, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;

use crate::error::RtpError;

/// The exporter label DTLS-SRTP keying material is drawn with (RFC 5764 §4.2).
pub const DTLS_SRTP_EXPORTER_LABEL: &str = "EXTRACTOR-dtls_srtp";

/// Default bound on the number of SSRCs one context tracks.
pub const DEFAULT_MAX_STREAMS: usize = 1024;

/// Width of the replay windows, in packets (RFC 3711 §3.3.2 minimum).
pub const REPLAY_WINDOW: u64 = 64;

const MAX_KEY_LEN: usize = 32;
const CM_SALT_LEN: usize = 14;
const GCM_SALT_LEN: usize = 12;
const HMAC_SHA1_KEY_LEN: usize = 20;
const SRTCP_INDEX_LEN: usize = 4;
const SRTCP_MAX_INDEX: u32 = 0x7FFF_FFFF;
const E_BIT: u32 = 0x8000_0000;

// Key-derivation labels (RFC 3711 §4.3.2).
const LABEL_RTP_ENCRYPTION: u8 = 0x00;
const LABEL_RTP_AUTH: u8 = 0x01;
const LABEL_RTP_SALT: u8 = 0x02;
const LABEL_RTCP_ENCRYPTION: u8 = 0x03;
const LABEL_RTCP_AUTH: u8 = 0x04;
const LABEL_RTCP_SALT: u8 = 0x05;

/// A DTLS-SRTP protection profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SrtpProfile {
    /// `SRTP_AES128_CM_HMAC_SHA1_80` (0x0001): AES-128 counter mode, 80-bit HMAC-SHA1 tag.
    Aes128CmSha1_80,
    /// `SRTP_AEAD_AES_128_GCM` (0x0007): AES-128-GCM, 128-bit tag.
    AeadAes128Gcm,
    /// `SRTP_AEAD_AES_256_GCM` (0x0008): AES-256-GCM, 128-bit tag.
    AeadAes256Gcm,
}

impl SrtpProfile {
    /// Every profile, most preferred first.
    pub const ALL: [SrtpProfile; 3] = [
        SrtpProfile::AeadAes128Gcm,
        SrtpProfile::AeadAes256Gcm,
        SrtpProfile::Aes128CmSha1_80,
    ];

    /// The DTLS `use_srtp` profile id (RFC 5764 §4.1.2, RFC 7714 §14.2).
    pub const fn id(self) -> u16 {
        match self {
            SrtpProfile::Aes128CmSha1_80 => 0x0001,
            SrtpProfile::AeadAes128Gcm => 0x0007,
            SrtpProfile::AeadAes256Gcm => 0x0008,
        }
    }

    /// The profile a DTLS `use_srtp` id names.
    pub const fn from_id(id: u16) -> Result<Self, RtpError> {
        match id {
            0x0001 => Ok(SrtpProfile::Aes128CmSha1_80),
            0x0007 => Ok(SrtpProfile::AeadAes128Gcm),
            0x0008 => Ok(SrtpProfile::AeadAes256Gcm),
            other => Err(RtpError::UnknownProfile(other)),
        }
    }

    /// Master (and session encryption) key length in bytes.
    pub const fn master_key_len(self) -> usize {
        match self {
            SrtpProfile::Aes128CmSha1_80 | SrtpProfile::AeadAes128Gcm => 16,
            SrtpProfile::AeadAes256Gcm => 32,
        }
    }

    /// Master (and session) salt length in bytes: 14 for AES-CM, 12 for GCM.
    pub const fn master_salt_len(self) -> usize {
        match self {
            SrtpProfile::Aes128CmSha1_80 => CM_SALT_LEN,
            SrtpProfile::AeadAes128Gcm | SrtpProfile::AeadAes256Gcm => GCM_SALT_LEN,
        }
    }

    /// Bytes of DTLS exporter output the profile needs: two keys and two salts.
    pub const fn keying_material_len(self) -> usize {
        2 * (self.master_key_len() + self.master_salt_len())
    }

    /// Authentication tag length of SRTP packets.
    pub const fn rtp_auth_tag_len(self) -> usize {
        match self {
            SrtpProfile::Aes128CmSha1_80 => 10,
            SrtpProfile::AeadAes128Gcm | SrtpProfile::AeadAes256Gcm => 16,
        }
    }

    /// Authentication tag length of SRTCP packets.
    pub const fn rtcp_auth_tag_len(self) -> usize {
        self.rtp_auth_tag_len()
    }

    /// Bytes `protect_rtp` adds to a packet.
    pub const fn rtp_overhead(self) -> usize {
        self.rtp_auth_tag_len()
    }

    /// Bytes `protect_rtcp` adds to a packet (tag and E‖SRTCP index).
    pub const fn rtcp_overhead(self) -> usize {
        self.rtcp_auth_tag_len() + SRTCP_INDEX_LEN
    }

    const fn is_gcm(self) -> bool {
        !matches!(self, SrtpProfile::Aes128CmSha1_80)
    }
}

/// A master key and master salt for one direction, with its profile.
///
/// Key bytes are overwritten with zeros when the value is dropped; `Debug` prints no key
/// material.
#[derive(Clone)]
pub struct MasterKeys {
    profile: SrtpProfile,
    key: [u8; MAX_KEY_LEN],
    salt: [u8; CM_SALT_LEN],
}

impl MasterKeys {
    /// Builds master keys, checking lengths against the profile.
    pub fn new(profile: SrtpProfile, key: &[u8], salt: &[u8]) -> Result<Self, RtpError> {
        if key.len() != profile.master_key_len() {
            return Err(RtpError::BadKeyLength {
                need: profile.master_key_len(),
                have: key.len(),
            });
        }
        if salt.len() != profile.master_salt_len() {
            return Err(RtpError::BadKeyLength {
                need: profile.master_salt_len(),
                have: salt.len(),
            });
        }
        let mut m = MasterKeys {
            profile,
            key: [0; MAX_KEY_LEN],
            salt: [0; CM_SALT_LEN],
        };
        m.key[..key.len()].copy_from_slice(key);
        m.salt[..salt.len()].copy_from_slice(salt);
        Ok(m)
    }

    /// The profile these keys are for.
    pub fn profile(&self) -> SrtpProfile {
        self.profile
    }

    /// The master key.
    pub fn key(&self) -> &[u8] {
        &self.key[..self.profile.master_key_len()]
    }

    /// The master salt.
    pub fn salt(&self) -> &[u8] {
        &self.salt[..self.profile.master_salt_len()]
    }
}

impl core::fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MasterKeys")
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl Drop for MasterKeys {
    fn drop(&mut self) {
        wipe(&mut self.key);
        wipe(&mut self.salt);
    }
}

fn wipe(b: &mut [u8]) {
    for x in b.iter_mut() {
        // SAFETY: `x` is a valid, aligned, exclusive reference to a byte.
        unsafe { core::ptr::write_volatile(x, 0) };
    }
    core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
}

/// Splits DTLS-SRTP keying material into `(client, server)` master keys (RFC 5764 §4.2:
/// client key ‖ server key ‖ client salt ‖ server salt).
///
/// The DTLS client protects with the client keys and unprotects with the server keys; the
/// server the other way round.
pub fn split_keying_material(
    profile: SrtpProfile,
    km: &[u8],
) -> Result<(MasterKeys, MasterKeys), RtpError> {
    let (k, s) = (profile.master_key_len(), profile.master_salt_len());
    if km.len() != profile.keying_material_len() {
        return Err(RtpError::BadKeyLength {
            need: profile.keying_material_len(),
            have: km.len(),
        });
    }
    let client = MasterKeys::new(profile, &km[..k], &km[2 * k..2 * k + s])?;
    let server = MasterKeys::new(profile, &km[k..2 * k], &km[2 * k + s..])?;
    Ok((client, server))
}

fn aes_algorithm(key_len: usize) -> Result<&'static cipher::Algorithm, RtpError> {
    match key_len {
        16 => Ok(&cipher::AES_128),
        32 => Ok(&cipher::AES_256),
        n => Err(RtpError::BadKeyLength { need: 16, have: n }),
    }
}

fn ctr_key(key: &[u8]) -> Result<EncryptingKey, RtpError> {
    let unbound =
        UnboundCipherKey::new(aes_algorithm(key.len())?, key).map_err(|_| RtpError::Crypto)?;
    EncryptingKey::ctr(unbound).map_err(|_| RtpError::Crypto)
}

#[inline]
fn ctr_apply(key: &EncryptingKey, iv: [u8; 16], data: &mut [u8]) -> Result<(), RtpError> {
    if data.is_empty() {
        return Ok(());
    }
    key.less_safe_encrypt(data, EncryptionContext::Iv128(FixedLength::from(iv)))
        .map(|_| ())
        .map_err(|_| RtpError::Crypto)
}

/// The AES-CM PRF of RFC 3711 §4.3.3 with a key derivation rate of 0 (so r = 0): the
/// keystream of AES-CTR under the master key, starting at IV = (label ‖ 0⁴⁸ ⊕ master salt)
/// · 2¹⁶. The salt is 14 octets; a 12-octet GCM salt is given with two trailing zeros.
fn kdf(
    master_key: &[u8],
    master_salt: &[u8; CM_SALT_LEN],
    label: u8,
    out: &mut [u8],
) -> Result<(), RtpError> {
    let key = ctr_key(master_key)?;
    let mut iv = [0u8; 16];
    iv[..CM_SALT_LEN].copy_from_slice(master_salt);
    iv[7] ^= label;
    out.fill(0);
    ctr_apply(&key, iv, out)
}

/// Session keys for one of SRTP or SRTCP, as the KDF derives them.
#[derive(Clone)]
pub(crate) struct SessionKeys {
    pub(crate) enc: [u8; MAX_KEY_LEN],
    pub(crate) auth: [u8; HMAC_SHA1_KEY_LEN],
    pub(crate) salt: [u8; CM_SALT_LEN],
}

impl Drop for SessionKeys {
    fn drop(&mut self) {
        wipe(&mut self.enc);
        wipe(&mut self.auth);
        wipe(&mut self.salt);
    }
}

impl SessionKeys {
    fn derive(m: &MasterKeys, labels: [u8; 3]) -> Result<Self, RtpError> {
        let p = m.profile;
        let mut s = SessionKeys {
            enc: [0; MAX_KEY_LEN],
            auth: [0; HMAC_SHA1_KEY_LEN],
            salt: [0; CM_SALT_LEN],
        };
        // `m.salt` is zero beyond the profile's salt length: the 2^16 extension of a
        // 96-bit salt (RFC 7714 erratum 4938).
        kdf(
            m.key(),
            &m.salt,
            labels[0],
            &mut s.enc[..p.master_key_len()],
        )?;
        if !p.is_gcm() {
            kdf(m.key(), &m.salt, labels[1], &mut s.auth)?;
        }
        kdf(
            m.key(),
            &m.salt,
            labels[2],
            &mut s.salt[..p.master_salt_len()],
        )?;
        Ok(s)
    }
}

/// The transform of one of SRTP or SRTCP.
// A context holds exactly two, built once; boxing the HMAC state would add an indirection
// per packet for no memory that matters.
#[allow(clippy::large_enum_variant)]
enum Transform {
    CmSha1 {
        ctr: EncryptingKey,
        mac: hmac::Key,
        salt: [u8; CM_SALT_LEN],
    },
    Gcm {
        key: LessSafeKey,
        salt: [u8; GCM_SALT_LEN],
    },
}

impl Transform {
    fn new(profile: SrtpProfile, keys: &SessionKeys) -> Result<Self, RtpError> {
        let key = &keys.enc[..profile.master_key_len()];
        Ok(match profile {
            SrtpProfile::Aes128CmSha1_80 => Transform::CmSha1 {
                ctr: ctr_key(key)?,
                mac: hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &keys.auth),
                salt: keys.salt,
            },
            SrtpProfile::AeadAes128Gcm | SrtpProfile::AeadAes256Gcm => {
                let alg = if profile == SrtpProfile::AeadAes128Gcm {
                    &aead::AES_128_GCM
                } else {
                    &aead::AES_256_GCM
                };
                let mut salt = [0u8; GCM_SALT_LEN];
                salt.copy_from_slice(&keys.salt[..GCM_SALT_LEN]);
                Transform::Gcm {
                    key: LessSafeKey::new(UnboundKey::new(alg, key).map_err(|_| RtpError::Crypto)?),
                    salt,
                }
            }
        })
    }
}

/// AES-CM IV (RFC 3711 §4.1.1): (k_s · 2¹⁶) ⊕ (SSRC · 2⁶⁴) ⊕ (i · 2¹⁶).
#[inline]
fn cm_iv(salt: &[u8; CM_SALT_LEN], ssrc: u32, index: u64) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[..CM_SALT_LEN].copy_from_slice(salt);
    for (d, s) in iv[4..8].iter_mut().zip(ssrc.to_be_bytes()) {
        *d ^= s;
    }
    for (d, s) in iv[8..14].iter_mut().zip(&index.to_be_bytes()[2..]) {
        *d ^= s;
    }
    iv
}

/// GCM IV for SRTP (RFC 7714 §8.1): (0⁰¹⁶ ‖ SSRC ‖ ROC ‖ SEQ) ⊕ salt.
#[inline]
fn gcm_rtp_iv(salt: &[u8; GCM_SALT_LEN], ssrc: u32, roc: u32, seq: u16) -> [u8; 12] {
    let mut iv = *salt;
    let mut x = [0u8; 12];
    x[2..6].copy_from_slice(&ssrc.to_be_bytes());
    x[6..10].copy_from_slice(&roc.to_be_bytes());
    x[10..12].copy_from_slice(&seq.to_be_bytes());
    for (d, s) in iv.iter_mut().zip(x) {
        *d ^= s;
    }
    iv
}

/// GCM IV for SRTCP (RFC 7714 §9.1): (0⁰¹⁶ ‖ SSRC ‖ 0⁰¹⁶ ‖ 0 ‖ SRTCP index) ⊕ salt.
#[inline]
fn gcm_rtcp_iv(salt: &[u8; GCM_SALT_LEN], ssrc: u32, index: u32) -> [u8; 12] {
    let mut iv = *salt;
    let mut x = [0u8; 12];
    x[2..6].copy_from_slice(&ssrc.to_be_bytes());
    x[8..12].copy_from_slice(&(index & SRTCP_MAX_INDEX).to_be_bytes());
    for (d, s) in iv.iter_mut().zip(x) {
        *d ^= s;
    }
    iv
}

/// Length of the RTP header (fixed part, CSRCs, extension) without looking at padding,
/// which SRTP encrypts.
#[inline]
fn rtp_header_len(buf: &[u8]) -> Result<usize, RtpError> {
    if buf.len() < 12 {
        return Err(RtpError::too_short("SRTP header", 12, buf.len()));
    }
    let v = buf[0] >> 6;
    if v != 2 {
        return Err(RtpError::BadVersion(v));
    }
    let mut hl = 12 + 4 * usize::from(buf[0] & 0x0F);
    if buf[0] & 0x10 != 0 {
        if buf.len() < hl + 4 {
            return Err(RtpError::too_short(
                "SRTP header extension",
                hl + 4,
                buf.len(),
            ));
        }
        hl += 4 + 4 * usize::from(u16::from_be_bytes([buf[hl + 2], buf[hl + 3]]));
    }
    if buf.len() < hl {
        return Err(RtpError::too_short("SRTP header", hl, buf.len()));
    }
    Ok(hl)
}

/// Per-SSRC state.
#[derive(Debug, Clone, Copy)]
struct Stream {
    ssrc: u32,
    /// `roc`/`s_l` hold a packet's values.
    rtp_seen: bool,
    roc: u32,
    s_l: u16,
    /// Bit i: index `highest - i` was received (receive side only).
    rtp_window: u64,
    rtcp_seen: bool,
    rtcp_highest: u32,
    rtcp_window: u64,
    /// Next SRTCP index to send (send side only).
    srtcp_next: u32,
}

impl Stream {
    fn new(ssrc: u32) -> Self {
        Stream {
            ssrc,
            rtp_seen: false,
            roc: 0,
            s_l: 0,
            rtp_window: 0,
            rtcp_seen: false,
            rtcp_highest: 0,
            rtcp_window: 0,
            srtcp_next: 0,
        }
    }

    #[inline]
    fn highest(&self) -> u64 {
        (u64::from(self.roc) << 16) | u64::from(self.s_l)
    }

    /// The packet index a sequence number most likely has (RFC 3711 §3.3.1, Appendix A).
    #[inline]
    fn estimate(&self, seq: u16) -> Result<u64, RtpError> {
        if !self.rtp_seen {
            return Ok((u64::from(self.roc) << 16) | u64::from(seq));
        }
        let roc = i64::from(self.roc);
        let v = if self.s_l < 0x8000 {
            if i32::from(seq) - i32::from(self.s_l) > 0x8000 {
                roc - 1
            } else {
                roc
            }
        } else if i32::from(self.s_l) - 0x8000 > i32::from(seq) {
            roc + 1
        } else {
            roc
        };
        if v < 0 {
            return Err(RtpError::TooOld);
        }
        if v > i64::from(u32::MAX) {
            return Err(RtpError::IndexExhausted);
        }
        Ok(((v as u64) << 16) | u64::from(seq))
    }

    /// Replay check of an estimated index (RFC 3711 §3.3.2).
    #[inline]
    fn check_rtp_replay(&self, index: u64) -> Result<(), RtpError> {
        if !self.rtp_seen {
            return Ok(());
        }
        let highest = self.highest();
        if index > highest {
            return Ok(());
        }
        let delta = highest - index;
        if delta >= REPLAY_WINDOW {
            Err(RtpError::TooOld)
        } else if self.rtp_window & (1 << delta) != 0 {
            Err(RtpError::Replayed)
        } else {
            Ok(())
        }
    }

    /// Records an authenticated index.
    #[inline]
    fn accept_rtp(&mut self, index: u64) {
        if !self.rtp_seen {
            self.rtp_seen = true;
            self.rtp_window = 1;
        } else {
            let highest = self.highest();
            if index <= highest {
                self.rtp_window |= 1 << (highest - index);
                return;
            }
            let shift = index - highest;
            self.rtp_window = if shift >= REPLAY_WINDOW {
                1
            } else {
                (self.rtp_window << shift) | 1
            };
        }
        self.roc = (index >> 16) as u32;
        self.s_l = index as u16;
    }

    /// Send side: moves the highest index forward (never back, so retransmissions of older
    /// packets keep the rollover counter).
    #[inline]
    fn advance_rtp(&mut self, index: u64) {
        if !self.rtp_seen || index > self.highest() {
            self.rtp_seen = true;
            self.roc = (index >> 16) as u32;
            self.s_l = index as u16;
        }
    }

    #[inline]
    fn check_rtcp_replay(&self, index: u32) -> Result<(), RtpError> {
        if !self.rtcp_seen || index > self.rtcp_highest {
            return Ok(());
        }
        let delta = u64::from(self.rtcp_highest - index);
        if delta >= REPLAY_WINDOW {
            Err(RtpError::TooOld)
        } else if self.rtcp_window & (1 << delta) != 0 {
            Err(RtpError::Replayed)
        } else {
            Ok(())
        }
    }

    #[inline]
    fn accept_rtcp(&mut self, index: u32) {
        if !self.rtcp_seen {
            self.rtcp_seen = true;
            self.rtcp_highest = index;
            self.rtcp_window = 1;
        } else if index <= self.rtcp_highest {
            self.rtcp_window |= 1 << (self.rtcp_highest - index);
        } else {
            let shift = u64::from(index - self.rtcp_highest);
            self.rtcp_window = if shift >= REPLAY_WINDOW {
                1
            } else {
                (self.rtcp_window << shift) | 1
            };
            self.rtcp_highest = index;
        }
    }
}

/// One direction of an SRTP session: protects outgoing or unprotects incoming RTP and RTCP.
///
/// ```
/// use tessera_rtp::srtp::{SrtpContext, SrtpProfile, split_keying_material};
///
/// let profile = SrtpProfile::AeadAes128Gcm;
/// let km = [7u8; 56]; // from the DTLS exporter in real life
/// let (client, server) = split_keying_material(profile, &km).unwrap();
/// let mut tx = SrtpContext::new(&client).unwrap();
/// let mut rx = SrtpContext::new(&client).unwrap();
/// # let _ = server;
///
/// let mut buf = [0u8; 1500];
/// let pkt = [0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 42, b'h', b'i'];
/// buf[..pkt.len()].copy_from_slice(&pkt);
/// let n = tx.protect_rtp(&mut buf, pkt.len()).unwrap();
/// assert_eq!(n, pkt.len() + profile.rtp_overhead());
/// let m = rx.unprotect_rtp(&mut buf[..n]).unwrap();
/// assert_eq!(&buf[..m], &pkt);
/// ```
pub struct SrtpContext {
    profile: SrtpProfile,
    rtp: Transform,
    rtcp: Transform,
    /// Sorted by SSRC.
    streams: Vec<Stream>,
    /// Index of the last stream used, checked before the binary search.
    last: usize,
    max_streams: usize,
}

impl core::fmt::Debug for SrtpContext {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SrtpContext")
            .field("profile", &self.profile)
            .field("streams", &self.streams.len())
            .finish_non_exhaustive()
    }
}

/// Where a stream lives in the table, or where it would be inserted.
enum Slot {
    Found(usize),
    Vacant(usize),
}

impl SrtpContext {
    /// Derives the session keys from `keys` and builds a context tracking up to
    /// [`DEFAULT_MAX_STREAMS`] SSRCs.
    pub fn new(keys: &MasterKeys) -> Result<Self, RtpError> {
        Self::with_max_streams(keys, DEFAULT_MAX_STREAMS)
    }

    /// Like [`new`](Self::new) with a bound on the SSRC table.
    pub fn with_max_streams(keys: &MasterKeys, max_streams: usize) -> Result<Self, RtpError> {
        let rtp =
            SessionKeys::derive(keys, [LABEL_RTP_ENCRYPTION, LABEL_RTP_AUTH, LABEL_RTP_SALT])?;
        let rtcp = SessionKeys::derive(
            keys,
            [LABEL_RTCP_ENCRYPTION, LABEL_RTCP_AUTH, LABEL_RTCP_SALT],
        )?;
        Self::from_session_keys(keys.profile, &rtp, &rtcp, max_streams)
    }

    pub(crate) fn from_session_keys(
        profile: SrtpProfile,
        rtp: &SessionKeys,
        rtcp: &SessionKeys,
        max_streams: usize,
    ) -> Result<Self, RtpError> {
        Ok(SrtpContext {
            profile,
            rtp: Transform::new(profile, rtp)?,
            rtcp: Transform::new(profile, rtcp)?,
            streams: Vec::with_capacity(max_streams.min(8)),
            last: 0,
            max_streams,
        })
    }

    /// The profile this context uses.
    pub fn profile(&self) -> SrtpProfile {
        self.profile
    }

    /// Number of SSRCs with state.
    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// Forgets an SSRC's state (after a BYE or when a stream is torn down).
    pub fn remove_stream(&mut self, ssrc: u32) -> bool {
        match self.find(ssrc) {
            Slot::Found(i) => {
                self.streams.remove(i);
                self.last = 0;
                true
            }
            Slot::Vacant(_) => false,
        }
    }

    /// The rollover counter of an SSRC, once a packet of it was processed.
    pub fn rollover_counter(&self, ssrc: u32) -> Option<u32> {
        match self.find(ssrc) {
            Slot::Found(i) if self.streams[i].rtp_seen => Some(self.streams[i].roc),
            _ => None,
        }
    }

    /// Sets an SSRC's rollover counter and highest sequence number, as after a rekey or when
    /// joining a stream whose ROC is signalled out of band. Clears its replay window.
    pub fn set_rollover_counter(&mut self, ssrc: u32, roc: u32, seq: u16) -> Result<(), RtpError> {
        let i = self.slot_for_insert(ssrc)?;
        let s = &mut self.streams[i];
        s.rtp_seen = true;
        s.roc = roc;
        s.s_l = seq;
        s.rtp_window = 1;
        Ok(())
    }

    /// Sets the next SRTCP index sent for an SSRC (send side).
    pub fn set_srtcp_index(&mut self, ssrc: u32, index: u32) -> Result<(), RtpError> {
        if index > SRTCP_MAX_INDEX {
            return Err(RtpError::InvalidInput("SRTCP index above 2^31 - 1"));
        }
        let i = self.slot_for_insert(ssrc)?;
        self.streams[i].srtcp_next = index;
        Ok(())
    }

    #[inline]
    fn find(&self, ssrc: u32) -> Slot {
        if self.streams.get(self.last).is_some_and(|s| s.ssrc == ssrc) {
            return Slot::Found(self.last);
        }
        match self.streams.binary_search_by_key(&ssrc, |s| s.ssrc) {
            Ok(i) => Slot::Found(i),
            Err(i) => Slot::Vacant(i),
        }
    }

    /// The stream's index, inserting a fresh stream if needed (the only allocation).
    #[inline]
    fn slot_for_insert(&mut self, ssrc: u32) -> Result<usize, RtpError> {
        let i = match self.find(ssrc) {
            Slot::Found(i) => i,
            Slot::Vacant(i) => {
                if self.streams.len() >= self.max_streams {
                    return Err(RtpError::TooManyStreams(self.max_streams));
                }
                self.streams.insert(i, Stream::new(ssrc));
                i
            }
        };
        self.last = i;
        Ok(i)
    }

    /// The stream's state for a receive-side check: a copy of the stored state or a fresh
    /// one, without inserting (nothing is stored before a packet authenticates).
    #[inline]
    fn peek(&mut self, ssrc: u32) -> Result<Stream, RtpError> {
        match self.find(ssrc) {
            Slot::Found(i) => {
                self.last = i;
                Ok(self.streams[i])
            }
            Slot::Vacant(_) if self.streams.len() >= self.max_streams => {
                Err(RtpError::TooManyStreams(self.max_streams))
            }
            Slot::Vacant(_) => Ok(Stream::new(ssrc)),
        }
    }

    /// Stores a stream's updated state.
    #[inline]
    fn store(&mut self, stream: Stream) -> Result<(), RtpError> {
        let i = self.slot_for_insert(stream.ssrc)?;
        self.streams[i] = stream;
        Ok(())
    }

    /// Protects the RTP packet in `buf[..len]` in place and returns the SRTP length
    /// (`len + profile.rtp_overhead()`); `buf` must have room for the tag.
    pub fn protect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, RtpError> {
        let tag_len = self.profile.rtp_auth_tag_len();
        if len > buf.len() {
            return Err(RtpError::InvalidInput("len beyond the buffer"));
        }
        if buf.len() < len + tag_len {
            return Err(RtpError::BufferTooSmall {
                need: len + tag_len,
                have: buf.len(),
            });
        }
        let hl = rtp_header_len(&buf[..len])?;
        let seq = u16::from_be_bytes([buf[2], buf[3]]);
        let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
        let i = self.slot_for_insert(ssrc)?;
        let index = self.streams[i].estimate(seq)?;
        let roc = (index >> 16) as u32;
        match &self.rtp {
            Transform::CmSha1 { ctr, mac, salt } => {
                ctr_apply(ctr, cm_iv(salt, ssrc, index), &mut buf[hl..len])?;
                let mut ctx = hmac::Context::with_key(mac);
                ctx.update(&buf[..len]);
                ctx.update(&roc.to_be_bytes());
                let tag = ctx.sign();
                buf[len..len + tag_len].copy_from_slice(&tag.as_ref()[..tag_len]);
            }
            Transform::Gcm { key, salt } => {
                let nonce = Nonce::assume_unique_for_key(gcm_rtp_iv(salt, ssrc, roc, seq));
                let (head, rest) = buf.split_at_mut(hl);
                let tag = key
                    .seal_in_place_separate_tag(nonce, Aad::from(&*head), &mut rest[..len - hl])
                    .map_err(|_| RtpError::Crypto)?;
                rest[len - hl..len - hl + tag_len].copy_from_slice(tag.as_ref());
            }
        }
        self.streams[i].advance_rtp(index);
        Ok(len + tag_len)
    }

    /// Verifies and decrypts the SRTP packet `buf` in place; returns the RTP packet length.
    ///
    /// Errors: [`RtpError::AuthFailed`] for a bad tag, [`RtpError::Replayed`] /
    /// [`RtpError::TooOld`] for replays, framing errors for truncated headers. State is only
    /// updated for packets that authenticate.
    pub fn unprotect_rtp(&mut self, buf: &mut [u8]) -> Result<usize, RtpError> {
        let tag_len = self.profile.rtp_auth_tag_len();
        let hl = rtp_header_len(buf)?;
        if buf.len() < hl + tag_len {
            return Err(RtpError::too_short("SRTP packet", hl + tag_len, buf.len()));
        }
        let len = buf.len() - tag_len;
        let seq = u16::from_be_bytes([buf[2], buf[3]]);
        let ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
        let mut stream = self.peek(ssrc)?;
        let index = stream.estimate(seq)?;
        stream.check_rtp_replay(index)?;
        let roc = (index >> 16) as u32;
        match &self.rtp {
            Transform::CmSha1 { ctr, mac, salt } => {
                let mut ctx = hmac::Context::with_key(mac);
                ctx.update(&buf[..len]);
                ctx.update(&roc.to_be_bytes());
                let tag = ctx.sign();
                verify_slices_are_equal(&tag.as_ref()[..tag_len], &buf[len..])
                    .map_err(|_| RtpError::AuthFailed)?;
                ctr_apply(ctr, cm_iv(salt, ssrc, index), &mut buf[hl..len])?;
            }
            Transform::Gcm { key, salt } => {
                let nonce = Nonce::assume_unique_for_key(gcm_rtp_iv(salt, ssrc, roc, seq));
                let (head, rest) = buf.split_at_mut(hl);
                key.open_in_place(nonce, Aad::from(&*head), rest)
                    .map_err(|_| RtpError::AuthFailed)?;
            }
        }
        stream.accept_rtp(index);
        self.store(stream)?;
        Ok(len)
    }

    /// Protects the RTCP compound packet in `buf[..len]` in place (E = 1, encrypted) and
    /// returns the SRTCP length (`len + profile.rtcp_overhead()`).
    pub fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, RtpError> {
        let tag_len = self.profile.rtcp_auth_tag_len();
        if len > buf.len() {
            return Err(RtpError::InvalidInput("len beyond the buffer"));
        }
        if len < 8 {
            return Err(RtpError::too_short("RTCP packet", 8, len));
        }
        let v = buf[0] >> 6;
        if v != 2 {
            return Err(RtpError::BadVersion(v));
        }
        let total = len + SRTCP_INDEX_LEN + tag_len;
        if buf.len() < total {
            return Err(RtpError::BufferTooSmall {
                need: total,
                have: buf.len(),
            });
        }
        let ssrc = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        let i = self.slot_for_insert(ssrc)?;
        let index = self.streams[i].srtcp_next;
        if index > SRTCP_MAX_INDEX {
            return Err(RtpError::IndexExhausted);
        }
        let e_index = (E_BIT | index).to_be_bytes();
        match &self.rtcp {
            Transform::CmSha1 { ctr, mac, salt } => {
                ctr_apply(ctr, cm_iv(salt, ssrc, u64::from(index)), &mut buf[8..len])?;
                buf[len..len + 4].copy_from_slice(&e_index);
                let mut ctx = hmac::Context::with_key(mac);
                ctx.update(&buf[..len + 4]);
                let tag = ctx.sign();
                buf[len + 4..total].copy_from_slice(&tag.as_ref()[..tag_len]);
            }
            Transform::Gcm { key, salt } => {
                let nonce = Nonce::assume_unique_for_key(gcm_rtcp_iv(salt, ssrc, index));
                let mut aad = [0u8; 12];
                aad[..8].copy_from_slice(&buf[..8]);
                aad[8..].copy_from_slice(&e_index);
                let tag = key
                    .seal_in_place_separate_tag(nonce, Aad::from(aad), &mut buf[8..len])
                    .map_err(|_| RtpError::Crypto)?;
                buf[len..len + tag_len].copy_from_slice(tag.as_ref());
                buf[len + tag_len..total].copy_from_slice(&e_index);
            }
        }
        self.streams[i].srtcp_next = index + 1;
        Ok(total)
    }

    /// Verifies and (when the E bit is set) decrypts the SRTCP packet `buf` in place;
    /// returns the RTCP length.
    pub fn unprotect_rtcp(&mut self, buf: &mut [u8]) -> Result<usize, RtpError> {
        let tag_len = self.profile.rtcp_auth_tag_len();
        let min = 8 + SRTCP_INDEX_LEN + tag_len;
        if buf.len() < min {
            return Err(RtpError::too_short("SRTCP packet", min, buf.len()));
        }
        let v = buf[0] >> 6;
        if v != 2 {
            return Err(RtpError::BadVersion(v));
        }
        let ssrc = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
        let rtcp_len = buf.len() - SRTCP_INDEX_LEN - tag_len;
        let mut stream = self.peek(ssrc)?;
        match &self.rtcp {
            Transform::CmSha1 { ctr, mac, salt } => {
                // rtcp ‖ E‖index ‖ tag
                let at = rtcp_len;
                let word = u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
                let index = word & SRTCP_MAX_INDEX;
                stream.check_rtcp_replay(index)?;
                let mut ctx = hmac::Context::with_key(mac);
                ctx.update(&buf[..at + 4]);
                let tag = ctx.sign();
                verify_slices_are_equal(&tag.as_ref()[..tag_len], &buf[at + 4..])
                    .map_err(|_| RtpError::AuthFailed)?;
                if word & E_BIT != 0 {
                    ctr_apply(
                        ctr,
                        cm_iv(salt, ssrc, u64::from(index)),
                        &mut buf[8..rtcp_len],
                    )?;
                }
                stream.accept_rtcp(index);
            }
            Transform::Gcm { key, salt } => {
                // rtcp' ‖ tag ‖ E‖index
                let at = buf.len() - SRTCP_INDEX_LEN;
                let e_index = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
                let word = u32::from_be_bytes(e_index);
                let index = word & SRTCP_MAX_INDEX;
                stream.check_rtcp_replay(index)?;
                let nonce = Nonce::assume_unique_for_key(gcm_rtcp_iv(salt, ssrc, index));
                if word & E_BIT != 0 {
                    // AAD = header and sender SSRC ‖ E‖index (RFC 7714 §9).
                    let mut aad = [0u8; 12];
                    aad[..8].copy_from_slice(&buf[..8]);
                    aad[8..].copy_from_slice(&e_index);
                    key.open_in_place(nonce, Aad::from(aad), &mut buf[8..at])
                        .map_err(|_| RtpError::AuthFailed)?;
                } else {
                    // Unencrypted SRTCP: the whole packet and E‖index are AAD (RFC 7714 §9).
                    // Move E‖index ahead of the tag so the AAD is contiguous.
                    let mut tag = [0u8; 16];
                    tag.copy_from_slice(&buf[rtcp_len..at]);
                    buf[rtcp_len..rtcp_len + 4].copy_from_slice(&e_index);
                    let opened = key.open_in_place_separate_tag(
                        nonce,
                        Aad::from(&buf[..rtcp_len + 4]),
                        &tag,
                        &mut [],
                    );
                    if opened.is_err() {
                        // Leave the packet as it came.
                        buf[rtcp_len..at].copy_from_slice(&tag);
                        return Err(RtpError::AuthFailed);
                    }
                }
                stream.accept_rtcp(index);
            }
        }
        self.store(stream)?;
        Ok(rtcp_len)
    }
}

#[cfg(test)]
mod tests;
