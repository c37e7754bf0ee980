//! [`OpensslDtlsProvider`]: str0m's `DtlsProvider` on OpenSSL, and the crate's crypto provider.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use openssl::pkey::PKey;
use openssl::ssl::{SslContext, SslContextBuilder, SslMethod, SslOptions};
use openssl::ssl::{SslSessionCacheMode, SslVerifyMode, SslVersion};
use openssl::x509::X509;
use str0m::crypto::CryptoError;
use str0m::crypto::CryptoProvider;
use str0m::crypto::dtls::{DtlsCert, DtlsInstance, DtlsProvider, DtlsVersion};

use crate::instance::OpensslDtlsInstance;
use crate::tap::{self, SrtpProtectionProfile};
use crate::{Error, cert};

/// Cipher suites, most preferred first; the server applies this order: AES-GCM, then
/// ChaCha20-Poly1305. Each with an ECDSA and an RSA certificate: ours is ECDSA, the RSA
/// variants are for peers (webrtcbin, libnice-based clients) that act as DTLS server with an
/// RSA certificate.
///
/// No AES-CBC suites: with encrypt-then-MAC (OpenSSL's default) OpenSSL 3.0 fails the whole
/// DTLS connection on any record with a bad MAC, so one spoofed datagram would end a session
/// (measured; see docs/DTLS.md). AEAD records that fail to decrypt are silently dropped.
pub const CIPHER_LIST: &str = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:\
ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:\
ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

/// Key-exchange groups, most preferred first.
pub const GROUPS: &str = "X25519:P-256:P-384";

/// Default initial retransmission timeout (RFC 6347 §4.2.4.1: 1 s, doubling up to 60 s).
pub const DEFAULT_INITIAL_RETRANSMIT: Duration = Duration::from_secs(1);

/// The shortest initial retransmission timeout. OpenSSL treats a timer with less than 15 ms
/// left as expired, and its read path retransmits on an expired timer: with a shorter first
/// timeout `SSL_connect` resent the ClientHello in a loop until it gave up (measured; test
/// `initial_retransmit_is_clamped_above_opensslls_expiry_threshold`).
pub const MIN_INITIAL_RETRANSMIT: Duration = Duration::from_millis(20);

/// str0m's DTLS provider on OpenSSL (DTLS 1.2).
///
/// * As a server (str0m's `a=setup:passive`) it requests a client certificate of any type and
///   any issuer and requires one; the verify callback accepts everything because str0m checks
///   the certificate against the SDP fingerprint (`PeerCert` output).
/// * Cipher suites: [`CIPHER_LIST`]; SRTP profiles: [`SrtpProtectionProfile::PREFERENCE`].
/// * The instance's retransmission timer starts at the configured initial timeout and doubles
///   up to 60 s; OpenSSL gives up after 12 retransmissions.
///
/// Usable in a `static` (str0m wants `&'static dyn DtlsProvider`). Caches the OpenSSL contexts
/// of the last four certificates it saw, so a server that uses
/// [`shared_dtls_cert`](crate::shared_dtls_cert) builds its context once.
#[derive(Debug)]
pub struct OpensslDtlsProvider {
    initial_retransmit_us: u32,
    /// Contexts of the last few certificates, most recently used first.
    contexts: Mutex<Vec<CachedContext>>,
}

/// How many certificates' contexts [`OpensslDtlsProvider`] keeps.
const CONTEXT_CACHE_LEN: usize = 4;

struct CachedContext {
    certificate: Vec<u8>,
    private_key: Vec<u8>,
    context: SslContext,
}

impl std::fmt::Debug for CachedContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedContext")
            .field("certificate_len", &self.certificate.len())
            .finish_non_exhaustive()
    }
}

impl Default for OpensslDtlsProvider {
    fn default() -> Self {
        Self::new()
    }
}

impl OpensslDtlsProvider {
    /// The provider with [`DEFAULT_INITIAL_RETRANSMIT`].
    pub const fn new() -> Self {
        Self::with_initial_retransmit(DEFAULT_INITIAL_RETRANSMIT)
    }

    /// The provider with another initial retransmission timeout, clamped to
    /// [`MIN_INITIAL_RETRANSMIT`] ..= 60 s.
    pub const fn with_initial_retransmit(timeout: Duration) -> Self {
        let us = timeout.as_micros();
        let min = MIN_INITIAL_RETRANSMIT.as_micros();
        let us = if us < min {
            min as u32
        } else if us > crate::timer::MAX_RETRANSMIT_US as u128 {
            crate::timer::MAX_RETRANSMIT_US
        } else {
            us as u32
        };
        OpensslDtlsProvider {
            initial_retransmit_us: us,
            contexts: Mutex::new(Vec::new()),
        }
    }

    /// The initial retransmission timeout.
    pub fn initial_retransmit(&self) -> Duration {
        Duration::from_micros(u64::from(self.initial_retransmit_us))
    }

    /// An instance of our concrete type (what [`DtlsProvider::new_dtls`] boxes).
    ///
    /// `mtu` is the largest datagram payload OpenSSL may produce (str0m passes its DTLS MTU).
    pub fn new_instance(
        &self,
        cert: &DtlsCert,
        now: Instant,
        mtu: usize,
    ) -> Result<OpensslDtlsInstance, Error> {
        let ctx = self.context_for(cert)?;
        OpensslDtlsInstance::new(
            &ctx,
            now,
            mtu,
            self.initial_retransmit_us,
            tap::take_pending(),
        )
    }

    fn context_for(&self, cert: &DtlsCert) -> Result<SslContext, Error> {
        let mut cache = self.contexts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = cache
            .iter()
            .position(|c| c.certificate == cert.certificate && c.private_key == cert.private_key)
        {
            let hit = cache.remove(i);
            let context = hit.context.clone();
            cache.insert(0, hit);
            return Ok(context);
        }
        let context = build_context(cert)?;
        cache.truncate(CONTEXT_CACHE_LEN - 1);
        cache.insert(
            0,
            CachedContext {
                certificate: cert.certificate.clone(),
                private_key: cert.private_key.clone(),
                context: context.clone(),
            },
        );
        Ok(context)
    }
}

/// The OpenSSL context for one certificate; see [`OpensslDtlsProvider`] for the policy.
fn build_context(cert: &DtlsCert) -> Result<SslContext, Error> {
    let x509 = X509::from_der(&cert.certificate)
        .map_err(|e| Error::Certificate(format!("certificate: {e}")))?;
    let key = PKey::private_key_from_der(&cert.private_key)
        .map_err(|e| Error::Certificate(format!("private key: {e}")))?;

    let mut b = SslContextBuilder::new(SslMethod::dtls())?;
    b.set_min_proto_version(Some(SslVersion::DTLS1_2))?;
    b.set_max_proto_version(Some(SslVersion::DTLS1_2))?;
    b.set_cipher_list(CIPHER_LIST)?;
    b.set_groups_list(GROUPS)?;
    b.set_options(
        SslOptions::CIPHER_SERVER_PREFERENCE
            | SslOptions::NO_QUERY_MTU
            | SslOptions::NO_RENEGOTIATION
            | SslOptions::NO_TICKET,
    );
    b.set_session_cache_mode(SslSessionCacheMode::OFF);
    let profiles: Vec<&str> = SrtpProtectionProfile::PREFERENCE
        .iter()
        .map(|p| p.openssl_name())
        .collect();
    b.set_tlsext_use_srtp(&profiles.join(":"))?;
    // Ask for (and require) the peer's certificate, whatever its type or issuer: str0m pins it
    // with the SDP fingerprint after the handshake.
    b.set_verify_callback(
        SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT,
        |_preverify, _ctx| true,
    );
    b.set_certificate(&x509)?;
    b.set_private_key(&key)?;
    b.check_private_key()
        .map_err(|e| Error::Certificate(format!("key does not match certificate: {e}")))?;
    Ok(b.build())
}

impl DtlsProvider for OpensslDtlsProvider {
    fn generate_certificate(&self) -> Option<DtlsCert> {
        match cert::generate_dtls_cert(cert::SESSION_CERT_VALIDITY) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::error!(target: "tessera::dtls", error = %e, "DTLS certificate generation failed");
                None
            }
        }
    }

    fn new_dtls(
        &self,
        cert: &DtlsCert,
        now: Instant,
        dtls_version: DtlsVersion,
        mtu: Option<usize>,
    ) -> Result<Box<dyn DtlsInstance>, CryptoError> {
        // `Auto` lets the peer pick; OpenSSL 3.0 has no DTLS 1.3, so 1.2 it is.
        if dtls_version == DtlsVersion::Dtls13 {
            return Err(Error::UnsupportedVersion(dtls_version).into());
        }
        let mtu = mtu.unwrap_or(str0m_default_mtu());
        Ok(Box::new(self.new_instance(cert, now, mtu)?))
    }
}

/// str0m's datagram MTU target (`DATAGRAM_MTU_TARGET`), used when it passes none.
const fn str0m_default_mtu() -> usize {
    1150
}

/// The DTLS provider [`crypto_provider`] uses.
pub static DTLS_PROVIDER: OpensslDtlsProvider = OpensslDtlsProvider::new();

/// str0m's crypto provider with DTLS from [`DTLS_PROVIDER`] (OpenSSL) and SRTP, SHA-1 HMAC
/// (STUN), SHA-1 and SHA-256 from `str0m_aws_lc_rs::default_provider()`.
///
/// `RtcConfig::set_crypto_provider(Arc::new(tessera_dtls::crypto_provider()))`.
pub fn crypto_provider() -> CryptoProvider {
    let aws = str0m_aws_lc_rs::default_provider();
    CryptoProvider {
        srtp_provider: aws.srtp_provider,
        sha1_hmac_provider: aws.sha1_hmac_provider,
        sha1_provider: aws.sha1_provider,
        sha256_provider: aws.sha256_provider,
        dtls_provider: &DTLS_PROVIDER,
    }
}
