//! Portal reconnection tickets (spec §3.5).
//!
//! Base64 of the JSON `{"participantId", "ticketId", "notBefore", "notAfter", "signature"}`;
//! `signature = owt_signature(portal_secret, "<participantId>,<notBefore>,<notAfter>")`.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::sign;

/// A reconnection ticket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    /// Participant the ticket lets back in.
    pub participant_id: String,
    /// Random base-36 id.
    pub ticket_id: String,
    /// Start of validity, ms since the epoch.
    pub not_before: i64,
    /// End of validity, ms since the epoch.
    pub not_after: i64,
    /// Signature.
    pub signature: String,
}

/// Why a ticket was refused (the strings are what OWT clients see).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// Not Base64 JSON of a ticket.
    #[error("Invalid reconnection ticket")]
    Malformed,
    /// Outside `[notBefore, notAfter]`.
    #[error("Ticket is expired")]
    Expired,
    /// Bad signature.
    #[error("Invalid reconnection ticket signature")]
    Signature,
}

fn message(pid: &str, nb: i64, na: i64) -> String {
    format!("{pid},{nb},{na}")
}

fn base36(mut v: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(v % 36) as usize]);
        v /= 36;
        if v == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).expect("base-36 digits are ASCII")
}

impl Ticket {
    /// A ticket valid from `now_ms` for `lifetime_ms`.
    pub fn issue(secret: &str, participant_id: &str, now_ms: i64, lifetime_ms: i64) -> Ticket {
        let not_after = now_ms + lifetime_ms;
        Ticket {
            participant_id: participant_id.to_string(),
            ticket_id: base36(rand::random::<u64>() >> 11),
            not_before: now_ms,
            not_after,
            signature: sign::owt_signature(secret, &message(participant_id, now_ms, not_after)),
        }
    }

    /// The transported form.
    pub fn encode(&self) -> String {
        base64::engine::general_purpose::STANDARD
            .encode(serde_json::to_string(self).expect("tickets serialise"))
    }

    /// Decodes and checks a ticket string at time `now_ms`.
    pub fn validate(s: &str, secret: &str, now_ms: i64) -> Result<Ticket, TicketError> {
        if s.len() > 4096 {
            return Err(TicketError::Malformed);
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .map_err(|_| TicketError::Malformed)?;
        let t: Ticket = serde_json::from_slice(&bytes).map_err(|_| TicketError::Malformed)?;
        if now_ms < t.not_before || now_ms > t.not_after {
            return Err(TicketError::Expired);
        }
        if !sign::verify(
            secret,
            &message(&t.participant_id, t.not_before, t.not_after),
            &t.signature,
        ) {
            return Err(TicketError::Signature);
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // owt-compat-spec.md, Appendix A: reconnection ticket signature.
    #[test]
    fn appendix_a_ticket_signature() {
        assert_eq!(
            sign::owt_signature(
                &"1".repeat(128),
                &message("AbCdEfGhIjKlMnOpQrSt", 1_700_000_000_000, 1_700_000_600_000)
            ),
            "MDQ3MWZjM2ZmY2Q1M2Q3YmIzMDE2Mjc0MjFlNzE4ZjZhODg4ZmUyMzk2NDg3Y2FlMmJkYmVhMzdjYWNkYWYzMA=="
        );
    }

    #[test]
    fn issue_and_validate() {
        let secret = "1".repeat(128);
        let t = Ticket::issue(&secret, "AbCdEfGhIjKlMnOpQrSt", 1_700_000_000_000, 600_000);
        assert_eq!(t.not_after, 1_700_000_600_000);
        let s = t.encode();
        assert_eq!(
            Ticket::validate(&s, &secret, 1_700_000_000_001),
            Ok(t.clone())
        );
        assert_eq!(
            Ticket::validate(&s, &secret, 1_700_000_600_001),
            Err(TicketError::Expired)
        );
        assert_eq!(
            Ticket::validate(&s, &"2".repeat(128), 1_700_000_000_001),
            Err(TicketError::Signature)
        );
        assert_eq!(
            Ticket::validate("x", &secret, 0),
            Err(TicketError::Malformed)
        );
    }
}
