//! Self-signed ECDSA P-256 DTLS certificates, and the one a server shares across sessions.

use std::sync::OnceLock;
use std::time::Duration;

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::{X509, X509NameBuilder};
use str0m::crypto::dtls::DtlsCert;

use crate::Error;

/// Validity of the certificates [`OpensslDtlsProvider`](crate::OpensslDtlsProvider) generates
/// per session when no certificate is configured (browsers use 30 days too).
pub const SESSION_CERT_VALIDITY: Duration = Duration::from_secs(30 * 24 * 3600);

/// Validity of [`shared_dtls_cert`], which lives as long as the process.
pub const SHARED_CERT_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);

/// Generates a self-signed X.509 v3 certificate with an ECDSA P-256 key, signed with
/// ECDSA-SHA256: a random 127-bit serial number, a random common name, valid from a day ago
/// (clock skew) until `validity` from now. The key is returned as PKCS#8 DER, which OpenSSL and
/// str0m's other backends all read.
///
/// The certificate authenticates nothing by itself: WebRTC peers pin its SHA-256 fingerprint
/// from the SDP (`a=fingerprint`).
pub fn generate_dtls_cert(validity: Duration) -> Result<DtlsCert, Error> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    let key = PKey::from_ec_key(EcKey::generate(&group)?)?;

    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let mut cn = [0u8; 8];
    openssl::rand::rand_bytes(&mut cn)?;
    let cn: String = cn.iter().map(|b| format!("{b:02x}")).collect();
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COMMONNAME, &format!("tessera-{cn}"))?;
    let name = name.build();

    let days = u32::try_from(validity.as_secs() / 86_400)
        .map_err(|_| Error::Certificate("validity too long".into()))?;
    let mut b = X509::builder()?;
    b.set_version(2)?; // X.509 v3
    let serial = serial.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(&name)?;
    b.set_pubkey(&key)?;
    let not_before = Asn1Time::from_unix(unix_now() - 86_400)?;
    b.set_not_before(&not_before)?;
    let not_after = Asn1Time::days_from_now(days.max(1))?;
    b.set_not_after(&not_after)?;
    b.sign(&key, MessageDigest::sha256())?;
    let cert = b.build();

    Ok(DtlsCert {
        certificate: cert.to_der()?,
        private_key: key.private_key_to_pkcs8()?,
    })
}

/// The process's DTLS certificate, generated on first use ([`SHARED_CERT_VALIDITY`]).
///
/// A server sets it on every session (`RtcConfig::set_dtls_cert(shared_dtls_cert())`) so that
/// key generation does not run per session, every SDP answer carries the same fingerprint, and
/// [`OpensslDtlsProvider`](crate::OpensslDtlsProvider) reuses one OpenSSL context.
///
/// # Panics
/// If OpenSSL cannot generate a P-256 key and sign a certificate, which only happens when the
/// library is broken.
pub fn shared_dtls_cert() -> DtlsCert {
    static CERT: OnceLock<DtlsCert> = OnceLock::new();
    CERT.get_or_init(|| {
        generate_dtls_cert(SHARED_CERT_VALIDITY)
            .expect("OpenSSL generates an ECDSA P-256 key and self-signed certificate")
    })
    .clone()
}

fn unix_now() -> i64 {
    // Certificate validity is calendar time; this is the one wall-clock read in the crate
    // outside OpenSSL itself.
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_cert_is_ecdsa_p256_self_signed_and_matches_its_key() {
        let c = generate_dtls_cert(SESSION_CERT_VALIDITY).unwrap();
        let x = X509::from_der(&c.certificate).unwrap();
        let key = PKey::private_key_from_der(&c.private_key).unwrap();
        let pubkey = x.public_key().unwrap();
        assert!(pubkey.public_eq(&key));
        let ec = pubkey.ec_key().unwrap();
        assert_eq!(ec.group().curve_name(), Some(Nid::X9_62_PRIME256V1));
        assert!(x.verify(&pubkey).unwrap(), "self-signed");
        assert_eq!(
            x.signature_algorithm().object().nid(),
            Nid::ECDSA_WITH_SHA256
        );
        let now = Asn1Time::days_from_now(0).unwrap();
        let in_29_days = Asn1Time::days_from_now(29).unwrap();
        assert!(x.not_before() < now);
        assert!(x.not_after() > in_29_days);

        let other = generate_dtls_cert(SESSION_CERT_VALIDITY).unwrap();
        assert_ne!(c.certificate, other.certificate);
    }

    #[test]
    fn shared_cert_is_generated_once() {
        assert_eq!(
            shared_dtls_cert().certificate,
            shared_dtls_cert().certificate
        );
    }
}
