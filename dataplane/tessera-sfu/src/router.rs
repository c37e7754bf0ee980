//! The forwarding graph of one shard: sources (published tracks, with their simulcast layers)
//! and sinks (subscribed tracks). Sans-IO: packets come in as parsed plaintext RTP, go out
//! through [`Out`], time is passed in.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use slab::Slab;
use tessera_rtp::ext;
use tessera_rtp::rtp::{RtpHeader, RtpWriter};

use crate::codec::{self, Codec};
use crate::recv::{GapOutcome, NackTracker, ReceiveStats, ReportBlock};
use crate::rewrite::Rewriter;
use crate::rtx::RtxBuffer;

/// Most simulcast layers per source.
pub const MAX_LAYERS: usize = 4;
/// Keyframe requests to one layer are at most this frequent.
pub const KEYFRAME_INTERVAL: Duration = Duration::from_millis(300);
/// Receiver reports to publishers.
pub const RR_INTERVAL: Duration = Duration::from_secs(1);
/// Sender reports to subscribers (video); audio uses twice as long.
pub const SR_INTERVAL: Duration = Duration::from_secs(1);
/// Layer choice is re-evaluated this often.
pub const LAYER_INTERVAL: Duration = Duration::from_millis(500);
/// A layer without packets for this long is considered stopped.
pub const LAYER_TIMEOUT: Duration = Duration::from_millis(1500);
/// How long an estimate-following sink tries a higher layer before judging it
/// ([`Router::set_estimate`]): a receiver-side estimate (REMB) only grows a little beyond what
/// arrives, so it needs time to reach the new layer's rate.
pub const PROBE_GRACE: Duration = Duration::from_secs(10);
/// A try also ends when the estimate has not grown by 5% after this long: a receiver that
/// sees more grows its estimate within seconds, a fixed limit does not move.
pub const PROBE_GROWTH: Duration = Duration::from_secs(3);
/// The wait before trying a higher layer again after a try failed; doubles per failure up to
/// [`PROBE_BACKOFF_MAX`].
pub const PROBE_BACKOFF: Duration = Duration::from_secs(15);
/// The longest wait between tries.
pub const PROBE_BACKOFF_MAX: Duration = Duration::from_secs(120);
/// Retransmission buffer of video sources, in packets (~2 s of 2.5 Mbit/s).
pub const RTX_PACKETS: usize = 512;

/// A transport as the worker numbers it.
pub type TransportKey = usize;
/// A source in this router.
pub type SourceKey = usize;
/// A sink in this router.
pub type SinkKey = usize;
/// A relay of a source to another shard's router (unique within a node).
pub type RelayId = u64;

/// Audio or video.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Audio.
    Audio,
    /// Video.
    Video,
}

/// What a publisher's m-line negotiated that the router needs.
#[derive(Clone, Debug)]
pub struct SourceSpec {
    /// Kind.
    pub kind: Kind,
    /// Codec of the payload.
    pub codec: Codec,
    /// RTP clock rate.
    pub clock_rate: u32,
    /// Simulcast layers (1 without simulcast).
    pub layers: u8,
    /// Publisher's transport.
    pub publisher: TransportKey,
    /// The publisher accepts generic NACK.
    pub nack: bool,
    /// The publisher accepts PLI.
    pub pli: bool,
    /// The publisher accepts FIR.
    pub fir: bool,
    /// Extension id of the audio level in the publisher's packets.
    pub audio_level_id: Option<u8>,
    /// Extension id of the video orientation in the publisher's packets.
    pub video_orientation_id: Option<u8>,
    /// Fed by another shard's router (a relay), not by a publisher: no NACKs or receiver
    /// reports are generated for it (the source's own shard does that with the publisher); the
    /// retransmission ring still serves this shard's subscribers.
    pub relayed: bool,
}

/// Which layer a sink gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerChoice {
    /// Chosen by the bandwidth estimate of the subscriber.
    Auto,
    /// Always this layer.
    Fixed(u8),
}

/// What a subscriber's m-line negotiated that the router needs.
#[derive(Clone, Debug)]
pub struct SinkSpec {
    /// Subscriber's transport.
    pub transport: TransportKey,
    /// Our SSRC on that m-line.
    pub ssrc: u32,
    /// Payload type of the source codec on that m-line.
    pub pt: u8,
    /// The m-line's mid (written in the mid extension).
    pub mid: String,
    /// Extension ids negotiated on that m-line.
    pub mid_id: Option<u8>,
    /// abs-send-time id.
    pub abs_send_time_id: Option<u8>,
    /// Audio-level id.
    pub audio_level_id: Option<u8>,
    /// Video-orientation id.
    pub video_orientation_id: Option<u8>,
    /// Layer choice.
    pub layer: LayerChoice,
}

/// Where the router's output goes: the worker writes RTP/RTCP for the right transport.
pub trait Out {
    /// Queues an RTP packet to `transport`, built by `write` in the supplied buffer.
    fn send_rtp(&mut self, transport: TransportKey, write: &mut dyn FnMut(&mut [u8]) -> usize);
    /// Generic NACK for `media_ssrc` to a publisher.
    fn send_nack(&mut self, transport: TransportKey, media_ssrc: u32, seqs: &[u16]);
    /// PLI (or FIR when the publisher only supports that) for `media_ssrc`.
    fn send_keyframe_request(&mut self, transport: TransportKey, media_ssrc: u32, fir: bool);
    /// A receiver report block for a publisher.
    fn send_receiver_report(&mut self, transport: TransportKey, block: ReportBlock);
    /// A sender report for one of our SSRCs to a subscriber.
    fn send_sender_report(&mut self, transport: TransportKey, sr: SenderReport);
    /// A source's packet (plaintext, as the publisher sent it) for the relay `relay`: another
    /// shard forwards it to its own subscribers of that source. Called after the source's own
    /// bookkeeping and only for unmuted media packets.
    fn relay(&mut self, _relay: RelayId, _layer: u8, _packet: &[u8]) {}
    /// Every [`LAYER_INTERVAL`], for each relay of a simulcast source: each layer's measured
    /// bitrate (bit/s) and which layers are live (a bit per layer). The target shard chooses
    /// layers for its subscribers from these, so the relay need not carry every layer.
    fn relay_layer_rates(&mut self, _relay: RelayId, _rates: [u64; MAX_LAYERS], _live: u8) {}
}

/// Sender-report values of one output SSRC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SenderReport {
    /// Our SSRC.
    pub ssrc: u32,
    /// NTP time (64-bit fixed point).
    pub ntp: u64,
    /// RTP time matching `ntp`.
    pub rtp: u32,
    /// Packets sent.
    pub packets: u32,
    /// Payload octets sent.
    pub octets: u32,
}

/// Counters of one router.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouterStats {
    /// RTP packets received from publishers.
    pub packets_in: u64,
    /// RTP packets forwarded to subscribers.
    pub packets_out: u64,
    /// Packets retransmitted on NACK.
    pub retransmitted: u64,
    /// NACKed packets no longer buffered.
    pub nack_misses: u64,
    /// Keyframe requests sent to publishers.
    pub keyframe_requests: u64,
    /// Layer changes of estimate-following simulcast sinks (up or down, tries included).
    pub layer_changes: u64,
    /// Tries of a higher layer started ([`PROBE_GRACE`]).
    pub layer_tries: u64,
    /// Tries that kept the higher layer.
    pub layer_tries_kept: u64,
}

/// One layer's receive counters ([`Router::source_counters`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerCounters {
    /// SSRC, once a packet arrived.
    pub ssrc: Option<u32>,
    /// RTP packets received.
    pub packets: u64,
    /// Payload bytes received.
    pub octets: u64,
    /// Cumulative packets lost (expected minus received).
    pub lost: i64,
    /// Interarrival jitter, in RTP timestamp units.
    pub jitter: f64,
    /// Bitrate over the last full second, bits per second.
    pub bitrate: u64,
}

/// A sink's send counters ([`Router::sink_counters`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SinkCounters {
    /// RTP packets forwarded (retransmissions not included).
    pub packets: u64,
    /// Payload bytes forwarded.
    pub octets: u64,
    /// The layer being forwarded, `None` before the first packet.
    pub layer: Option<u8>,
    /// Paused.
    pub paused: bool,
}

#[derive(Debug)]
struct Layer {
    ssrc: Option<u32>,
    stats: ReceiveStats,
    nack: NackTracker,
    rtx: RtxBuffer,
    last_packet: Option<Instant>,
    kf_sent: Option<Instant>,
    kf_pending: bool,
    /// Payload bytes received since the layer began ([`Router::source_counters`]).
    octets: u64,
    /// Picture size of the last key frame that announced one.
    resolution: Option<(u16, u16)>,
    /// Bitrate meter: bytes in the current window and the last window's rate.
    bytes: u64,
    window_start: Option<Instant>,
    bitrate: u64,
    /// Last SR: (NTP, RTP, arrival).
    sr: Option<(u64, u32, Instant)>,
}

#[derive(Debug)]
struct Source {
    spec: SourceSpec,
    layers: Vec<Layer>,
    sinks: Vec<SinkKey>,
    /// Other shards this source's packets go to, with the layers each wants (a bit per layer).
    relays: Vec<(RelayId, u8)>,
    muted: bool,
    /// A relayed source whose sinks changed in a way that may change
    /// [`Router::wanted_layers`] (listed in `Router::wanted_changed`).
    wanted_dirty: bool,
    /// A relayed source: the layers' bitrates and liveness as the source shard last reported
    /// them, and when.
    relayed_rates: Option<(Instant, [u64; MAX_LAYERS], u8)>,
    /// Layers whose picture size changed and is not reported yet (a bit per layer).
    resolution_dirty: u8,
}

#[derive(Debug)]
struct Sink {
    spec: SinkSpec,
    source: SourceKey,
    rw: Rewriter,
    target: u8,
    paused: bool,
    /// RTP packets and payload bytes sent (the SR's counters are their low 32 bits).
    packets: u64,
    octets: u64,
    last_sr: Option<Instant>,
    /// Last sent packet: (output RTP ts, wall clock).
    last_sent: Option<(u32, Instant)>,
    /// An estimate-following sink trying a higher layer than its estimate allows.
    probe: Option<Probe>,
    /// No new try before this; and the wait after the next failure.
    probe_after: Option<Instant>,
    probe_backoff: Duration,
    /// It is on a layer a try earned: going down from it backs off like a failed try.
    earned: bool,
}

/// A try of a higher layer: since when, the estimate then, and the layer it came from.
#[derive(Clone, Copy, Debug)]
struct Probe {
    since: Instant,
    estimate: u64,
    from: u8,
}

/// The forwarding graph.
#[derive(Debug)]
pub struct Router {
    sources: Slab<Source>,
    sinks: Slab<Sink>,
    estimates: HashMap<TransportKey, u64>,
    epoch: Instant,
    next_rr: Instant,
    next_layers: Instant,
    nack_scratch: Vec<u16>,
    stats: RouterStats,
    /// Relayed sources whose wanted layers may have changed.
    wanted_changed: Vec<SourceKey>,
    /// Sources with a layer whose picture size changed ([`Router::take_resolution_changes`]).
    resolution_changed: Vec<SourceKey>,
    /// Picture-size changes are handed out at most once per [`RESOLUTION_INTERVAL`].
    next_resolution: Instant,
    /// Reused by [`Router::choose_layers`].
    layer_scratch: (Vec<Candidate>, Vec<Share>),
}

/// How many entries a router's tables hold ([`Router::tables`]): tests compare them before and
/// after sessions come and go to show that nothing is left behind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouterTables {
    /// Sources.
    pub sources: usize,
    /// Sinks.
    pub sinks: usize,
    /// Sinks listed by their sources (equals `sinks` when every sink is attached).
    pub attached_sinks: usize,
    /// Relays listed by their sources.
    pub source_relays: usize,
    /// Transports with a bandwidth estimate.
    pub estimates: usize,
}

/// The shortest time between two hand-outs of picture-size changes
/// ([`Router::take_resolution_changes`]).
pub const RESOLUTION_INTERVAL: Duration = Duration::from_secs(1);

/// Every layer ([`Router::wanted_layers`], [`Router::set_relay_layers`]).
pub const ALL_LAYERS: u8 = u8::MAX;

/// An estimate-following simulcast sink while [`Router::choose_layers`] shares out its
/// transport's estimate.
#[derive(Debug)]
struct Candidate {
    sink: SinkKey,
    /// Its transport's entry in the share-out.
    slot: usize,
    /// Live layers (index, bit/s), lowest rate first; `n` of them.
    order: [(u8, u64); MAX_LAYERS],
    n: usize,
    /// The layer allotted, as a position in `order`.
    pos: usize,
    paused: bool,
    /// The layer it forwards now.
    current: Option<u8>,
    /// It is trying a higher layer, this one (a position in `order`).
    tried: Option<usize>,
}

impl Candidate {
    fn layers(&self) -> &[(u8, u64)] {
        &self.order[..self.n]
    }

    fn rate(&self) -> u64 {
        self.order[self.pos].1
    }

    fn rank(&self, layer: u8) -> Option<usize> {
        self.layers().iter().position(|(i, _)| *i == layer)
    }

    /// The first layer above the allotted one, and below position `end`, whose extra cost
    /// fits in `left`: a layer other than the current one needs 20% headroom (going up), the
    /// current one none (staying).
    fn step_up(&self, left: u64, end: usize) -> Option<usize> {
        let base = self.rate();
        (self.pos + 1..end.min(self.n)).find(|&k| {
            let (i, r) = self.order[k];
            let need = if Some(i) == self.current {
                r
            } else {
                r.saturating_add(r / 5)
            };
            need.saturating_sub(base) <= left
        })
    }
}

/// Rounds in which each running sink not trying a layer goes up one step if it fits, until
/// none can; with `back_up`, only sinks below the layer they are on, and at most up to it.
fn step_rounds(cands: &mut [Candidate], shares: &mut [Share], back_up: bool) {
    loop {
        let mut stepped = false;
        for c in cands.iter_mut().filter(|c| !c.paused && c.tried.is_none()) {
            let end = if back_up {
                match c.current.and_then(|l| c.rank(l)) {
                    Some(k) if k > c.pos => k + 1,
                    _ => continue,
                }
            } else {
                c.n
            };
            let share = &mut shares[c.slot];
            if let Some(k) = c.step_up(share.left(), end) {
                share.charge(c.order[k].1.saturating_sub(c.rate()));
                c.pos = k;
                stepped = true;
            }
        }
        if !stepped {
            return;
        }
    }
}

/// One transport's estimate in the share-out.
#[derive(Debug)]
struct Share {
    transport: TransportKey,
    /// The estimate (`u64::MAX` without one).
    budget: u64,
    /// What is allotted so far (may exceed the budget: every sink gets its lowest layer, and a
    /// try its layer).
    used: u64,
    /// One of its sinks is trying a higher layer.
    trying: bool,
}

impl Share {
    fn left(&self) -> u64 {
        self.budget.saturating_sub(self.used)
    }

    fn charge(&mut self, bps: u64) {
        self.used = self.used.saturating_add(bps);
    }
}

/// Whether a source's layer is live, and its bitrate: as its shard last reported them for a
/// relayed source (while the report is recent), otherwise as measured here.
fn layer_state(src: &Source, now: Instant, layer: usize) -> (bool, u64) {
    match src.recent_report(now) {
        Some((_, rates, live)) if layer < MAX_LAYERS => (live & (1 << layer) != 0, rates[layer]),
        Some(_) => (false, 0),
        None => src.layers.get(layer).map_or((false, 0), |l| {
            let live = l
                .last_packet
                .is_some_and(|t| now.saturating_duration_since(t) < LAYER_TIMEOUT);
            (live, l.bitrate)
        }),
    }
}

/// What a sink on `layer` of `src` costs: the layer's bitrate while it is live.
fn layer_rate(src: &Source, now: Instant, layer: u8) -> u64 {
    match layer_state(src, now, usize::from(layer)) {
        (true, rate) => rate,
        (false, _) => 0,
    }
}

/// A source's live layers with their bitrates, lowest rate first, and how many there are.
/// While some layer has a measured rate, layers without one yet (just started) are left out:
/// they would look free.
fn live_layers(src: &Source, now: Instant) -> ([(u8, u64); MAX_LAYERS], usize) {
    let mut order = [(0u8, 0u64); MAX_LAYERS];
    let mut n = 0;
    for i in 0..src.layers.len().min(MAX_LAYERS) {
        if let (true, rate) = layer_state(src, now, i) {
            order[n] = (i as u8, rate);
            n += 1;
        }
    }
    if order[..n].iter().any(|(_, r)| *r > 0) {
        let mut kept = 0;
        for k in 0..n {
            if order[k].1 > 0 {
                order[kept] = order[k];
                kept += 1;
            }
        }
        n = kept;
    }
    order[..n].sort_by_key(|(_, b)| *b);
    (order, n)
}

impl Source {
    /// The relayed rates report, while recent.
    fn recent_report(&self, now: Instant) -> Option<(Instant, [u64; MAX_LAYERS], u8)> {
        self.relayed_rates
            .filter(|(at, _, _)| now.saturating_duration_since(*at) < LAYER_TIMEOUT)
    }
}

fn ntp_of(now: Instant, epoch: Instant, epoch_ntp: u64) -> u64 {
    let d = now.saturating_duration_since(epoch);
    let fraction = ((d.subsec_nanos() as u64) << 32) / 1_000_000_000;
    epoch_ntp.wrapping_add((d.as_secs() << 32) | fraction)
}

impl Router {
    /// An empty router; `now` starts its clocks.
    pub fn new(now: Instant) -> Router {
        Router {
            sources: Slab::new(),
            sinks: Slab::new(),
            estimates: HashMap::new(),
            epoch: now,
            next_rr: now + RR_INTERVAL,
            next_layers: now + LAYER_INTERVAL,
            nack_scratch: Vec::with_capacity(crate::recv::NACK_CAPACITY),
            stats: RouterStats::default(),
            wanted_changed: Vec::new(),
            resolution_changed: Vec::new(),
            next_resolution: now,
            layer_scratch: (Vec::new(), Vec::new()),
        }
    }

    /// Counters.
    pub fn stats(&self) -> RouterStats {
        self.stats
    }

    /// A source's receive counters per layer, and whether it is muted; `None` if it does not
    /// exist.
    pub fn source_counters(&self, key: SourceKey) -> Option<(bool, Vec<LayerCounters>)> {
        let s = self.sources.get(key)?;
        let layers = s
            .layers
            .iter()
            .map(|l| LayerCounters {
                ssrc: l.ssrc,
                packets: l.stats.received(),
                octets: l.octets,
                lost: l.stats.lost(),
                jitter: l.stats.jitter(),
                bitrate: l.bitrate,
            })
            .collect();
        Some((s.muted, layers))
    }

    /// A sink's send counters; `None` if it does not exist.
    pub fn sink_counters(&self, key: SinkKey) -> Option<SinkCounters> {
        let s = self.sinks.get(key)?;
        Some(SinkCounters {
            packets: s.packets,
            octets: s.octets,
            layer: s.rw.layer(),
            paused: s.paused,
        })
    }

    /// Adds a source.
    pub fn add_source(&mut self, spec: SourceSpec) -> SourceKey {
        let n = (spec.layers as usize).clamp(1, MAX_LAYERS);
        let rtx = if spec.kind == Kind::Video && spec.nack {
            RTX_PACKETS
        } else {
            0
        };
        let layers = (0..n)
            .map(|_| Layer {
                ssrc: None,
                stats: ReceiveStats::new(spec.clock_rate),
                nack: NackTracker::default(),
                rtx: RtxBuffer::new(rtx),
                last_packet: None,
                kf_sent: None,
                kf_pending: false,
                octets: 0,
                resolution: None,
                bytes: 0,
                window_start: None,
                bitrate: 0,
                sr: None,
            })
            .collect();
        self.sources.insert(Source {
            spec,
            layers,
            sinks: Vec::new(),
            relays: Vec::new(),
            muted: false,
            wanted_dirty: false,
            relayed_rates: None,
            resolution_dirty: 0,
        })
    }

    /// The spec a source was added with.
    pub fn source_spec(&self, key: SourceKey) -> Option<&SourceSpec> {
        self.sources.get(key).map(|s| &s.spec)
    }

    /// How many entries its tables hold.
    pub fn tables(&self) -> RouterTables {
        RouterTables {
            sources: self.sources.len(),
            sinks: self.sinks.len(),
            attached_sinks: self.sources.iter().map(|(_, s)| s.sinks.len()).sum(),
            source_relays: self.sources.iter().map(|(_, s)| s.relays.len()).sum(),
            estimates: self.estimates.len(),
        }
    }

    /// Sinks a source feeds.
    pub fn sink_count(&self, key: SourceKey) -> usize {
        self.sources.get(key).map_or(0, |s| s.sinks.len())
    }

    /// The source a sink is fed by.
    pub fn sink_source(&self, key: SinkKey) -> Option<SourceKey> {
        self.sinks.get(key).map(|s| s.source)
    }

    /// The layer of `source` whose packets carry `ssrc`, once a packet showed it.
    pub fn layer_of_ssrc(&self, source: SourceKey, ssrc: u32) -> Option<u8> {
        self.sources
            .get(source)?
            .layers
            .iter()
            .position(|l| l.ssrc == Some(ssrc))
            .map(|i| i as u8)
    }

    /// The last sender report (NTP, RTP) of a source's layer.
    pub fn sender_report_of(&self, source: SourceKey, layer: u8) -> Option<(u64, u32)> {
        let l = self.sources.get(source)?.layers.get(layer as usize)?;
        l.sr.map(|(ntp, rtp, _)| (ntp, rtp))
    }

    /// Layers of a source.
    pub fn layer_count(&self, source: SourceKey) -> u8 {
        self.sources.get(source).map_or(0, |s| s.layers.len() as u8)
    }

    /// Starts handing `source`'s packets to [`Out::relay`] as `relay`, every layer until
    /// [`Router::set_relay_layers`] says otherwise; false if the source does not exist.
    pub fn add_relay(&mut self, source: SourceKey, relay: RelayId) -> bool {
        match self.sources.get_mut(source) {
            Some(s) => {
                if !s.relays.iter().any(|(r, _)| *r == relay) {
                    s.relays.push((relay, ALL_LAYERS));
                }
                true
            }
            None => false,
        }
    }

    /// The layers (a bit per layer) `relay` hands on from now on.
    pub fn set_relay_layers(&mut self, source: SourceKey, relay: RelayId, layers: u8) {
        if let Some(s) = self.sources.get_mut(source)
            && let Some(r) = s.relays.iter_mut().find(|(r, _)| *r == relay)
        {
            r.1 = layers;
        }
    }

    /// The layers `relay` hands on; `None` if there is no such relay.
    pub fn relay_layers(&self, source: SourceKey, relay: RelayId) -> Option<u8> {
        let s = self.sources.get(source)?;
        s.relays.iter().find(|(r, _)| *r == relay).map(|(_, l)| *l)
    }

    /// Stops a relay.
    pub fn remove_relay(&mut self, source: SourceKey, relay: RelayId) {
        if let Some(s) = self.sources.get_mut(source) {
            s.relays.retain(|(r, _)| *r != relay);
        }
    }

    /// The layers (a bit per layer) the sinks of a relayed `source` need: each unpaused sink's
    /// target layer and the layer it still receives while it switches; every layer while one
    /// of them follows its bandwidth estimate and the source shard has not reported the
    /// layers' bitrates yet ([`Router::set_relayed_rates`]), since choosing needs them.
    pub fn wanted_layers(&self, source: SourceKey) -> u8 {
        let Some(src) = self.sources.get(source) else {
            return 0;
        };
        if src.layers.len() < 2 {
            return ALL_LAYERS;
        }
        let mut wanted = 0u8;
        for sink in src.sinks.iter().filter_map(|k| self.sinks.get(*k)) {
            if sink.paused {
                continue;
            }
            if sink.spec.layer == LayerChoice::Auto && src.relayed_rates.is_none() {
                return ALL_LAYERS;
            }
            wanted |= 1 << sink.target;
            if let Some(l) = sink.rw.layer() {
                wanted |= 1 << l;
            }
        }
        wanted
    }

    /// A relayed source's layers as its own shard measures them ([`Out::relay_layer_rates`]):
    /// bitrates (bit/s) and live layers (a bit per layer).
    pub fn set_relayed_rates(
        &mut self,
        now: Instant,
        source: SourceKey,
        rates: [u64; MAX_LAYERS],
        live: u8,
    ) {
        let Some(s) = self.sources.get_mut(source) else {
            return;
        };
        let first = s.relayed_rates.is_none();
        s.relayed_rates = Some((now, rates, live));
        if first {
            self.wanted_may_change(source);
        }
    }

    /// Moves out the layers whose picture size changed, as `(source, layer, size)`, once each
    /// however often they changed; at most once per [`RESOLUTION_INTERVAL`] (until then the
    /// changes wait), so a publisher cannot flood the room with updates.
    pub fn take_resolution_changes(
        &mut self,
        now: Instant,
        into: &mut Vec<(SourceKey, u8, (u16, u16))>,
    ) {
        if self.resolution_changed.is_empty() || now < self.next_resolution {
            return;
        }
        self.next_resolution = now + RESOLUTION_INTERVAL;
        for key in self.resolution_changed.drain(..) {
            let Some(s) = self.sources.get_mut(key) else {
                continue;
            };
            let dirty = std::mem::take(&mut s.resolution_dirty);
            for (i, l) in s.layers.iter().enumerate() {
                if dirty & (1 << i) != 0
                    && let Some(res) = l.resolution
                {
                    into.push((key, i as u8, res));
                }
            }
        }
    }

    /// The picture size a video source's layer announced in its last key frame that had one
    /// (VP8 and H.264; `None` before, and for other codecs).
    pub fn layer_resolution(&self, key: SourceKey, layer: u8) -> Option<(u16, u16)> {
        self.sources
            .get(key)?
            .layers
            .get(layer as usize)?
            .resolution
    }

    /// Moves out the relayed sources (with more than one layer) whose
    /// [`Router::wanted_layers`] may have changed since the last call.
    pub fn take_wanted_changed(&mut self, into: &mut Vec<SourceKey>) {
        for key in self.wanted_changed.drain(..) {
            if let Some(s) = self.sources.get_mut(key)
                && std::mem::take(&mut s.wanted_dirty)
            {
                into.push(key);
            }
        }
    }

    fn wanted_may_change(&mut self, source: SourceKey) {
        if let Some(s) = self.sources.get_mut(source)
            && s.spec.relayed
            && s.layers.len() > 1
            && !s.wanted_dirty
        {
            s.wanted_dirty = true;
            self.wanted_changed.push(source);
        }
    }

    /// Removes a source; returns the sinks it fed (now removed too).
    pub fn remove_source(&mut self, key: SourceKey) -> Vec<SinkKey> {
        let Some(src) = self.sources.try_remove(key) else {
            return Vec::new();
        };
        for s in &src.sinks {
            self.sinks.try_remove(*s);
        }
        src.sinks
    }

    /// Whether a source exists.
    pub fn has_source(&self, key: SourceKey) -> bool {
        self.sources.contains(key)
    }

    /// Mutes or unmutes a source (muted sources forward nothing).
    pub fn set_source_muted(&mut self, key: SourceKey, muted: bool) {
        if let Some(s) = self.sources.get_mut(key) {
            s.muted = muted;
        }
    }

    /// Adds a sink fed by `source`; `None` if the source does not exist.
    pub fn add_sink(
        &mut self,
        now: Instant,
        source: SourceKey,
        spec: SinkSpec,
        initial_seq: u16,
    ) -> Option<SinkKey> {
        let src = self.sources.get(source)?;
        let layers = src.layers.len() as u8;
        let target = match spec.layer {
            LayerChoice::Fixed(l) => l.min(layers - 1),
            // Start on the lowest layer: it is cheapest to get a key frame of, and the
            // estimate raises it within a second or two.
            LayerChoice::Auto => 0,
        };
        let rw = Rewriter::new(src.spec.clock_rate, initial_seq);
        let key = self.sinks.insert(Sink {
            spec,
            source,
            rw,
            target,
            paused: false,
            packets: 0,
            octets: 0,
            last_sr: None,
            last_sent: None,
            probe: None,
            probe_after: None,
            probe_backoff: PROBE_BACKOFF,
            earned: false,
        });
        self.sources[source].sinks.push(key);
        if self.sources[source].spec.kind == Kind::Video {
            self.request_keyframe(now, source, target);
        }
        self.wanted_may_change(source);
        Some(key)
    }

    /// Feeds a sink from another source of the same kind, codec and clock rate, without
    /// renegotiation: the subscriber keeps its SSRC, and its sequence numbers and timestamps
    /// continue from the new source's next key frame (audio: next packet), which is requested
    /// at once. `false` (nothing changed) if the sink or source does not exist or they do not
    /// match.
    pub fn move_sink(&mut self, now: Instant, key: SinkKey, to: SourceKey) -> bool {
        if !self.can_feed(key, to) {
            return false;
        }
        let from = self.sinks[key].source;
        if from == to {
            return true;
        }
        let layers = self.sources[to].layers.len() as u8;
        self.sources[from].sinks.retain(|k| *k != key);
        self.wanted_may_change(from);
        let sink = &mut self.sinks[key];
        sink.source = to;
        sink.rw.new_source();
        sink.last_sent = None;
        // The estimate is the subscriber's connection's: what the back-off learned still holds.
        sink.probe = None;
        sink.earned = false;
        sink.target = match sink.spec.layer {
            LayerChoice::Fixed(l) => l.min(layers - 1),
            LayerChoice::Auto => 0,
        };
        let target = sink.target;
        self.sources[to].sinks.push(key);
        if self.sources[to].spec.kind == Kind::Video {
            self.request_keyframe(now, to, target);
        }
        self.wanted_may_change(to);
        true
    }

    /// Whether [`Router::move_sink`] would accept moving `key` to `to`.
    pub fn can_feed(&self, key: SinkKey, to: SourceKey) -> bool {
        let Some(sink) = self.sinks.get(key) else {
            return false;
        };
        let (Some(old), Some(new)) = (self.sources.get(sink.source), self.sources.get(to)) else {
            return false;
        };
        old.spec.kind == new.spec.kind
            && old.spec.codec == new.spec.codec
            && old.spec.clock_rate == new.spec.clock_rate
    }

    /// Removes a sink.
    pub fn remove_sink(&mut self, key: SinkKey) {
        if let Some(s) = self.sinks.try_remove(key)
            && let Some(src) = self.sources.get_mut(s.source)
        {
            src.sinks.retain(|k| *k != key);
            self.wanted_may_change(s.source);
        }
    }

    /// Pauses or resumes a sink.
    pub fn set_sink_paused(&mut self, key: SinkKey, paused: bool) {
        if let Some(s) = self.sinks.get_mut(key) {
            s.paused = paused;
            s.probe = None;
            let source = s.source;
            self.wanted_may_change(source);
        }
    }

    /// Sets the header extension ids a sink writes (a subscriber's answer to our offer keeps
    /// some of those we offered); `None` stops writing that extension.
    pub fn set_sink_extensions(
        &mut self,
        key: SinkKey,
        mid: Option<u8>,
        abs_send_time: Option<u8>,
        audio_level: Option<u8>,
        video_orientation: Option<u8>,
    ) {
        if let Some(s) = self.sinks.get_mut(key) {
            s.spec.mid_id = mid;
            s.spec.abs_send_time_id = abs_send_time;
            s.spec.audio_level_id = audio_level;
            s.spec.video_orientation_id = video_orientation;
        }
    }

    /// The sink's output SSRC and transport.
    pub fn sink_info(&self, key: SinkKey) -> Option<(TransportKey, u32)> {
        self.sinks.get(key).map(|s| (s.spec.transport, s.spec.ssrc))
    }

    /// The layer a sink currently receives and its target.
    pub fn sink_layers(&self, key: SinkKey) -> Option<(Option<u8>, u8)> {
        self.sinks.get(key).map(|s| (s.rw.layer(), s.target))
    }

    /// Forces a sink's layer (e.g. a subscription update naming a simulcast layer).
    pub fn set_sink_layer(&mut self, now: Instant, key: SinkKey, choice: LayerChoice) {
        let Some(s) = self.sinks.get_mut(key) else {
            return;
        };
        s.spec.layer = choice;
        s.probe = None;
        let src = s.source;
        if let LayerChoice::Fixed(l) = choice {
            let layers = self.sources[s.source].layers.len() as u8;
            let l = l.min(layers - 1);
            if s.target != l {
                s.target = l;
                self.request_keyframe(now, src, l);
            }
        }
        self.wanted_may_change(src);
    }

    /// A subscriber transport's receive-side bandwidth estimate (REMB), in bit/s.
    pub fn set_estimate(&mut self, transport: TransportKey, bps: u64) {
        self.estimates.insert(transport, bps);
    }

    /// Forgets everything about a transport's estimate.
    pub fn forget_transport(&mut self, transport: TransportKey) {
        self.estimates.remove(&transport);
    }

    /// A publisher's sender report for the SSRC of `layer`.
    pub fn on_sender_report(
        &mut self,
        now: Instant,
        source: SourceKey,
        layer: u8,
        ntp: u64,
        rtp: u32,
    ) {
        if let Some(l) = self
            .sources
            .get_mut(source)
            .and_then(|s| s.layers.get_mut(layer as usize))
        {
            l.stats.on_sender_report(now, ntp);
            l.sr = Some((ntp, rtp, now));
        }
    }

    /// One RTP packet from a publisher, already decrypted: `hdr` is its parsed header.
    pub fn on_rtp(
        &mut self,
        now: Instant,
        source: SourceKey,
        layer: u8,
        hdr: &RtpHeader<'_>,
        out: &mut dyn Out,
    ) {
        let Router {
            sources,
            sinks,
            stats,
            epoch,
            wanted_changed,
            resolution_changed,
            ..
        } = self;
        let Some(src) = sources.get_mut(source) else {
            return;
        };
        let Some(l) = src.layers.get_mut(layer as usize) else {
            return;
        };
        stats.packets_in += 1;
        let ssrc = hdr.ssrc();
        l.ssrc = Some(ssrc);
        let ext_seq = l
            .stats
            .on_packet(now, *epoch, hdr.sequence_number(), hdr.timestamp());
        l.last_packet = Some(now);
        let packet = hdr.packet();
        l.octets += hdr.payload().len() as u64;
        l.bytes += packet.len() as u64;
        match l.window_start {
            Some(w) if now.saturating_duration_since(w) >= Duration::from_secs(1) => {
                let secs = now.saturating_duration_since(w).as_secs_f64();
                l.bitrate = (l.bytes as f64 * 8.0 / secs) as u64;
                l.bytes = 0;
                l.window_start = Some(now);
            }
            None => l.window_start = Some(now),
            _ => {}
        }
        let mut want_keyframe = false;
        if src.spec.nack
            && !src.spec.relayed
            && src.spec.kind == Kind::Video
            && l.nack.on_packet(now, ext_seq) == GapOutcome::TooLong
        {
            want_keyframe = true;
        }
        let payload = hdr.payload();
        if payload.is_empty() {
            // Padding-only packets (bandwidth probes) are not media.
            if want_keyframe {
                Self::keyframe_to(now, src, layer, stats, out);
            }
            return;
        }
        l.rtx.store(ext_seq, packet);
        if src.muted {
            return;
        }
        for &(r, wanted) in &src.relays {
            if wanted & (1 << layer) != 0 {
                out.relay(r, layer, packet);
            }
        }
        let kind = src.spec.kind;
        let codec = src.spec.codec;
        let mut keyframe: Option<bool> = None;
        // The VP8/VP9 descriptor, parsed for the first sink that forwards the packet.
        let mut pictures: Option<codec::Pictures> = None;
        // Key frames announce the picture size; the source shard reports it, a
        // relayed copy does not.
        if kind == Kind::Video
            && !src.spec.relayed
            && *keyframe.get_or_insert_with(|| codec::is_keyframe_start(codec, payload))
            && let Some(res) = codec::keyframe_resolution(codec, payload)
            && src.layers[layer as usize].resolution != Some(res)
        {
            src.layers[layer as usize].resolution = Some(res);
            if src.resolution_dirty == 0 {
                resolution_changed.push(source);
            }
            src.resolution_dirty |= 1 << layer;
        }
        // A key frame answers every request still waiting for the rate limit: they were all
        // made before it, and each subscriber gets it.
        if kind == Kind::Video
            && src.layers[layer as usize].kf_pending
            && *keyframe.get_or_insert_with(|| codec::is_keyframe_start(codec, payload))
        {
            src.layers[layer as usize].kf_pending = false;
        }
        for &sk in &src.sinks {
            let Some(sink) = sinks.get_mut(sk) else {
                continue;
            };
            if sink.paused {
                continue;
            }
            let current = sink.rw.layer();
            let switch_ok = layer == sink.target
                && current != Some(layer)
                && (kind == Kind::Audio
                    || *keyframe.get_or_insert_with(|| codec::is_keyframe_start(codec, payload)));
            let Some(m) = sink.rw.map(
                now,
                layer,
                hdr.sequence_number(),
                hdr.timestamp(),
                switch_ok,
            ) else {
                if layer == sink.target && current != Some(layer) {
                    want_keyframe = true;
                }
                continue;
            };
            if current != Some(layer)
                && src.spec.relayed
                && src.layers.len() > 1
                && !src.wanted_dirty
            {
                // A switch finished: the layer it left may no longer be wanted.
                src.wanted_dirty = true;
                wanted_changed.push(source);
            }
            let pics = *pictures.get_or_insert_with(|| codec::Pictures::parse(codec, payload));
            let n = write_forwarded(
                &src.spec,
                &mut sink.rw,
                &sink.spec,
                hdr,
                &pics,
                m.seq,
                m.ts,
                now,
                *epoch,
                out,
            );
            sink.packets += 1;
            sink.octets += payload.len() as u64;
            sink.last_sent = Some((m.ts, now));
            stats.packets_out += n;
        }
        if want_keyframe || src.layers[layer as usize].kf_pending {
            Self::keyframe_to(now, src, layer, stats, out);
        }
    }

    fn keyframe_to(
        now: Instant,
        src: &mut Source,
        layer: u8,
        stats: &mut RouterStats,
        out: &mut dyn Out,
    ) {
        let (publisher, pli, fir) = (src.spec.publisher, src.spec.pli, src.spec.fir);
        let Some(l) = src.layers.get_mut(layer as usize) else {
            return;
        };
        let Some(ssrc) = l.ssrc else {
            l.kf_pending = true;
            return;
        };
        if l.kf_sent
            .is_some_and(|t| now.saturating_duration_since(t) < KEYFRAME_INTERVAL)
        {
            l.kf_pending = true;
            return;
        }
        if !pli && !fir {
            // The publisher negotiated no way to ask for key frames.
            l.kf_pending = false;
            return;
        }
        out.send_keyframe_request(publisher, ssrc, !pli);
        stats.keyframe_requests += 1;
        l.kf_sent = Some(now);
        l.kf_pending = false;
    }

    /// Asks the publisher of `source` for a key frame on `layer` (coalesced, rate-limited).
    pub fn request_keyframe(&mut self, _now: Instant, source: SourceKey, layer: u8) {
        if let Some(l) = self
            .sources
            .get_mut(source)
            .and_then(|s| s.layers.get_mut(layer as usize))
        {
            l.kf_pending = true;
        }
    }

    /// A subscriber asked for a key frame (PLI/FIR) on a sink.
    pub fn on_sink_keyframe_request(&mut self, now: Instant, sink: SinkKey) {
        if let Some(s) = self.sinks.get(sink) {
            let layer = s.rw.layer().unwrap_or(s.target);
            let src = s.source;
            self.request_keyframe(now, src, layer);
        }
    }

    /// A subscriber NACKed output sequence numbers of a sink: resend what is still buffered.
    pub fn on_sink_nack(&mut self, now: Instant, sink: SinkKey, lost: &[u16], out: &mut dyn Out) {
        let Router {
            sources,
            sinks,
            stats,
            epoch,
            ..
        } = self;
        let Some(s) = sinks.get_mut(sink) else { return };
        let Some(src) = sources.get(s.source) else {
            return;
        };
        for &out_seq in lost {
            let Some((layer, in_seq, ts_delta)) = s.rw.unmap(out_seq) else {
                stats.nack_misses += 1;
                continue;
            };
            let Some(l) = src.layers.get(layer as usize) else {
                continue;
            };
            let Some(highest) = l.stats.highest() else {
                continue;
            };
            // Extend `in_seq` relative to the highest received.
            let base = highest & !0xffff;
            let cands = [
                base.wrapping_sub(1 << 16) | in_seq as u64,
                base | in_seq as u64,
            ];
            let ext = *cands
                .iter()
                .filter(|c| **c <= highest)
                .max()
                .unwrap_or(&(base | in_seq as u64));
            let Some(pkt) = l.rtx.get(ext) else {
                stats.nack_misses += 1;
                continue;
            };
            let Ok(hdr) = RtpHeader::parse(pkt) else {
                continue;
            };
            let out_ts = hdr.timestamp().wrapping_add(ts_delta);
            let pics = codec::Pictures::parse(src.spec.codec, hdr.payload());
            stats.retransmitted += write_forwarded(
                &src.spec, &mut s.rw, &s.spec, &hdr, &pics, out_seq, out_ts, now, *epoch, out,
            );
        }
    }

    /// Periodic work: NACKs, keyframe requests, receiver and sender reports, layer choice.
    pub fn poll(&mut self, now: Instant, out: &mut dyn Out) {
        let rtt = Duration::from_millis(50);
        let rr_due = now >= self.next_rr;
        if rr_due {
            self.next_rr = now + RR_INTERVAL;
        }
        let Router {
            sources,
            stats,
            nack_scratch,
            ..
        } = self;
        for (_, src) in sources.iter_mut() {
            let publisher = src.spec.publisher;
            for li in 0..src.layers.len() {
                let l = &mut src.layers[li];
                if let Some(ssrc) = l.ssrc.filter(|_| !src.spec.relayed) {
                    if src.spec.nack && !l.nack.is_empty() {
                        l.nack.due(now, rtt, nack_scratch);
                        if !nack_scratch.is_empty() {
                            out.send_nack(publisher, ssrc, nack_scratch);
                        }
                    }
                    if rr_due && let Some(block) = l.stats.report(ssrc, now) {
                        out.send_receiver_report(publisher, block);
                    }
                }
                if src.layers[li].kf_pending {
                    Self::keyframe_to(now, src, li as u8, stats, out);
                }
            }
        }
        self.sender_reports(now, out);
        if now >= self.next_layers {
            self.next_layers = now + LAYER_INTERVAL;
            self.choose_layers(now);
            self.report_layer_rates(now, out);
        }
    }

    /// Hands every relay of a simulcast source its layers' bitrates and liveness.
    fn report_layer_rates(&self, now: Instant, out: &mut dyn Out) {
        for (_, src) in self.sources.iter() {
            if src.relays.is_empty() || src.layers.len() < 2 {
                continue;
            }
            let mut rates = [0u64; MAX_LAYERS];
            let mut live = 0u8;
            for (i, l) in src.layers.iter().enumerate() {
                rates[i] = l.bitrate;
                if l.last_packet
                    .is_some_and(|t| now.saturating_duration_since(t) < LAYER_TIMEOUT)
                {
                    live |= 1 << i;
                }
            }
            for &(relay, _) in &src.relays {
                out.relay_layer_rates(relay, rates, live);
            }
        }
    }

    fn sender_reports(&mut self, now: Instant, out: &mut dyn Out) {
        let Router { sources, sinks, .. } = self;
        for (_, s) in sinks.iter_mut() {
            let Some(src) = sources.get(s.source) else {
                continue;
            };
            let interval = if src.spec.kind == Kind::Audio {
                SR_INTERVAL * 2
            } else {
                SR_INTERVAL
            };
            if s.last_sr
                .is_some_and(|t| now.saturating_duration_since(t) < interval)
            {
                continue;
            }
            let Some(layer) = s.rw.layer() else { continue };
            let Some((sr_ntp, sr_rtp, sr_at)) = src.layers.get(layer as usize).and_then(|l| l.sr)
            else {
                continue;
            };
            if s.last_sent.is_none() {
                continue;
            }
            // Map the publisher's NTP↔RTP pair through this sink's timestamp offset, then
            // extrapolate to now.
            let ts_delta = s.rw.ts_delta();
            let elapsed = now.saturating_duration_since(sr_at);
            let rtp = sr_rtp
                .wrapping_add(ts_delta)
                .wrapping_add((elapsed.as_secs_f64() * src.spec.clock_rate as f64) as u32);
            let ntp = ntp_of(now, sr_at, sr_ntp);
            out.send_sender_report(
                s.spec.transport,
                SenderReport {
                    ssrc: s.spec.ssrc,
                    ntp,
                    rtp,
                    packets: s.packets as u32,
                    octets: s.octets as u32,
                },
            );
            s.last_sr = Some(now);
        }
    }

    /// Picks each estimate-following sink's target layer. A transport's estimate is shared
    /// out among its sinks, in this order:
    ///
    /// 1. what the other sinks forward (audio, single-layer video, fixed layers);
    /// 2. every estimate-following simulcast sink's lowest live layer;
    /// 3. sinks on a higher layer go back up towards it, one layer per sink per round, while
    ///    it fits (staying on the layer it is on needs no headroom, a layer below it 20%), so
    ///    a sink already on a layer is not pushed off it by another one's step, and sinks that
    ///    hold more than their turn share it;
    /// 4. a sink trying a higher layer, that layer (even when it does not fit: that is the
    ///    try), so that no other sink takes what the try makes the estimate grow by;
    /// 5. the rest goes up one layer at a time, a sink per turn, while it fits with 20%
    ///    headroom, so two subscriptions on one connection do not each take the whole
    ///    estimate.
    ///
    /// Paused sinks cost nothing and take the highest layer what is left would carry.
    fn choose_layers(&mut self, now: Instant) {
        let (mut cands, mut shares) = std::mem::take(&mut self.layer_scratch);
        cands.clear();
        shares.clear();
        for (key, s) in self.sinks.iter() {
            if s.spec.layer != LayerChoice::Auto {
                continue;
            }
            let Some(src) = self.sources.get(s.source) else {
                continue;
            };
            if src.layers.len() < 2 {
                continue;
            }
            let (order, n) = live_layers(src, now);
            if n == 0 {
                continue;
            }
            let tried = s
                .probe
                .and_then(|_| order[..n].iter().position(|(i, _)| *i == s.target));
            cands.push(Candidate {
                sink: key,
                slot: 0,
                order,
                n,
                pos: 0,
                paused: s.paused,
                current: s.rw.layer(),
                tried,
            });
        }
        if cands.is_empty() {
            self.layer_scratch = (cands, shares);
            return;
        }
        for c in &mut cands {
            let transport = self.sinks[c.sink].spec.transport;
            c.slot = match shares.iter().position(|t| t.transport == transport) {
                Some(i) => i,
                None => {
                    let budget = self.estimates.get(&transport).copied().unwrap_or(u64::MAX);
                    shares.push(Share {
                        transport,
                        budget,
                        used: 0,
                        trying: false,
                    });
                    shares.len() - 1
                }
            };
            if self.sinks[c.sink].probe.is_some() {
                shares[c.slot].trying = true;
            }
        }
        // 1. What the transports' other sinks forward.
        for (_, s) in self.sinks.iter() {
            let Some(t) = shares.iter_mut().find(|t| t.transport == s.spec.transport) else {
                continue;
            };
            let Some(src) = self.sources.get(s.source) else {
                continue;
            };
            if s.paused || (s.spec.layer == LayerChoice::Auto && src.layers.len() >= 2) {
                continue;
            }
            t.charge(layer_rate(src, now, s.target));
        }
        // 2. Every running sink's lowest layer.
        for c in cands.iter().filter(|c| !c.paused) {
            shares[c.slot].charge(c.rate());
        }
        // 3. Sinks on a higher layer than that get back up to it, a step per sink per round.
        step_rounds(&mut cands, &mut shares, true);
        // 4. Tries.
        for c in cands.iter_mut().filter(|c| !c.paused) {
            if let Some(k) = c.tried {
                shares[c.slot].charge(c.order[k].1.saturating_sub(c.rate()));
                c.pos = k;
            }
        }
        // 5. Then every sink, a step per sink per round.
        step_rounds(&mut cands, &mut shares, false);
        for c in cands.iter_mut().filter(|c| c.paused) {
            while let Some(k) = c.step_up(shares[c.slot].left().saturating_sub(c.rate()), c.n) {
                c.pos = k;
            }
        }

        let mut requests: Vec<(SourceKey, u8)> = Vec::new();
        for c in &cands {
            let share = &mut shares[c.slot];
            let s = &mut self.sinks[c.sink];
            let layers = c.layers();
            let budget = share.budget;
            // What this sink may use: what is left plus its own layer.
            let mine = if c.paused {
                share.left()
            } else {
                share.left().saturating_add(c.rate())
            };
            let mut best = c.order[c.pos].0;
            // A receiver-side estimate (REMB) grows to at most ~1.5x what arrives, so a sink
            // on a low layer would never earn a higher one. When the estimate sits well above
            // what the transport gets (at least 1.3x: the link is not the limit) and within
            // 4x of the sink's next layer, that sink (one per transport at a time) tries the
            // next layer up; it keeps it while the estimate grows towards it, and goes back
            // (waiting longer before the next try) if the estimate falls by an eighth, has not
            // grown by 5% within PROBE_GROWTH, or has not caught up within PROBE_GRACE.
            let rate_of = |layer: u8| layers.iter().find(|(i, _)| *i == layer).map(|(_, r)| *r);
            // Layer indices follow the offer's rid order, not the rates.
            let rank = |layer: u8| layers.iter().position(|(i, _)| *i == layer);
            // Waiting out the back-off after the sink went down (an ended try, or the estimate
            // falling below a layer a try earned): a sink at its limit does not flip back and
            // forth.
            let back_off = |s: &mut Sink| {
                s.probe_after = Some(now + s.probe_backoff);
                s.probe_backoff = (s.probe_backoff * 2).min(PROBE_BACKOFF_MAX);
            };
            match s.probe {
                // The tried layer stopped arriving: drop the try, take what the rates allow.
                Some(_) if rate_of(s.target).is_none() => {
                    s.probe = None;
                    back_off(s);
                }
                // The sink is on the tried layer and the estimate carries it next to what the
                // connection's other sinks keep: earned.
                Some(_) if s.rw.layer() == Some(s.target) && share.used <= budget => {
                    s.probe = None;
                    s.earned = true;
                    self.stats.layer_tries_kept += 1;
                    if rank(best) < rank(s.target) {
                        best = s.target;
                    }
                }
                Some(p)
                    if budget < p.estimate - p.estimate / 8
                        || (now.saturating_duration_since(p.since) >= PROBE_GROWTH
                            && budget < p.estimate.saturating_add(p.estimate / 20))
                        || now.saturating_duration_since(p.since) >= PROBE_GRACE =>
                {
                    s.probe = None;
                    back_off(s);
                    if let Some(from) = rank(p.from)
                        && rank(best).is_some_and(|b| b > from)
                    {
                        best = p.from;
                    }
                }
                Some(_) => best = s.target,
                None => {
                    let current = s.rw.layer();
                    if s.earned && current.is_some_and(|c| rank(best) < rank(c)) {
                        // Going down from a layer a try earned.
                        s.earned = false;
                        back_off(s);
                    }
                    let next_up = current.filter(|l| *l == best).and_then(|cur| {
                        let pos = rank(cur)?;
                        Some((cur, layers.get(pos + 1)?.0))
                    });
                    let used = share.used;
                    // Not when the estimate is far below the next layer (a hard limit, such
                    // as a bandwidth cap, rather than a receiver that has not seen more), nor
                    // for a paused sink (nothing arrives, so its estimate cannot grow).
                    if let Some((cur, up)) = next_up
                        && !s.paused
                        && !share.trying
                        && budget != u64::MAX
                        && rate_of(cur).is_some_and(|r| r > 0)
                        && budget >= used.saturating_mul(13) / 10
                        && rate_of(up).is_some_and(|r| mine >= r / 4)
                        && s.probe_after.is_none_or(|t| now >= t)
                    {
                        s.probe = Some(Probe {
                            since: now,
                            estimate: budget,
                            from: cur,
                        });
                        share.trying = true;
                        self.stats.layer_tries += 1;
                        best = up;
                    }
                }
            }
            if best != s.target {
                s.target = best;
                self.stats.layer_changes += 1;
                requests.push((s.source, best));
            }
        }
        self.layer_scratch = (cands, shares);
        for (src, layer) in requests {
            self.request_keyframe(now, src, layer);
            self.wanted_may_change(src);
        }
    }

    /// The earliest instant [`Router::poll`] has work.
    pub fn poll_timeout(&self) -> Instant {
        let mut t = self.next_rr.min(self.next_layers);
        for (_, s) in self.sources.iter() {
            for l in &s.layers {
                if let Some(n) = l.nack.next_due() {
                    t = t.min(n);
                }
                // A pending request waits for the rate limit (due at once when nothing was
                // asked of this layer yet), or for the layer's first packet (its SSRC), which
                // arrives as input, not as a deadline.
                if l.kf_pending && l.ssrc.is_some() {
                    t = t.min(l.kf_sent.map_or(self.epoch, |k| k + KEYFRAME_INTERVAL));
                }
            }
        }
        t
    }
}

/// Writes one forwarded packet for a sink; returns 1 if queued.
#[allow(clippy::too_many_arguments)]
fn write_forwarded(
    src: &SourceSpec,
    rw: &mut Rewriter,
    sink: &SinkSpec,
    hdr: &RtpHeader<'_>,
    pictures: &codec::Pictures,
    seq: u16,
    ts: u32,
    now: Instant,
    epoch: Instant,
    out: &mut dyn Out,
) -> u64 {
    let mut exts: [(u8, &[u8]); 4] = [(0, &[]); 4];
    let mut n = 0;
    let mid = sink.mid.as_bytes();
    if let Some(id) = sink.mid_id
        && !mid.is_empty()
    {
        exts[n] = (id, mid);
        n += 1;
    }
    let abs = ext::abs_send_time_bytes(ext::abs_send_time_from_micros(
        now.saturating_duration_since(epoch).as_micros() as u64,
    ));
    if let Some(id) = sink.abs_send_time_id {
        exts[n] = (id, &abs);
        n += 1;
    }
    if let (Some(from), Some(to)) = (src.audio_level_id, sink.audio_level_id)
        && let Some(v) = hdr.extension(from)
    {
        exts[n] = (to, v);
        n += 1;
    }
    if let (Some(from), Some(to)) = (src.video_orientation_id, sink.video_orientation_id)
        && let Some(v) = hdr.extension(from)
    {
        exts[n] = (to, v);
        n += 1;
    }
    let w = RtpWriter {
        marker: hdr.marker(),
        payload_type: sink.pt,
        sequence_number: seq,
        timestamp: ts,
        ssrc: sink.ssrc,
        csrcs: &[],
        extensions: &exts[..n],
    };
    let payload = hdr.payload();
    let mut queued = 0;
    out.send_rtp(sink.transport, &mut |buf: &mut [u8]| {
        let Ok(len) = w.write_packet(payload, buf) else {
            return 0;
        };
        let hl = len - payload.len();
        pictures.rewrite(&mut buf[hl..len], rw);
        queued = 1;
        len
    });
    queued
}

#[cfg(test)]
mod tests;
