//! The crate's error type and its mapping onto str0m's (dimpl's) DTLS error.

use dimpl::{CryptoError, CryptoOperation, TimeoutError};
use str0m::crypto::dtls::DtlsImplError;

use crate::record::RecordError;

/// What went wrong in a DTLS instance or while setting one up.
///
/// str0m only sees [`DtlsImplError`] (dimpl's error type, which has no free-form variant), so
/// every variant is logged with its detail under the `tessera::dtls` target before it is mapped
/// (see [`Error::to_dtls_impl_error`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer sent a datagram that is not a sequence of DTLS 1.2 records. Dropped before
    /// OpenSSL sees it; the instance is unchanged.
    #[error("malformed DTLS datagram: {0}")]
    MalformedDatagram(#[from] RecordError),
    /// OpenSSL failed the handshake (bad signature, no shared cipher suite or SRTP profile,
    /// a fatal alert from the peer, ...). The instance is dead.
    #[error("DTLS handshake failed: {0}")]
    Handshake(String),
    /// The peer completed the handshake without a certificate; str0m needs one to check the
    /// SDP fingerprint.
    #[error("DTLS peer sent no certificate")]
    NoPeerCertificate,
    /// The handshake completed without an SRTP protection profile both sides support.
    #[error("no DTLS-SRTP protection profile was negotiated")]
    NoSrtpProfile,
    /// Exporting the DTLS-SRTP keying material failed.
    #[error("exporting DTLS-SRTP keying material failed: {0}")]
    KeyExport(String),
    /// OpenSSL gave up after its maximum number of retransmissions.
    #[error("DTLS handshake timed out after repeated retransmissions")]
    RetransmitLimit,
    /// Reading or writing application data on an established connection failed.
    #[error("DTLS record processing failed: {0}")]
    Record(String),
    /// The connection is closed (close_notify sent or received) or failed earlier.
    #[error("DTLS connection is closed")]
    Closed,
    /// Setting up OpenSSL (context, certificate, key) failed.
    #[error("OpenSSL setup failed: {0}")]
    Setup(#[from] openssl::error::ErrorStack),
    /// The certificate or its private key could not be used.
    #[error("bad DTLS certificate: {0}")]
    Certificate(String),
    /// This provider does DTLS 1.2 only.
    #[error("unsupported DTLS version {0} (only DTLS 1.2 is supported)")]
    UnsupportedVersion(str0m::crypto::dtls::DtlsVersion),
    /// Keying material whose length does not fit the SRTP protection profile.
    #[error("keying material of {actual} bytes does not fit the profile ({expected} bytes)")]
    KeyingMaterialLength {
        /// Length the profile needs.
        expected: usize,
        /// Length given.
        actual: usize,
    },
}

impl Error {
    /// The nearest [`DtlsImplError`]; str0m turns it into `"DTLS error: {e}"`.
    pub fn to_dtls_impl_error(&self) -> DtlsImplError {
        fn op(operation: CryptoOperation) -> DtlsImplError {
            DtlsImplError::CryptoError(CryptoError::OperationFailed(operation))
        }
        match self {
            Error::MalformedDatagram(_) | Error::Record(_) => op(CryptoOperation::Decrypt),
            Error::Handshake(_) => op(CryptoOperation::VerifyData),
            Error::NoPeerCertificate => DtlsImplError::CertificateError(
                dimpl::CertificateError::NoClientCertificateReceived,
            ),
            Error::NoSrtpProfile | Error::KeyExport(_) | Error::KeyingMaterialLength { .. } => {
                op(CryptoOperation::ExtractSrtpKeyingMaterial)
            }
            Error::RetransmitLimit => DtlsImplError::Timeout(TimeoutError::Handshake),
            Error::Closed => DtlsImplError::ConnectionClosed,
            Error::Setup(_) | Error::UnsupportedVersion(_) => op(CryptoOperation::CreateCipher),
            Error::Certificate(_) => op(CryptoOperation::LoadPrivateKey),
        }
    }
}

impl From<Error> for str0m::crypto::CryptoError {
    fn from(e: Error) -> Self {
        str0m::crypto::CryptoError::Other(e.to_string())
    }
}
