//! One peer connection ("transport" in OWT's words), sans-IO.
//!
//! str0m runs ICE (full agent, controlled) until the transport is connected, and DTLS, through
//! its direct API: no str0m media state exists, so str0m never sends or expects RTP/RTCP. Once
//! connected, STUN on the selected pair (the peer's checks, our RFC 7675 consent checks) is
//! handled here with [`crate::stun`], without str0m. Every RTP and RTCP packet
//! goes through this module's SRTP contexts, keyed from the DTLS-SRTP export that
//! `tessera-dtls` taps. SDP answers are written by `tessera_schema::sdp`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where a transport's outgoing datagrams go (the shard's send batch in production, a
/// `Vec` in tests). `write` fills the slot and returns the length (0: nothing).
pub trait DatagramSink {
    /// Queues one datagram to `to`.
    fn push_with(&mut self, to: SocketAddr, write: &mut dyn FnMut(&mut [u8]) -> usize);
    /// Queues a copy of `data` to `to`.
    fn push(&mut self, to: SocketAddr, data: &[u8]) {
        self.push_with(to, &mut |buf: &mut [u8]| {
            if data.len() > buf.len() {
                return 0;
            }
            buf[..data.len()].copy_from_slice(data);
            data.len()
        });
    }
}

use str0m::net::{Protocol, Receive};
use str0m::{Candidate, IceConnectionState, Input, Output, Rtc, RtcConfig};
use tessera_dtls::KeyTap;
use tessera_rtp::srtp::{SrtpContext, SrtpProfile, split_keying_material};
use tessera_schema::sdp::{AnswerMedia, AnswerTransport, Offer, write_answer};

use crate::demux::{Class, classify};
use crate::stun;

/// Lifecycle of a transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportState {
    /// Waiting for ICE and DTLS.
    Connecting,
    /// ICE and DTLS up, SRTP keys in place.
    Connected,
    /// ICE or DTLS failed, or the peer went silent.
    Failed,
    /// Closed on request.
    Closed,
}

/// Something the worker must act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransportEvent {
    /// Media may flow.
    Connected,
    /// A consent check (binding request) went to the peer (RFC 7675).
    ConsentCheckSent,
    /// The transport died; the reason is OWT's wording where one exists.
    Failed(String),
}

/// The longest STUN USERNAME str0m's ICE agent can write (see `Transport::set_remote`).
const STUN_USERNAME_MAX: usize = 128;
/// A transport that has not heard from its peer for this long is failed.
pub const INACTIVITY_TIMEOUT: Duration = Duration::from_secs(30);
/// A transport that does not connect within this long is failed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a connected transport sends the peer a consent check (RFC 7675 §5.1: every 5 s,
/// randomized by ±20%).
pub const CONSENT_INTERVAL: Duration = Duration::from_secs(5);
/// Consent expires this long after the peer last answered one of our consent checks, and the
/// transport fails (RFC 7675 §5.1). Enforced once the peer has answered one: a peer that never
/// answers is judged by [`INACTIVITY_TIMEOUT`] alone.
pub const CONSENT_TIMEOUT: Duration = Duration::from_secs(30);
/// PRIORITY in our consent checks: a peer-reflexive candidate (type preference 110, local
/// preference 65535, component 1; RFC 8445 §5.1.2.1).
const CONSENT_PRIORITY: u32 = (110 << 24) | (65535 << 8) | 255;
/// Answers to this many of our latest consent checks count (each is sent once, and an answer
/// may come late: RFC 7675 §5.1). Six checks span the consent timeout.
const CONSENT_OUTSTANDING: usize = 6;

/// How [`Transport::handle_stun_dtls`] used a datagram it accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handled {
    /// Handed to str0m: DTLS, STUN before the transport is connected or from another
    /// address, and on the selected pair what is not ours to decide (a role conflict, a first
    /// nomination from an address, answers to str0m's own checks).
    Str0m,
    /// A binding request on the selected pair, answered here.
    Answered,
    /// The authentic answer to one of our latest consent checks.
    ConsentConfirmed,
    /// A binding indication (a keep-alive: no integrity, so no proof of life either).
    KeepAlive,
}

/// Why a datagram was not accepted (named drop reasons, counted by the worker).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drop {
    /// SRTP/SRTCP before the DTLS handshake exported keys.
    NoKeys,
    /// SRTP authentication failed.
    SrtpAuth,
    /// Replayed SRTP packet.
    SrtpReplay,
    /// Malformed SRTP/SRTCP.
    SrtpMalformed,
    /// STUN or DTLS for a transport whose offer came from us, before the peer's answer.
    AwaitingAnswer,
    /// A STUN/DTLS datagram refused: by str0m, or on a connected transport's selected pair a
    /// binding request or an answer to our consent check that fails MESSAGE-INTEGRITY.
    Rejected,
}

impl Drop {
    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Drop::NoKeys => "srtp_before_keys",
            Drop::SrtpAuth => "srtp_auth_failed",
            Drop::SrtpReplay => "srtp_replayed",
            Drop::SrtpMalformed => "srtp_malformed",
            Drop::AwaitingAnswer => "awaiting_answer",
            Drop::Rejected => "stun_dtls_rejected",
        }
    }
}

/// The ICE/DTLS/SRTP side of one peer connection.
pub struct Transport {
    /// OWT transport id.
    pub id: String,
    rtc: Rtc,
    tap: KeyTap,
    local: SocketAddr,
    ufrag: String,
    pwd: String,
    fingerprint: String,
    candidates: Vec<String>,
    remote_addrs: Vec<SocketAddr>,
    srtp_out: Option<SrtpContext>,
    srtp_in: Option<SrtpContext>,
    remote: Option<SocketAddr>,
    state: TransportState,
    session_id: u64,
    version: u64,
    remote_ufrag: String,
    created: Instant,
    last_rx: Instant,
    next_rtc: Option<Instant>,
    /// HMAC key of our ICE password (the peer's requests, our responses).
    local_key: stun::Key,
    /// HMAC key of the peer's ICE password (our consent checks, its responses).
    remote_key: stun::Key,
    /// The address whose authentic nomination (USE-CANDIDATE) str0m has seen; later requests
    /// from it that repeat USE-CANDIDATE are answered here.
    nominated_from: Option<SocketAddr>,
    consent: Consent,
    /// `close` is draining str0m: no consent check goes out.
    closing: bool,
    /// Our SSRC for RTCP feedback we originate.
    pub local_ssrc: u32,
    /// Our CNAME.
    pub cname: String,
    /// Our `a=setup`: `passive` or `active` in an answer, `actpass` in our own offer.
    answer_setup: &'static str,
    /// We offered (`Transport::offering`) and the peer has not answered yet.
    awaiting_answer: bool,
    /// We made the first offer, with `a=ice-lite`: every later description says so too (the
    /// ICE mode cannot change without an ICE restart).
    ice_lite: bool,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("id", &self.id)
            .field("state", &self.state)
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

/// Our side of RFC 7675 consent freshness once connected.
#[derive(Debug)]
struct Consent {
    /// When the next check goes out.
    next: Option<Instant>,
    /// The transaction ids of the latest checks (a ring; answers to any of them count).
    pending: [Option<[u8; 12]>; CONSENT_OUTSTANDING],
    /// Where the next id goes in `pending`.
    slot: usize,
    /// When consent expires; `None` until the peer first answers.
    expires: Option<Instant>,
    /// ICE-CONTROLLED tie-breaker. Ours, not str0m's (str0m does not expose its own); it only
    /// matters in a role conflict, and a peer that claims to be controlled is left to str0m.
    tiebreaker: u64,
}

fn random_string(n: usize) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..n)
        .map(|_| A[rand::random_range(0..A.len())] as char)
        .collect()
}

/// [`CONSENT_INTERVAL`] randomized to 0.8–1.2 times (RFC 7675 §5.1).
fn consent_interval() -> Duration {
    CONSENT_INTERVAL.mul_f64(rand::random_range(0.8..1.2))
}

fn profile_of(p: tessera_dtls::SrtpProtectionProfile) -> SrtpProfile {
    use tessera_dtls::SrtpProtectionProfile as P;
    match p {
        P::Aes128CmSha1_80 => SrtpProfile::Aes128CmSha1_80,
        P::AeadAes128Gcm => SrtpProfile::AeadAes128Gcm,
        P::AeadAes256Gcm => SrtpProfile::AeadAes256Gcm,
    }
}

impl Transport {
    /// A transport answering `offer`: ICE credentials and candidates, DTLS in the role the
    /// offer leaves us (passive for `actpass`). `local` is the shard socket; `advertised` are
    /// the addresses put into the answer as host candidates.
    pub fn new(
        now: Instant,
        id: String,
        local: SocketAddr,
        advertised: &[SocketAddr],
        offer: &Offer,
    ) -> Result<Transport, String> {
        let mut t = Transport::local_side(now, id, local, advertised)?;
        t.set_remote(now, offer)?;
        Ok(t)
    }

    /// A transport that makes the offer (a subscription the server offers): ICE credentials
    /// and candidates, `a=setup:actpass`, and `a=ice-lite` so that the peer, a full ICE agent,
    /// takes the controlling role as it does when it offers. Nothing is accepted from the peer
    /// ([`Drop::AwaitingAnswer`]) until [`Transport::accept_answer`]; a peer that never
    /// answers times out like one that never connects.
    pub fn offering(
        now: Instant,
        id: String,
        local: SocketAddr,
        advertised: &[SocketAddr],
    ) -> Result<Transport, String> {
        let mut t = Transport::local_side(now, id, local, advertised)?;
        t.answer_setup = "actpass";
        t.awaiting_answer = true;
        t.ice_lite = true;
        Ok(t)
    }

    /// Whether we offered and wait for the peer's answer.
    pub fn awaiting_answer(&self) -> bool {
        self.awaiting_answer
    }

    /// Applies the peer's answer to our offer: its ICE credentials, certificate fingerprint,
    /// DTLS role (`active` or `passive`; `actpass` is not an answer) and candidates.
    pub fn accept_answer(&mut self, now: Instant, answer: &Offer) -> Result<(), String> {
        if !self.awaiting_answer {
            return Err("no offer of ours is waiting for an answer".into());
        }
        if answer.setup != "active" && answer.setup != "passive" {
            return Err(format!(
                "a=setup:{} in an answer (active or passive expected)",
                answer.setup
            ));
        }
        self.set_remote(now, answer)?;
        self.awaiting_answer = false;
        // The connect timeout counts from the answer: a player may gather candidates (a slow
        // TURN allocation) before it answers.
        self.created = now;
        self.last_rx = now;
        self.next_rtc = Some(now);
        Ok(())
    }

    /// Our side: ICE credentials, certificate, host candidates; no peer yet.
    fn local_side(
        now: Instant,
        id: String,
        local: SocketAddr,
        advertised: &[SocketAddr],
    ) -> Result<Transport, String> {
        let ufrag = random_string(16);
        let pwd = random_string(24);
        let local_key = stun::Key::new(&pwd);
        let config = RtcConfig::new()
            .set_crypto_provider(Arc::new(tessera_dtls::crypto_provider()))
            .set_dtls_cert(tessera_dtls::shared_dtls_cert())
            .set_ice_lite(false)
            .set_local_ice_credentials(str0m::IceCreds {
                ufrag: ufrag.clone(),
                pass: pwd.clone(),
            })
            .set_stats_interval(None);
        let (mut rtc, tap) = tessera_dtls::build_with_tap(config, now);
        let fp_bytes = {
            let mut api = rtc.direct_api();
            api.set_ice_controlling(false);
            api.local_dtls_fingerprint().clone()
        };
        let fingerprint = format!(
            "{} {}",
            fp_bytes.hash_func,
            fp_bytes
                .bytes
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(":")
        );
        let mut candidates = Vec::new();
        for a in advertised {
            let c = Candidate::host(*a, "udp").map_err(|e| format!("candidate {a}: {e}"))?;
            if let Some(added) = rtc.add_local_candidate(c) {
                candidates.push(added.to_sdp_string().trim_start_matches("a=").to_string());
            }
        }
        Ok(Transport {
            id,
            rtc,
            tap,
            local,
            ufrag,
            pwd,
            fingerprint,
            candidates,
            remote_addrs: Vec::new(),
            srtp_out: None,
            srtp_in: None,
            remote: None,
            state: TransportState::Connecting,
            session_id: rand::random::<u64>() >> 2,
            version: 1,
            remote_ufrag: String::new(),
            created: now,
            last_rx: now,
            next_rtc: Some(now),
            local_key,
            remote_key: stun::Key::new(""),
            nominated_from: None,
            consent: Consent {
                next: None,
                pending: [None; CONSENT_OUTSTANDING],
                slot: 0,
                expires: None,
                tiebreaker: rand::random(),
            },
            closing: false,
            local_ssrc: rand::random::<u32>() | 1,
            cname: random_string(16),
            answer_setup: "passive",
            awaiting_answer: false,
            ice_lite: false,
        })
    }

    /// The peer's side, from its offer or its answer: ICE credentials, fingerprint, DTLS
    /// started in the role its `a=setup` leaves us, candidates.
    fn set_remote(&mut self, now: Instant, remote: &Offer) -> Result<(), String> {
        // str0m's ICE agent writes the USERNAME of its checks (`theirs:ours`) with at most
        // 128 bytes and panics on more (crate `is` 0.12). RFC 8839 allows a 256-character
        // ufrag; the stacks we know use 4 to 32.
        let max = STUN_USERNAME_MAX - 1 - self.ufrag.len();
        if remote.ice_ufrag.len() > max {
            return Err(format!(
                "a=ice-ufrag of {} characters; at most {max} are supported",
                remote.ice_ufrag.len()
            ));
        }
        {
            let mut api = self.rtc.direct_api();
            api.set_remote_ice_credentials(str0m::IceCreds {
                ufrag: remote.ice_ufrag.clone(),
                pass: remote.ice_pwd.clone(),
            });
            let remote_fp = format!("{} {}", remote.fingerprint.0, remote.fingerprint.1)
                .parse::<str0m::crypto::Fingerprint>()
                .or_else(|_| remote.fingerprint.1.parse::<str0m::crypto::Fingerprint>())
                .map_err(|_| "unreadable a=fingerprint".to_string())?;
            api.set_remote_fingerprint(remote_fp);
            // We are the DTLS server (passive) unless the peer is: to an offer's `actpass`
            // we answer `passive`, to `passive` `active`; an answer's `active` leaves us
            // passive, its `passive` active.
            let active = remote.setup == "passive";
            api.start_dtls(active)
                .map_err(|e| format!("DTLS start: {e}"))?;
        }
        self.answer_setup = if remote.setup == "passive" {
            "active"
        } else {
            "passive"
        };
        for c in &remote.candidates {
            if let Ok(c) = Candidate::from_sdp_string(c) {
                if c.proto() == Protocol::Udp && !self.remote_addrs.contains(&c.addr()) {
                    self.remote_addrs.push(c.addr());
                }
                self.rtc.add_remote_candidate(c);
            }
        }
        self.remote_ufrag = remote.ice_ufrag.clone();
        self.remote_key = stun::Key::new(&remote.ice_pwd);
        self.next_rtc = Some(now);
        Ok(())
    }

    /// Our ICE username fragment (binding requests name it first in USERNAME).
    pub fn ufrag(&self) -> &str {
        &self.ufrag
    }

    /// The UDP addresses of the peer's candidates (offered and trickled). Full ICE checks
    /// them, so their answers arrive from these addresses, possibly before the peer's own
    /// binding request has taught the shard where the peer is.
    pub fn remote_candidate_addrs(&self) -> &[SocketAddr] {
        &self.remote_addrs
    }

    /// Lifecycle state.
    pub fn state(&self) -> TransportState {
        self.state
    }

    /// The peer's address media goes to.
    pub fn remote(&self) -> Option<SocketAddr> {
        self.remote
    }

    /// Whether SRTP keys are in place and a destination is known.
    pub fn can_send(&self) -> bool {
        self.srtp_out.is_some() && self.remote.is_some()
    }

    /// Checks a renegotiation offer against this transport (ICE restarts are not supported).
    pub fn check_offer(&self, offer: &Offer) -> Result<(), String> {
        if self.awaiting_answer {
            return Err(
                "the server's offer on this transport is still waiting for its answer".into(),
            );
        }
        if offer.ice_ufrag != self.remote_ufrag {
            return Err(
                "ICE restart (new ice-ufrag) is not supported; create a new transport".into(),
            );
        }
        Ok(())
    }

    /// Writes the answer to `offer` with one decision per m-line.
    pub fn answer(&mut self, offer: &Offer, decisions: &[AnswerMedia]) -> String {
        let t = AnswerTransport {
            ice_ufrag: self.ufrag.clone(),
            ice_pwd: self.pwd.clone(),
            fingerprint: self.fingerprint.clone(),
            setup: self.answer_setup,
            ice_lite: self.ice_lite,
            candidates: self.candidates.clone(),
        };
        let sdp = write_answer(offer, decisions, &t, self.session_id, self.version);
        self.version += 1;
        sdp
    }

    /// A trickled remote candidate (`candidate:...`, `a=` prefix allowed).
    pub fn add_remote_candidate(&mut self, line: &str) -> Result<(), String> {
        let line = line.trim().trim_start_matches("a=");
        if line.is_empty() {
            return Ok(());
        }
        let c = Candidate::from_sdp_string(line).map_err(|e| format!("bad candidate: {e}"))?;
        if c.proto() == Protocol::Udp && !self.remote_addrs.contains(&c.addr()) {
            self.remote_addrs.push(c.addr());
        }
        self.rtc.add_remote_candidate(c);
        self.next_rtc = Some(self.last_rx.min(Instant::now()));
        Ok(())
    }

    /// A STUN or DTLS datagram from the peer. Once connected, STUN on the selected pair is
    /// handled here ([`Handled`]); everything else goes to str0m, after which
    /// [`Transport::poll`] must run.
    pub fn handle_stun_dtls(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
        tx: &mut dyn DatagramSink,
    ) -> Result<Handled, Drop> {
        if self.awaiting_answer {
            return Err(Drop::AwaitingAnswer);
        }
        let msg = if classify(data) == Class::Stun {
            stun::parse(data)
        } else {
            None
        };
        if let Some(m) = &msg
            && self.state == TransportState::Connected
            && self.remote == Some(from)
            && let Some(h) = self.handle_connected_stun(now, from, m, tx)
        {
            return h;
        }
        let recv =
            Receive::new(Protocol::Udp, from, self.local, data).map_err(|_| Drop::Rejected)?;
        let input = Input::Receive(now, recv);
        if !self.rtc.accepts(&input) {
            tracing::debug!(target: "tessera::ice", transport = %self.id, %from, first = data.first().copied().unwrap_or(0), len = data.len(), "datagram not for this transport");
            return Err(Drop::Rejected);
        }
        if let Err(e) = self.rtc.handle_input(input) {
            tracing::debug!(target: "tessera::ice", transport = %self.id, %from, error = %e, "STUN/DTLS input refused");
            return Err(Drop::Rejected);
        }
        if let Some(m) = msg
            && m.kind == stun::BINDING_REQUEST
            && m.use_candidate
            && m.username_is(&self.ufrag, &self.remote_ufrag)
            && m.authentic(&self.local_key)
        {
            self.nominated_from = Some(from);
        }
        // str0m accepts what comes from the nominated address without judging it, and drops
        // forged STUN quietly: once connected, only what is authenticated here or by SRTP
        // counts as a sign of life.
        if self.state != TransportState::Connected {
            self.last_rx = now;
        }
        self.next_rtc = Some(now);
        Ok(Handled::Str0m)
    }

    /// STUN on the selected pair of a connected transport, without str0m: what ICE needs from
    /// then on is consent (RFC 7675), and str0m's ICE agent allocates for every message it
    /// checks, answers or sends. `None`: not one of ours, str0m decides.
    fn handle_connected_stun(
        &mut self,
        now: Instant,
        from: SocketAddr,
        m: &stun::Message<'_>,
        tx: &mut dyn DatagramSink,
    ) -> Option<Result<Handled, Drop>> {
        match m.kind {
            stun::BINDING_REQUEST => {
                if !m.username_is(&self.ufrag, &self.remote_ufrag) {
                    return None;
                }
                if !m.authentic(&self.local_key) {
                    return Some(Err(Drop::Rejected));
                }
                // The peer must be the controlling agent (a role conflict is str0m's), and a
                // nomination str0m has not seen from this address goes to str0m.
                let ours = m.controlling
                    && !m.controlled
                    && !m.unknown_required
                    && m.priority.is_some()
                    && (!m.use_candidate || self.nominated_from == Some(from));
                if !ours {
                    return None;
                }
                let key = &self.local_key;
                tx.push_with(from, &mut |buf: &mut [u8]| {
                    stun::write_binding_success(buf, &m.transaction, from, key)
                });
                self.last_rx = now;
                Some(Ok(Handled::Answered))
            }
            stun::BINDING_SUCCESS => {
                let slot = self
                    .consent
                    .pending
                    .iter()
                    .position(|p| *p == Some(m.transaction))?;
                if !m.authentic(&self.remote_key) {
                    return Some(Err(Drop::Rejected));
                }
                self.consent.pending[slot] = None;
                self.consent.expires = Some(now + CONSENT_TIMEOUT);
                self.last_rx = now;
                Some(Ok(Handled::ConsentConfirmed))
            }
            stun::BINDING_INDICATION => Some(Ok(Handled::KeepAlive)),
            _ => None,
        }
    }

    /// Sends a consent check when one is due (connected transports only).
    fn send_consent_check(
        &mut self,
        now: Instant,
        tx: &mut dyn DatagramSink,
        events: &mut Vec<TransportEvent>,
    ) {
        let Some(to) = self.remote else {
            return;
        };
        let due = *self
            .consent
            .next
            .get_or_insert_with(|| now + consent_interval());
        if due > now {
            return;
        }
        let request = stun::Request {
            transaction: rand::random(),
            remote_ufrag: &self.remote_ufrag,
            local_ufrag: &self.ufrag,
            priority: CONSENT_PRIORITY,
            tiebreaker: self.consent.tiebreaker,
        };
        let key = &self.remote_key;
        let mut written = 0;
        tx.push_with(to, &mut |buf: &mut [u8]| {
            written = stun::write_binding_request(buf, &request, key);
            written
        });
        self.consent.next = Some(now + consent_interval());
        if written > 0 {
            let c = &mut self.consent;
            c.pending[c.slot] = Some(request.transaction);
            c.slot = (c.slot + 1) % CONSENT_OUTSTANDING;
            events.push(TransportEvent::ConsentCheckSent);
        }
    }

    /// Drives str0m: sends what ICE and DTLS have to send, notices connection changes and
    /// deadlines. Call after every input and when [`Transport::next_timeout`] passes.
    pub fn poll(
        &mut self,
        now: Instant,
        tx: &mut dyn DatagramSink,
        events: &mut Vec<TransportEvent>,
    ) {
        if matches!(self.state, TransportState::Failed | TransportState::Closed) {
            return;
        }
        if self.next_rtc.is_some_and(|t| t <= now) {
            if let Err(e) = self.rtc.handle_input(Input::Timeout(now)) {
                self.fail(format!("ICE/DTLS error: {e}"), events);
                return;
            }
            self.next_rtc = None;
        }
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Transmit(t)) => match classify(&t.contents) {
                    Class::Stun => tx.push(t.destination, &t.contents),
                    Class::Dtls => {
                        if self.remote.is_none() {
                            self.remote = Some(t.destination);
                        }
                        tx.push(t.destination, &t.contents);
                    }
                    // str0m has no media state; anything else is not ours to send.
                    _ => {}
                },
                Ok(Output::Event(str0m::Event::Connected)) => self.on_connected(events),
                Ok(Output::Event(str0m::Event::IceConnectionStateChange(
                    IceConnectionState::Disconnected,
                ))) => {
                    tracing::debug!(target: "tessera::ice", transport = %self.id, "ICE disconnected (waiting for the inactivity timeout)");
                }
                Ok(Output::Event(_)) => {}
                Ok(Output::Timeout(t)) => {
                    // Once connected, str0m's timers are not driven: its ICE agent would send
                    // its own checks on every pair (consent is ours now, see
                    // `handle_connected_stun`). It still runs them whenever a datagram reaches
                    // it (STUN from another address, DTLS), and it sends what is due then.
                    // DTLS needs no timer after the handshake because `tessera-dtls` speaks
                    // DTLS 1.2 only: a lost last flight is resent when the peer repeats its own,
                    // which reaches str0m. (DTLS 1.3 would need timers until its ACK.)
                    self.next_rtc = (self.state != TransportState::Connected).then(|| t.max(now));
                    break;
                }
                Err(e) => {
                    self.fail(format!("ICE/DTLS error: {e}"), events);
                    return;
                }
            }
        }
        if self.state == TransportState::Connected {
            if self.consent.expires.is_some_and(|e| now >= e) {
                self.fail("Consent expired".into(), events);
                return;
            }
            if !self.closing {
                self.send_consent_check(now, tx, events);
            }
        }
        if self.state == TransportState::Connecting
            && now.saturating_duration_since(self.created) > CONNECT_TIMEOUT
        {
            self.fail("Ice procedure failed.".into(), events);
        } else if now.saturating_duration_since(self.last_rx) > INACTIVITY_TIMEOUT {
            self.fail("Peer inactive".into(), events);
        }
    }

    fn on_connected(&mut self, events: &mut Vec<TransportEvent>) {
        let Some(keys) = self.tap.get() else {
            self.fail("DTLS connected without SRTP keys".into(), events);
            return;
        };
        let profile = profile_of(keys.profile());
        let (client, server) = match split_keying_material(profile, keys.keying_material()) {
            Ok(k) => k,
            Err(e) => {
                self.fail(format!("SRTP keying material: {e}"), events);
                return;
            }
        };
        let (out, inb) = if keys.is_client() {
            (client, server)
        } else {
            (server, client)
        };
        match (SrtpContext::new(&out), SrtpContext::new(&inb)) {
            (Ok(o), Ok(i)) => {
                self.srtp_out = Some(o);
                self.srtp_in = Some(i);
                self.state = TransportState::Connected;
                tracing::info!(target: "tessera::dtls", transport = %self.id, ?profile, "connected");
                events.push(TransportEvent::Connected);
            }
            _ => self.fail("SRTP context setup failed".into(), events),
        }
    }

    fn fail(&mut self, reason: String, events: &mut Vec<TransportEvent>) {
        if matches!(self.state, TransportState::Failed | TransportState::Closed) {
            return;
        }
        tracing::info!(target: "tessera::ice", transport = %self.id, %reason, "transport failed");
        self.state = TransportState::Failed;
        events.push(TransportEvent::Failed(reason));
    }

    /// Closes the transport (DTLS close_notify is sent if connected).
    pub fn close(&mut self, now: Instant, tx: &mut dyn DatagramSink) {
        if self.state == TransportState::Closed {
            return;
        }
        let _ = self.rtc.close();
        self.closing = true;
        let mut ev = Vec::new();
        self.next_rtc = Some(now);
        self.poll(now, tx, &mut ev);
        self.state = TransportState::Closed;
    }

    /// Marks the transport closed without running str0m again: for a transport whose own
    /// handling panicked (its str0m state may be what panicked). No close alert is sent; the
    /// peer finds out from consent failure.
    pub fn abandon(&mut self) {
        self.closing = true;
        self.state = TransportState::Closed;
    }

    /// The next instant [`Transport::poll`] must run.
    pub fn next_timeout(&self) -> Option<Instant> {
        if matches!(self.state, TransportState::Failed | TransportState::Closed) {
            return None;
        }
        let guard = if self.state == TransportState::Connecting {
            self.created + CONNECT_TIMEOUT
        } else {
            let inactive = self.last_rx + INACTIVITY_TIMEOUT;
            [self.consent.next, self.consent.expires]
                .into_iter()
                .flatten()
                .fold(inactive, Instant::min)
        };
        Some(self.next_rtc.map_or(guard, |t| t.min(guard)))
    }

    /// Decrypts an SRTP (`rtcp == false`) or SRTCP packet in place; returns the plaintext
    /// length. A packet that authenticates also marks the peer as alive and latches its
    /// address as the media destination.
    pub fn unprotect(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &mut [u8],
        rtcp: bool,
    ) -> Result<usize, Drop> {
        let ctx = self.srtp_in.as_mut().ok_or(Drop::NoKeys)?;
        let r = if rtcp {
            ctx.unprotect_rtcp(data)
        } else {
            ctx.unprotect_rtp(data)
        };
        match r {
            Ok(n) => {
                self.last_rx = now;
                self.remote = Some(from);
                Ok(n)
            }
            Err(tessera_rtp::RtpError::AuthFailed) => Err(Drop::SrtpAuth),
            Err(tessera_rtp::RtpError::Replayed) => Err(Drop::SrtpReplay),
            Err(_) => Err(Drop::SrtpMalformed),
        }
    }

    /// Queues an RTP packet written by `write` (plaintext, returns its length), encrypted.
    pub fn send_rtp(
        &mut self,
        tx: &mut dyn DatagramSink,
        write: &mut dyn FnMut(&mut [u8]) -> usize,
    ) {
        let (Some(ctx), Some(to)) = (self.srtp_out.as_mut(), self.remote) else {
            return;
        };
        tx.push_with(to, &mut |buf: &mut [u8]| {
            let n = write(buf);
            if n == 0 {
                return 0;
            }
            ctx.protect_rtp(buf, n).unwrap_or(0)
        });
    }

    /// Queues an RTCP packet written by `write`, encrypted.
    pub fn send_rtcp(
        &mut self,
        tx: &mut dyn DatagramSink,
        write: &mut dyn FnMut(&mut [u8]) -> usize,
    ) {
        let (Some(ctx), Some(to)) = (self.srtp_out.as_mut(), self.remote) else {
            return;
        };
        tx.push_with(to, &mut |buf: &mut [u8]| {
            let n = write(buf);
            if n == 0 {
                return 0;
            }
            ctx.protect_rtcp(buf, n).unwrap_or(0)
        });
    }
}
