//! Data-plane counters: plain atomics bumped by the owning shard (one writer each), exported
//! through Prometheus families registered once.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Why the data plane dropped a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Not STUN, DTLS, RTP or RTCP.
    UnknownProtocol,
    /// From an address no transport knows, and not a binding request naming one.
    UnknownSource,
    /// SRTP/SRTCP before keys exist.
    SrtpBeforeKeys,
    /// SRTP authentication failed.
    SrtpAuthFailed,
    /// Replayed SRTP.
    SrtpReplayed,
    /// Malformed SRTP/SRTCP.
    SrtpMalformed,
    /// str0m rejected STUN/DTLS.
    StunDtlsRejected,
    /// STUN/DTLS for a transport whose offer came from us, before the peer's answer.
    AwaitingAnswer,
    /// Decrypted RTP that does not parse.
    MalformedRtp,
    /// Decrypted RTCP that does not parse.
    MalformedRtcp,
    /// RTP for no negotiated m-line / layer.
    UnroutedRtp,
    /// A session handler panicked on this datagram (the session was closed).
    SessionPanic,
    /// A packet relayed from another shard for a relay that ended meanwhile.
    RelayGone,
    /// A packet not relayed because the target shard's queue was full (it fell behind).
    RelayBacklog,
}

impl DropReason {
    /// Every reason.
    pub const ALL: [DropReason; 14] = [
        DropReason::UnknownProtocol,
        DropReason::UnknownSource,
        DropReason::SrtpBeforeKeys,
        DropReason::SrtpAuthFailed,
        DropReason::SrtpReplayed,
        DropReason::SrtpMalformed,
        DropReason::StunDtlsRejected,
        DropReason::AwaitingAnswer,
        DropReason::MalformedRtp,
        DropReason::MalformedRtcp,
        DropReason::UnroutedRtp,
        DropReason::SessionPanic,
        DropReason::RelayGone,
        DropReason::RelayBacklog,
    ];

    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::UnknownProtocol => "unknown_protocol",
            DropReason::UnknownSource => "unknown_source",
            DropReason::SrtpBeforeKeys => "srtp_before_keys",
            DropReason::SrtpAuthFailed => "srtp_auth_failed",
            DropReason::SrtpReplayed => "srtp_replayed",
            DropReason::SrtpMalformed => "srtp_malformed",
            DropReason::StunDtlsRejected => "stun_dtls_rejected",
            DropReason::AwaitingAnswer => "awaiting_answer",
            DropReason::MalformedRtp => "malformed_rtp",
            DropReason::MalformedRtcp => "malformed_rtcp",
            DropReason::UnroutedRtp => "unrouted_rtp",
            DropReason::SessionPanic => "session_panic",
            DropReason::RelayGone => "relay_gone",
            DropReason::RelayBacklog => "relay_backlog",
        }
    }

    fn index(self) -> usize {
        DropReason::ALL
            .iter()
            .position(|r| *r == self)
            .expect("listed")
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

/// Counters shared by every shard of a node.
#[derive(Clone, Debug)]
pub struct NodeMetrics {
    drops: Arc<[Counter; DropReason::ALL.len()]>,
    /// RTP packets received from publishers.
    pub rtp_in: Counter,
    /// RTP packets sent to subscribers (forwarded and retransmitted).
    pub rtp_out: Counter,
    /// Datagrams received.
    pub datagrams_in: Counter,
    /// Datagrams sent.
    pub datagrams_out: Counter,
    /// Open transports.
    pub transports: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// Session handlers that panicked.
    pub panics: Counter,
    /// RTP packets handed to another shard for its subscribers (cross-shard fan-out).
    pub relayed: Counter,
    /// Sources relayed into a shard from another one.
    pub relays: Gauge<i64, std::sync::atomic::AtomicI64>,
    /// Binding requests on a connected transport's selected pair, answered by the shard.
    pub ice_requests_answered: Counter,
    /// Binding indications (keep-alives) received on connected transports.
    pub ice_keepalives: Counter,
    /// Consent checks sent (RFC 7675).
    pub consent_checks: Counter,
    /// Consent checks the peer answered authentically.
    pub consent_confirmed: Counter,
    /// Packets retransmitted to subscribers on their NACKs.
    pub retransmitted: Counter,
    /// NACKed packets no longer in the retransmission buffer.
    pub nack_misses: Counter,
    /// Key-frame requests (PLI/FIR) sent to publishers.
    pub keyframe_requests: Counter,
    /// Layer changes of estimate-following simulcast subscriptions.
    pub layer_changes: Counter,
    /// Tries of a higher simulcast layer started.
    pub layer_tries: Counter,
    /// Tries of a higher simulcast layer that kept it.
    pub layer_tries_kept: Counter,
    /// Datagrams sent inside UDP GSO messages (bursts to one peer).
    pub gso_datagrams: Counter,
}

impl Default for NodeMetrics {
    fn default() -> Self {
        NodeMetrics {
            drops: Arc::new(std::array::from_fn(|_| Counter::default())),
            rtp_in: Counter::default(),
            rtp_out: Counter::default(),
            datagrams_in: Counter::default(),
            datagrams_out: Counter::default(),
            transports: Gauge::default(),
            panics: Counter::default(),
            relayed: Counter::default(),
            relays: Gauge::default(),
            ice_requests_answered: Counter::default(),
            ice_keepalives: Counter::default(),
            consent_checks: Counter::default(),
            consent_confirmed: Counter::default(),
            retransmitted: Counter::default(),
            nack_misses: Counter::default(),
            keyframe_requests: Counter::default(),
            layer_changes: Counter::default(),
            layer_tries: Counter::default(),
            layer_tries_kept: Counter::default(),
            gso_datagrams: Counter::default(),
        }
    }
}

impl NodeMetrics {
    /// Registers the counters.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "tessera_dataplane_drops",
            "Datagrams dropped by the data plane, by reason",
            DropFamily(self.drops.clone()),
        );
        registry.register(
            "tessera_rtp_received",
            "RTP packets received from publishers",
            self.rtp_in.clone(),
        );
        registry.register(
            "tessera_rtp_sent",
            "RTP packets sent to subscribers (forwarded and retransmitted)",
            self.rtp_out.clone(),
        );
        registry.register(
            "tessera_datagrams_received",
            "UDP datagrams received by the shards",
            self.datagrams_in.clone(),
        );
        registry.register(
            "tessera_datagrams_sent",
            "UDP datagrams sent by the shards",
            self.datagrams_out.clone(),
        );
        registry.register(
            "tessera_transports",
            "Open WebRTC transports",
            self.transports.clone(),
        );
        registry.register(
            "tessera_session_panics",
            "Session handlers that panicked (the session was closed, the shard kept running)",
            self.panics.clone(),
        );
        registry.register(
            "tessera_rtp_relayed",
            "RTP packets a shard handed to another shard whose subscribers get that source",
            self.relayed.clone(),
        );
        registry.register(
            "tessera_relays",
            "Sources a shard gets relayed from another shard for its subscribers",
            self.relays.clone(),
        );
        registry.register(
            "tessera_ice_requests_answered",
            "ICE binding requests on connected transports' selected pairs, answered by the shards",
            self.ice_requests_answered.clone(),
        );
        registry.register(
            "tessera_ice_keepalives",
            "ICE binding indications (keep-alives) received on connected transports",
            self.ice_keepalives.clone(),
        );
        registry.register(
            "tessera_ice_consent_checks",
            "Consent checks (RFC 7675 binding requests) sent to connected peers",
            self.consent_checks.clone(),
        );
        registry.register(
            "tessera_ice_consent_confirmed",
            "Consent checks the peer answered with a valid response",
            self.consent_confirmed.clone(),
        );
        registry.register(
            "tessera_rtp_retransmitted",
            "RTP packets retransmitted to subscribers on their NACKs",
            self.retransmitted.clone(),
        );
        registry.register(
            "tessera_nack_misses",
            "Packets subscribers NACKed that were no longer in the retransmission buffer",
            self.nack_misses.clone(),
        );
        registry.register(
            "tessera_keyframe_requests",
            "Key-frame requests (PLI or FIR) sent to publishers",
            self.keyframe_requests.clone(),
        );
        registry.register(
            "tessera_layer_changes",
            "Simulcast layer changes of subscriptions that follow their bandwidth estimate",
            self.layer_changes.clone(),
        );
        registry.register(
            "tessera_layer_tries",
            "Tries of a higher simulcast layer than a subscriber's estimate allowed",
            self.layer_tries.clone(),
        );
        registry.register(
            "tessera_layer_tries_kept",
            "Tries of a higher simulcast layer that the subscriber's estimate then reached",
            self.layer_tries_kept.clone(),
        );
        registry.register(
            "tessera_datagrams_sent_gso",
            "Datagrams (of tessera_datagrams_sent) sent inside UDP GSO messages: bursts to one peer",
            self.gso_datagrams.clone(),
        );
    }

    /// Counts a drop.
    pub fn drop(&self, r: DropReason) {
        self.drops[r.index()].inc();
    }

    /// Counts `n` drops.
    pub fn drop_n(&self, r: DropReason, n: u64) {
        self.drops[r.index()].inc_by(n);
    }

    /// Drops counted for a reason.
    pub fn drops(&self, r: DropReason) -> u64 {
        self.drops[r.index()].get()
    }
}

/// Encodes the per-reason counters as one labelled counter family.
#[derive(Debug)]
struct DropFamily(Arc<[Counter; DropReason::ALL.len()]>);

impl prometheus_client::encoding::EncodeMetric for DropFamily {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::MetricEncoder<'_>,
    ) -> Result<(), std::fmt::Error> {
        for r in DropReason::ALL {
            let labels = ReasonLabel {
                reason: r.as_str().into(),
            };
            let c = &self.0[r.index()];
            encoder
                .encode_family(&labels)?
                .encode_counter::<prometheus_client::encoding::NoLabelSet, _, u64>(
                    &c.get(),
                    None,
                )?;
        }
        Ok(())
    }
    fn metric_type(&self) -> prometheus_client::metrics::MetricType {
        prometheus_client::metrics::MetricType::Counter
    }
}
