//! The crate's one error type.
//!
//! Every variant names what was wrong with the input (a peer's packet) or with the call (API
//! misuse). Variants carry only `Copy` data, so building an error on the packet path never
//! allocates; a caller can map each variant to a drop-reason counter.

/// Everything that can go wrong in `tessera-rtp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtpError {
    // ---- Framing (RTP and RTCP) ------------------------------------------------------------
    /// The input ends before a field that must be there.
    #[error("{what}: need {need} bytes, have {have}")]
    TooShort {
        /// The structure being read.
        what: &'static str,
        /// Bytes the structure needs.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// The version field is not 2 (RFC 3550 §5.1, §6.4.1).
    #[error("version {0}, expected 2")]
    BadVersion(u8),
    /// The padding count (last octet) is zero or longer than the packet body (RFC 3550 §5.1).
    #[error("padding of {pad} bytes does not fit in the {available} bytes after the header")]
    BadPadding {
        /// The padding count read from the last octet.
        pad: usize,
        /// Bytes between the end of the header and the end of the packet.
        available: usize,
    },
    /// The RTP header extension block is malformed (RFC 3550 §5.3.1, RFC 8285 §4).
    #[error("header extension: {0}")]
    BadExtension(&'static str),
    /// An RTCP packet's length field runs past the end of the compound packet
    /// (RFC 3550 §6.4.1).
    #[error("RTCP length of {words} words runs past the {have} bytes left")]
    BadLength {
        /// The length field plus one, in 32-bit words.
        words: usize,
        /// Bytes left in the compound packet.
        have: usize,
    },
    /// An RTCP packet's body does not match its count or format (named in the payload).
    #[error("RTCP {what}: {reason}")]
    BadRtcp {
        /// The packet type (`"SR"`, `"SDES"`, `"transport-cc"`, ...).
        what: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },

    // ---- Writers and setters (API misuse) --------------------------------------------------
    /// The caller's output buffer is too small.
    #[error("output buffer too small: need {need} bytes, have {have}")]
    BufferTooSmall {
        /// Bytes the output needs.
        need: usize,
        /// Bytes the buffer has.
        have: usize,
    },
    /// A value handed to a writer cannot be encoded.
    #[error("invalid input: {0}")]
    InvalidInput(&'static str),

    // ---- Header-extension values -----------------------------------------------------------
    /// A header-extension value has the wrong length or content for its URI.
    #[error("{what} extension value: {reason}")]
    BadExtensionValue {
        /// The extension (`"mid"`, `"audio-level"`, ...).
        what: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },

    // ---- Codec payloads --------------------------------------------------------------------
    /// A codec payload descriptor is truncated or inconsistent.
    #[error("{codec} payload descriptor: {reason}")]
    BadPayload {
        /// The codec (`"VP8"`, `"VP9"`).
        codec: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },

    // ---- SRTP ------------------------------------------------------------------------------
    /// The DTLS-SRTP protection profile id is not one this crate implements.
    #[error("unknown or unsupported SRTP protection profile 0x{0:04x}")]
    UnknownProfile(u16),
    /// Keying material or a master key/salt has the wrong length for the profile.
    #[error("keying material: need {need} bytes, have {have}")]
    BadKeyLength {
        /// Bytes the profile needs.
        need: usize,
        /// Bytes supplied.
        have: usize,
    },
    /// The authentication tag did not verify (tampered, wrong key, or wrong index guess).
    #[error("SRTP authentication failed")]
    AuthFailed,
    /// The packet index was already received (RFC 3711 §3.3.2).
    #[error("SRTP replay: packet index already seen")]
    Replayed,
    /// The packet index is behind the replay window (RFC 3711 §3.3.2).
    #[error("SRTP replay: packet index is older than the replay window")]
    TooOld,
    /// The packet index space is used up; the keys must be renegotiated (RFC 3711 §9.2).
    #[error("SRTP packet index exhausted; rekey required")]
    IndexExhausted,
    /// The per-SSRC table is at its configured capacity.
    #[error("SRTP context already tracks its maximum of {0} SSRCs")]
    TooManyStreams(usize),
    /// The cryptographic library reported an internal failure.
    #[error("crypto library failure")]
    Crypto,
}

impl RtpError {
    pub(crate) const fn too_short(what: &'static str, need: usize, have: usize) -> Self {
        RtpError::TooShort { what, need, have }
    }

    pub(crate) const fn rtcp(what: &'static str, reason: &'static str) -> Self {
        RtpError::BadRtcp { what, reason }
    }
}

/// Checks that `out` has room for `need` bytes.
#[inline]
pub(crate) fn check_room(out: &[u8], need: usize) -> Result<(), RtpError> {
    if out.len() < need {
        Err(RtpError::BufferTooSmall {
            need,
            have: out.len(),
        })
    } else {
        Ok(())
    }
}
