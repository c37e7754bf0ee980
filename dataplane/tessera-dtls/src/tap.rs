//! The key tap: how the session that owns a str0m `Rtc` learns the DTLS-SRTP keys.
//!
//! str0m creates its DTLS instance inside `RtcConfig::build()`, on the calling thread, through
//! the `&'static` [`DtlsProvider`](str0m::crypto::dtls::DtlsProvider); nothing session-specific
//! can be passed through that call. So [`with_key_tap`] parks a [`KeyTap`] in a thread-local
//! for the duration of a closure, and [`OpensslDtlsProvider::new_dtls`] takes it from there.
//! When that instance later outputs `KeyingMaterial`, it also stores an [`ExportedSrtpKeys`] in
//! the tap, which the session reads with [`KeyTap::get`] (any thread; it is written once).
//!
//! Instances created outside `with_key_tap` report nothing. A tap whose `Rtc` was built with
//! another DTLS provider stays empty and [`KeyTap::is_attached`] says so.
//!
//! [`OpensslDtlsProvider::new_dtls`]: crate::OpensslDtlsProvider

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use str0m::crypto::dtls::SrtpProfile;
use str0m::{Rtc, RtcConfig};

use crate::Error;

/// A DTLS-SRTP protection profile (RFC 5764 §4.1.2, RFC 7714 §14.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SrtpProtectionProfile {
    /// `SRTP_AES128_CM_HMAC_SHA1_80` (0x0001).
    Aes128CmSha1_80,
    /// `SRTP_AEAD_AES_128_GCM` (0x0007).
    AeadAes128Gcm,
    /// `SRTP_AEAD_AES_256_GCM` (0x0008).
    AeadAes256Gcm,
}

impl SrtpProtectionProfile {
    /// Our preference order, offered as a client and applied as a server.
    pub const PREFERENCE: [SrtpProtectionProfile; 3] = [
        SrtpProtectionProfile::AeadAes128Gcm,
        SrtpProtectionProfile::AeadAes256Gcm,
        SrtpProtectionProfile::Aes128CmSha1_80,
    ];

    /// The profile's id in the `use_srtp` extension.
    pub const fn id(self) -> u16 {
        match self {
            SrtpProtectionProfile::Aes128CmSha1_80 => 0x0001,
            SrtpProtectionProfile::AeadAes128Gcm => 0x0007,
            SrtpProtectionProfile::AeadAes256Gcm => 0x0008,
        }
    }

    /// The profile with this `use_srtp` id, if we support it.
    pub const fn from_id(id: u16) -> Option<Self> {
        match id {
            0x0001 => Some(SrtpProtectionProfile::Aes128CmSha1_80),
            0x0007 => Some(SrtpProtectionProfile::AeadAes128Gcm),
            0x0008 => Some(SrtpProtectionProfile::AeadAes256Gcm),
            _ => None,
        }
    }

    /// OpenSSL's name for the profile.
    pub const fn openssl_name(self) -> &'static str {
        match self {
            SrtpProtectionProfile::Aes128CmSha1_80 => "SRTP_AES128_CM_SHA1_80",
            SrtpProtectionProfile::AeadAes128Gcm => "SRTP_AEAD_AES_128_GCM",
            SrtpProtectionProfile::AeadAes256Gcm => "SRTP_AEAD_AES_256_GCM",
        }
    }

    /// SRTP master key length in bytes.
    pub const fn master_key_len(self) -> usize {
        match self {
            SrtpProtectionProfile::Aes128CmSha1_80 | SrtpProtectionProfile::AeadAes128Gcm => 16,
            SrtpProtectionProfile::AeadAes256Gcm => 32,
        }
    }

    /// SRTP master salt length in bytes.
    pub const fn master_salt_len(self) -> usize {
        match self {
            SrtpProtectionProfile::Aes128CmSha1_80 => 14,
            SrtpProtectionProfile::AeadAes128Gcm | SrtpProtectionProfile::AeadAes256Gcm => 12,
        }
    }

    /// Length of the keying material exported with the label `EXTRACTOR-dtls_srtp`:
    /// two keys and two salts (RFC 5764 §4.2).
    pub const fn keying_material_len(self) -> usize {
        2 * (self.master_key_len() + self.master_salt_len())
    }

    /// str0m's name for the profile.
    pub const fn to_str0m(self) -> SrtpProfile {
        match self {
            SrtpProtectionProfile::Aes128CmSha1_80 => SrtpProfile::AES128_CM_SHA1_80,
            SrtpProtectionProfile::AeadAes128Gcm => SrtpProfile::AEAD_AES_128_GCM,
            SrtpProtectionProfile::AeadAes256Gcm => SrtpProfile::AEAD_AES_256_GCM,
        }
    }

    /// Our name for one of str0m's profiles.
    pub fn from_str0m(p: SrtpProfile) -> Option<Self> {
        match p {
            SrtpProfile::AES128_CM_SHA1_80 => Some(SrtpProtectionProfile::Aes128CmSha1_80),
            SrtpProfile::AEAD_AES_128_GCM => Some(SrtpProtectionProfile::AeadAes128Gcm),
            SrtpProfile::AEAD_AES_256_GCM => Some(SrtpProtectionProfile::AeadAes256Gcm),
            _ => None,
        }
    }
}

impl fmt::Display for SrtpProtectionProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.openssl_name())
    }
}

/// The DTLS-SRTP keys a handshake produced, as the SFU's own SRTP path needs them.
///
/// `keying_material` is laid out as RFC 5764 §4.2 says: client key, server key, client salt,
/// server salt. The accessors split it; `local_*` is what this endpoint encrypts with,
/// `remote_*` what it decrypts with. `Debug` prints no key bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct ExportedSrtpKeys {
    profile: SrtpProtectionProfile,
    keying_material: Vec<u8>,
    is_client: bool,
}

impl ExportedSrtpKeys {
    /// Checks that the material has the profile's length.
    pub fn new(
        profile: SrtpProtectionProfile,
        keying_material: Vec<u8>,
        is_client: bool,
    ) -> Result<Self, Error> {
        if keying_material.len() != profile.keying_material_len() {
            return Err(Error::KeyingMaterialLength {
                expected: profile.keying_material_len(),
                actual: keying_material.len(),
            });
        }
        Ok(ExportedSrtpKeys {
            profile,
            keying_material,
            is_client,
        })
    }

    /// The negotiated protection profile.
    pub fn profile(&self) -> SrtpProtectionProfile {
        self.profile
    }

    /// The raw exported material (client key, server key, client salt, server salt).
    pub fn keying_material(&self) -> &[u8] {
        &self.keying_material
    }

    /// Whether this endpoint was the DTLS client (`a=setup:active`).
    pub fn is_client(&self) -> bool {
        self.is_client
    }

    fn part(&self, index: usize) -> &[u8] {
        let k = self.profile.master_key_len();
        let s = self.profile.master_salt_len();
        let (start, len) = match index {
            0 => (0, k),
            1 => (k, k),
            2 => (2 * k, s),
            _ => (2 * k + s, s),
        };
        &self.keying_material[start..start + len]
    }

    /// The client's SRTP master key.
    pub fn client_write_key(&self) -> &[u8] {
        self.part(0)
    }

    /// The server's SRTP master key.
    pub fn server_write_key(&self) -> &[u8] {
        self.part(1)
    }

    /// The client's SRTP master salt.
    pub fn client_write_salt(&self) -> &[u8] {
        self.part(2)
    }

    /// The server's SRTP master salt.
    pub fn server_write_salt(&self) -> &[u8] {
        self.part(3)
    }

    /// `(key, salt)` this endpoint protects outgoing SRTP/SRTCP with.
    pub fn local(&self) -> (&[u8], &[u8]) {
        if self.is_client {
            (self.client_write_key(), self.client_write_salt())
        } else {
            (self.server_write_key(), self.server_write_salt())
        }
    }

    /// `(key, salt)` this endpoint unprotects incoming SRTP/SRTCP with.
    pub fn remote(&self) -> (&[u8], &[u8]) {
        if self.is_client {
            (self.server_write_key(), self.server_write_salt())
        } else {
            (self.client_write_key(), self.client_write_salt())
        }
    }
}

impl fmt::Debug for ExportedSrtpKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportedSrtpKeys")
            .field("profile", &self.profile)
            .field("keying_material_len", &self.keying_material.len())
            .field("is_client", &self.is_client)
            .finish()
    }
}

/// Where one DTLS instance delivers its [`ExportedSrtpKeys`]. Cheap to clone, `Send + Sync`;
/// written once by the instance, read by the session.
#[derive(Clone, Default)]
pub struct KeyTap {
    inner: Arc<TapInner>,
}

#[derive(Default)]
struct TapInner {
    keys: OnceLock<ExportedSrtpKeys>,
    attached: AtomicBool,
}

impl KeyTap {
    /// An empty tap, attached to nothing yet.
    pub fn new() -> Self {
        KeyTap::default()
    }

    /// The keys, once the handshake has completed and str0m has polled them.
    pub fn get(&self) -> Option<&ExportedSrtpKeys> {
        self.inner.keys.get()
    }

    /// Whether a DTLS instance of ours took this tap (false if the `Rtc` was built with another
    /// DTLS provider, or outside [`with_key_tap`]).
    pub fn is_attached(&self) -> bool {
        self.inner.attached.load(Ordering::Acquire)
    }

    pub(crate) fn attach(&self) {
        self.inner.attached.store(true, Ordering::Release);
    }

    /// Stores the keys; a second call (which a single handshake never makes) is ignored.
    pub(crate) fn deliver(&self, keys: ExportedSrtpKeys) {
        let _ = self.inner.keys.set(keys);
    }
}

impl fmt::Debug for KeyTap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyTap")
            .field("attached", &self.is_attached())
            .field("keys", &self.get())
            .finish()
    }
}

thread_local! {
    static PENDING: RefCell<Option<KeyTap>> = const { RefCell::new(None) };
}

/// Restores the previous pending tap when dropped, also on unwind.
struct PendingGuard(Option<KeyTap>);

impl Drop for PendingGuard {
    fn drop(&mut self) {
        let prev = self.0.take();
        PENDING.with(|p| *p.borrow_mut() = prev);
    }
}

/// Runs `f` with `tap` offered to the first DTLS instance our provider creates on this thread
/// inside `f` (str0m creates exactly one per `RtcConfig::build`). Nests; the previous offer is
/// restored afterwards, also if `f` panics.
pub fn with_key_tap<R>(tap: &KeyTap, f: impl FnOnce() -> R) -> R {
    let prev = PENDING.with(|p| p.borrow_mut().replace(tap.clone()));
    let _guard = PendingGuard(prev);
    f()
}

/// Builds the `Rtc` and returns the tap its DTLS instance will deliver keys to.
///
/// `config` must use our DTLS provider (e.g. `set_crypto_provider(Arc::new(crypto_provider()))`),
/// otherwise the tap is never attached (logged as a warning).
pub fn build_with_tap(config: RtcConfig, now: Instant) -> (Rtc, KeyTap) {
    let tap = KeyTap::new();
    let rtc = with_key_tap(&tap, || config.build(now));
    if !tap.is_attached() {
        tracing::warn!(
            target: "tessera::dtls",
            "Rtc built without tessera-dtls's DTLS provider; its key tap stays empty"
        );
    }
    (rtc, tap)
}

/// Takes the tap offered by [`with_key_tap`], if any (called by `new_dtls`).
pub(crate) fn take_pending() -> Option<KeyTap> {
    PENDING.with(|p| p.borrow_mut().take())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keying_material_splits_as_rfc_5764_says() {
        let p = SrtpProtectionProfile::Aes128CmSha1_80;
        assert_eq!(p.keying_material_len(), 60);
        let m: Vec<u8> = (0..60).collect();
        let k = ExportedSrtpKeys::new(p, m.clone(), true).unwrap();
        assert_eq!(k.client_write_key(), &m[0..16]);
        assert_eq!(k.server_write_key(), &m[16..32]);
        assert_eq!(k.client_write_salt(), &m[32..46]);
        assert_eq!(k.server_write_salt(), &m[46..60]);
        assert_eq!(k.local(), (&m[0..16], &m[32..46]));
        let server = ExportedSrtpKeys::new(p, m.clone(), false).unwrap();
        assert_eq!(server.local(), k.remote());

        let g = SrtpProtectionProfile::AeadAes256Gcm;
        assert_eq!(g.keying_material_len(), 88);
        let k = ExportedSrtpKeys::new(g, (0..88).collect(), false).unwrap();
        assert_eq!(k.server_write_salt(), &(76..88).collect::<Vec<u8>>()[..]);
        assert!(ExportedSrtpKeys::new(g, vec![0; 60], false).is_err());
        assert!(
            !format!("{k:?}").contains("76"),
            "Debug prints no key bytes"
        );
    }

    #[test]
    fn profile_ids_round_trip() {
        for p in SrtpProtectionProfile::PREFERENCE {
            assert_eq!(SrtpProtectionProfile::from_id(p.id()), Some(p));
            assert_eq!(SrtpProtectionProfile::from_str0m(p.to_str0m()), Some(p));
            assert_eq!(p.keying_material_len(), p.to_str0m().keying_material_len());
        }
        assert_eq!(SrtpProtectionProfile::from_id(0x0002), None);
    }

    #[test]
    fn pending_tap_is_scoped_and_taken_once() {
        let outer = KeyTap::new();
        let inner = KeyTap::new();
        with_key_tap(&outer, || {
            with_key_tap(&inner, || {
                take_pending().unwrap().attach();
                assert!(take_pending().is_none());
            });
            take_pending().unwrap().attach();
        });
        assert!(take_pending().is_none());
        assert!(outer.is_attached() && inner.is_attached());

        let r = std::panic::catch_unwind(|| with_key_tap(&KeyTap::new(), || panic!("boom")));
        assert!(r.is_err());
        assert!(take_pending().is_none(), "restored after a panic");
    }
}
