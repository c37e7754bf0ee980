//! The shard worker: this shard's transports, the forwarder, and the glue between them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use slab::Slab;
use tessera_rt::{SendBatch, ShardHandle, Worker};
use tessera_rtp::rtcp::{self, RtcpCompound, RtcpPacket};
use tessera_rtp::rtp::RtpHeader;
use tessera_schema::control::{
    LayerStats, MediaError, MediaEvent, OfferAnswer, OfferRequest, PublishedTrack, TrackDirection,
    TrackFormat, TrackKind, TrackStats, TransportStats,
};
use tessera_schema::sdp::{AcceptedMedia, AnswerMedia, Offer};
use tessera_sfu::{
    Kind, LayerChoice, Out, RelayId, ReportBlock, Router, SenderReport, SinkKey, SinkSpec,
    SourceKey, SourceSpec, TransportKey,
};
use tessera_webrtc::demux::{self, Class};
use tessera_webrtc::negotiate::{self, PubMid, SubMid};
use tessera_webrtc::{DatagramSink, Handled, Transport, TransportEvent, TransportState};
use tokio::sync::{broadcast, oneshot};

use crate::metrics::{DropReason, NodeMetrics};

/// Commands a shard accepts.
#[derive(Debug)]
pub enum Command {
    /// Apply an offer (create the transport on first use) and answer it.
    Offer(
        Box<OfferRequest>,
        oneshot::Sender<Result<OfferAnswer, MediaError>>,
    ),
    /// The peer's answer to an offer of ours (transport, SDP); the reply names the mids whose
    /// subscriptions the answer rejected (they ended).
    Answer(
        String,
        String,
        oneshot::Sender<Result<Vec<String>, MediaError>>,
    ),
    /// A trickled remote candidate.
    Candidate(String, String, oneshot::Sender<Result<(), MediaError>>),
    /// End one publication/subscription on a transport.
    EndSession(String, String, oneshot::Sender<Result<(), MediaError>>),
    /// Close a transport.
    Close(String, oneshot::Sender<Result<(), MediaError>>),
    /// Feed a subscription's m-lines of one kind from another published track, adopting the
    /// relays it needs first (as `OfferWithRelays` does).
    SwitchSource {
        transport: String,
        session: String,
        kind: TrackKind,
        track_id: String,
        needs: Vec<RelayNeed>,
        reply: oneshot::Sender<Result<(), MediaError>>,
    },
    /// A transport's state and per-m-line counters.
    Stats(String, oneshot::Sender<Result<TransportStats, MediaError>>),
    /// Mute/unmute a published track.
    TrackActive(String, bool, oneshot::Sender<Result<(), MediaError>>),
    /// Pause/resume a subscription (one kind or all).
    SubscriptionActive(
        String,
        String,
        Option<TrackKind>,
        bool,
        oneshot::Sender<Result<(), MediaError>>,
    ),
    /// Like `Offer`, on the shard the transport lives on, with the sources on other shards it
    /// subscribes to: the ones this shard does not relay yet are adopted (and their shards
    /// asked to start) in the same step, so nothing can tear them down in between.
    OfferWithRelays(
        Box<OfferRequest>,
        Vec<RelayNeed>,
        oneshot::Sender<Result<OfferAnswer, MediaError>>,
    ),
    /// Source shard: what another shard needs to relay the published track (changes nothing).
    RelayDescribe(String, oneshot::Sender<Result<Box<RelaySpec>, MediaError>>),
    /// Source shard: start relaying the published track to shard `to` as `relay` (sent by
    /// the target once it adopted the relay; answered with `RelayEnd` if the track is gone).
    RelayStart {
        track_id: String,
        relay: RelayId,
        to: usize,
    },
    /// Target shard: relayed packets (one wake-up of the source shard).
    RelayRtp(Box<RelayBatch>),
    /// Target shard: the publisher's sender report for a relayed layer.
    RelaySr {
        relay: RelayId,
        layer: u8,
        ntp: u64,
        rtp: u32,
    },
    /// Source shard: a target's subscribers need a key frame of the layer sent as `ssrc`.
    RelayKeyframe { relay: RelayId, ssrc: u32 },
    /// Source shard: the layers (a bit per layer) the target's subscribers of the relay need.
    RelayLayers { relay: RelayId, layers: u8 },
    /// Target shard: a relayed simulcast source's layer bitrates (bit/s) and live layers, as
    /// the source shard measures them.
    RelayRates {
        relay: RelayId,
        rates: [u64; tessera_sfu::MAX_LAYERS],
        live: u8,
    },
    /// Source shard: the target has no subscribers of the relay left.
    RelayStop(RelayId),
    /// Target shard: the relayed source is gone.
    RelayEnd(RelayId),
}

/// Messages waiting in a target shard's queue beyond which relayed batches to it are dropped
/// (each batch holds one wake-up's packets of a source shard: this is seconds of media).
const RELAY_BACKLOG: usize = 1024;
/// Emptied relay batches a shard keeps for reuse (one per target shard and wake-up in flight).
const RELAY_POOL: usize = 64;
/// A relay batch whose buffer grew beyond this is freed rather than kept.
const RELAY_KEEP_BYTES: usize = 256 << 10;

/// The sink key of a subscription whose source is gone (no router sink has it).
const DETACHED: SinkKey = SinkKey::MAX;

/// Transport keys from here up name a relay's upstream (`RELAY_BASE + relay id`), not a peer:
/// what a relayed source's router asks of its "publisher" goes to the source shard.
const RELAY_BASE: TransportKey = TransportKey::MAX / 2;

/// What a shard needs to adopt a relayed source.
#[derive(Clone, Debug)]
pub struct RelaySpec {
    spec: SourceSpec,
    format: TrackFormat,
    rids: Vec<String>,
}

/// A source on another shard that an offer subscribes to.
#[derive(Debug)]
pub struct RelayNeed {
    /// The published track.
    pub track_id: String,
    /// Its shard.
    pub from: usize,
    /// The relay id to use if this shard does not relay the track yet.
    pub relay: RelayId,
    /// From [`Command::RelayDescribe`].
    pub spec: Box<RelaySpec>,
}

/// Packets one shard relays to another in one wake-up: one message, one buffer. The target
/// empties it and sends it back to `home` (its sender's free list), so steady-state relaying
/// allocates nothing.
#[derive(Debug, Default)]
pub struct RelayBatch {
    /// (relay, layer, offset, length) into `bytes`.
    packets: Vec<(RelayId, u8, u32, u32)>,
    bytes: Vec<u8>,
    /// The sending shard's free list (`None`: dropped after use).
    home: Option<SyncSender<Box<RelayBatch>>>,
}

impl RelayBatch {
    /// Empties the batch and returns it to its sender's free list (or drops it when that is
    /// full, gone, or the batch grew unusually large).
    fn recycle(mut self: Box<Self>) {
        let Some(home) = self.home.clone() else {
            return;
        };
        if self.bytes.capacity() > RELAY_KEEP_BYTES {
            return;
        }
        self.packets.clear();
        self.bytes.clear();
        let _ = home.try_send(self);
    }
}

/// Emptied relay batches a shard keeps for reuse.
#[derive(Debug)]
struct RelayPool {
    home: SyncSender<Box<RelayBatch>>,
    free: Receiver<Box<RelayBatch>>,
    /// Batches allocated so far.
    created: u64,
}

impl Default for RelayPool {
    fn default() -> Self {
        let (home, free) = sync_channel(RELAY_POOL);
        RelayPool {
            home,
            free,
            created: 0,
        }
    }
}

impl RelayPool {
    /// A batch to fill: a returned one if there is one, else a new one that will come back.
    fn take(&mut self) -> Box<RelayBatch> {
        self.free.try_recv().unwrap_or_else(|_| {
            self.created += 1;
            Box::new(RelayBatch {
                home: Some(self.home.clone()),
                ..RelayBatch::default()
            })
        })
    }
}

/// A source relayed to this shard.
#[derive(Debug)]
struct RelayIn {
    source: SourceKey,
    from: usize,
    track_id: String,
    format: TrackFormat,
    rids: Vec<String>,
    /// The layers last asked of the source shard (all, until the subscribers say otherwise).
    layers: u8,
}

/// Cross-shard fan-out state of one shard.
#[derive(Debug, Default)]
struct Relays {
    /// Relays this shard feeds: relay → (local source, target shard).
    out: HashMap<RelayId, (SourceKey, usize)>,
    /// Relays feeding this shard.
    inbound: HashMap<RelayId, RelayIn>,
    /// Track id → inbound relay.
    by_track: HashMap<String, RelayId>,
    /// Packets per target shard, sent at the end of the wake-up.
    outbox: Vec<Option<Box<RelayBatch>>>,
    /// Batches back from their targets, for reuse.
    pool: RelayPool,
    /// Control messages to other shards, sent at the end of the wake-up.
    control: Vec<(usize, Command)>,
    /// Relayed sources whose wanted layers may have changed (scratch).
    wanted_changed: Vec<SourceKey>,
    /// Every shard's handle (set by the node once all run).
    shards: Arc<OnceLock<Vec<ShardHandle<Command>>>>,
}

impl Relays {
    fn inbound_of_source(&self, source: SourceKey) -> Option<RelayId> {
        self.inbound
            .iter()
            .find(|(_, r)| r.source == source)
            .map(|(id, _)| *id)
    }
}

/// One published m-line on a peer.
#[derive(Debug)]
struct Pub {
    session: String,
    track_id: String,
    m: PubMid,
    source: SourceKey,
    answer: AcceptedMedia,
}

/// One subscribed m-line on a peer.
#[derive(Debug)]
struct Sub {
    session: String,
    /// The source track.
    from: String,
    m: SubMid,
    sink: SinkKey,
    answer: AcceptedMedia,
}

#[derive(Debug)]
enum MidUse {
    Pub(usize),
    Sub(usize),
    Rejected,
}

/// A transport with what it carries.
#[derive(Debug)]
struct Peer {
    t: Transport,
    pubs: Vec<Option<Pub>>,
    subs: Vec<Option<Sub>>,
    mids: Vec<(String, MidUse)>,
    /// SSRC → (pub index, layer), learned from the first packets.
    routes: Vec<(u32, usize, u8)>,
    /// Transport-wide sequence numbers and arrival times (µs) awaiting feedback.
    twcc: Vec<(u16, i64)>,
    twcc_count: u8,
    twcc_media_ssrc: u32,
    next_twcc: Instant,
    ready_sent: bool,
}

impl Peer {
    fn route(&mut self, hdr: &RtpHeader<'_>) -> Option<(usize, u8)> {
        let ssrc = hdr.ssrc();
        if let Some(&(_, p, l)) = self.routes.iter().find(|r| r.0 == ssrc) {
            return Some((p, l));
        }
        let live = || {
            self.pubs
                .iter()
                .enumerate()
                .filter_map(|(i, p)| p.as_ref().map(|p| (i, p)))
        };
        // 1. The mid header extension.
        let by_mid = live().find_map(|(i, p)| {
            let id = p.m.ext.mid?;
            let v = hdr.extension(id)?;
            tessera_rtp::ext::parse_mid(v)
                .ok()
                .filter(|m| *m == p.m.mid)
                .map(|_| i)
        });
        // 2. SSRCs announced in the offer.
        let by_ssrc =
            || live().find_map(|(i, p)| p.m.ssrcs.iter().position(|s| *s == ssrc).map(|_| i));
        // 3. A payload type only one m-line uses (webrtcbin announces no SSRC and sends no mid).
        let by_pt = || {
            let mut it = live().filter(|(_, p)| p.m.pt == hdr.payload_type());
            let first = it.next();
            if it.next().is_some() {
                None
            } else {
                first.map(|(i, _)| i)
            }
        };
        let idx = by_mid.or_else(by_ssrc).or_else(by_pt)?;
        let p = self.pubs[idx].as_ref()?;
        let layer = if p.m.rids.is_empty() {
            0
        } else {
            let rid =
                p.m.ext
                    .rid
                    .and_then(|id| hdr.extension(id))
                    .and_then(|v| tessera_rtp::ext::parse_rid(v).ok());
            match rid {
                Some(r) => p.m.rids.iter().position(|x| x == r)? as u8,
                None => p.m.ssrcs.iter().position(|s| *s == ssrc)? as u8,
            }
        };
        if self.routes.len() < 64 {
            self.routes.push((ssrc, idx, layer));
        }
        Some((idx, layer))
    }
}

/// Adapts the shard's send batch to the transport's sink interface.
struct Sink<'a>(&'a mut SendBatch);

impl DatagramSink for Sink<'_> {
    fn push_with(&mut self, to: SocketAddr, write: &mut dyn FnMut(&mut [u8]) -> usize) {
        self.0.push_with(to, |b| write(b));
    }
}

/// The router's output: RTP and RTCP through each peer's SRTP context, relayed packets and
/// upstream requests to other shards.
struct OutCtx<'a> {
    peers: &'a mut Slab<Peer>,
    tx: &'a mut SendBatch,
    relays: &'a mut Relays,
    sent: u64,
}

impl OutCtx<'_> {
    fn rtcp(&mut self, transport: TransportKey, write: &mut dyn FnMut(&mut [u8], u32) -> usize) {
        let Some(p) = self.peers.get_mut(transport) else {
            return;
        };
        let ssrc = p.t.local_ssrc;
        p.t.send_rtcp(&mut Sink(self.tx), &mut |buf: &mut [u8]| write(buf, ssrc));
    }
}

impl Out for OutCtx<'_> {
    fn send_rtp(&mut self, transport: TransportKey, write: &mut dyn FnMut(&mut [u8]) -> usize) {
        if let Some(p) = self.peers.get_mut(transport) {
            p.t.send_rtp(&mut Sink(self.tx), write);
            self.sent += 1;
        }
    }
    fn send_nack(&mut self, transport: TransportKey, media_ssrc: u32, seqs: &[u16]) {
        self.rtcp(transport, &mut |buf, me| {
            rtcp::write_nack(me, media_ssrc, seqs, buf).unwrap_or(0)
        });
    }
    fn send_keyframe_request(&mut self, transport: TransportKey, media_ssrc: u32, fir: bool) {
        if transport >= RELAY_BASE {
            let relay = (transport - RELAY_BASE) as RelayId;
            if let Some(r) = self.relays.inbound.get(&relay) {
                self.relays.control.push((
                    r.from,
                    Command::RelayKeyframe {
                        relay,
                        ssrc: media_ssrc,
                    },
                ));
            }
            return;
        }
        if fir {
            let seq = rand::random::<u8>();
            self.rtcp(transport, &mut |buf, me| {
                rtcp::write_fir(
                    me,
                    &[rtcp::FirEntry {
                        ssrc: media_ssrc,
                        sequence_number: seq,
                    }],
                    buf,
                )
                .unwrap_or(0)
            });
        } else {
            self.rtcp(transport, &mut |buf, me| {
                rtcp::write_pli(me, media_ssrc, buf).unwrap_or(0)
            });
        }
    }
    fn send_receiver_report(&mut self, transport: TransportKey, b: ReportBlock) {
        let block = rtcp::ReportBlock {
            ssrc: b.ssrc,
            fraction_lost: b.fraction_lost,
            cumulative_lost: b.cumulative_lost,
            highest_sequence: b.ext_highest_seq,
            jitter: b.jitter,
            last_sr: b.last_sr,
            delay_since_last_sr: b.delay_since_last_sr,
        };
        let Some(p) = self.peers.get_mut(transport) else {
            return;
        };
        // Borrowed out and put back rather than cloned: reports allocate nothing.
        let cname = std::mem::take(&mut p.t.cname);
        self.rtcp(transport, &mut |buf, me| {
            let Ok(n) = rtcp::write_receiver_report(me, &[block], buf) else {
                return 0;
            };
            n + rtcp::write_sdes_cname(me, cname.as_bytes(), &mut buf[n..]).unwrap_or(0)
        });
        if let Some(p) = self.peers.get_mut(transport) {
            p.t.cname = cname;
        }
    }
    fn send_sender_report(&mut self, transport: TransportKey, sr: SenderReport) {
        let Some(p) = self.peers.get_mut(transport) else {
            return;
        };
        let cname = std::mem::take(&mut p.t.cname);
        let info = rtcp::SenderInfo {
            ntp_timestamp: sr.ntp,
            rtp_timestamp: sr.rtp,
            packet_count: sr.packets,
            octet_count: sr.octets,
        };
        p.t.send_rtcp(&mut Sink(self.tx), &mut |buf: &mut [u8]| {
            let Ok(n) = rtcp::write_sender_report(sr.ssrc, &info, &[], buf) else {
                return 0;
            };
            n + rtcp::write_sdes_cname(sr.ssrc, cname.as_bytes(), &mut buf[n..]).unwrap_or(0)
        });
        p.t.cname = cname;
    }
    fn relay(&mut self, relay: RelayId, layer: u8, packet: &[u8]) {
        let Some(&(_, to)) = self.relays.out.get(&relay) else {
            return;
        };
        if self.relays.outbox.len() <= to {
            self.relays.outbox.resize_with(to + 1, || None);
        }
        let pool = &mut self.relays.pool;
        let b = self.relays.outbox[to].get_or_insert_with(|| pool.take());
        b.packets
            .push((relay, layer, b.bytes.len() as u32, packet.len() as u32));
        b.bytes.extend_from_slice(packet);
    }
    fn relay_layer_rates(
        &mut self,
        relay: RelayId,
        rates: [u64; tessera_sfu::MAX_LAYERS],
        live: u8,
    ) {
        if let Some(&(_, to)) = self.relays.out.get(&relay) {
            self.relays
                .control
                .push((to, Command::RelayRates { relay, rates, live }));
        }
    }
}

/// How many entries a shard's tables hold ([`ShardWorker::tables`]): tests compare them before
/// and after sessions come and go to show that ended sessions leave nothing behind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShardTables {
    /// Transports.
    pub transports: usize,
    /// Transports by id.
    pub by_id: usize,
    /// Remote addresses bound to transports.
    pub by_addr: usize,
    /// Transports by local ICE ufrag.
    pub by_ufrag: usize,
    /// Published tracks by id.
    pub tracks: usize,
    /// Router sources owned by a publication here.
    pub sources: usize,
    /// Relays this shard feeds.
    pub relays_out: usize,
    /// Relays feeding this shard.
    pub relays_in: usize,
    /// Relayed tracks by id.
    pub relay_tracks: usize,
    /// Control messages to other shards not yet sent.
    pub control: usize,
    /// The router's.
    pub router: tessera_sfu::RouterTables,
}

/// The transport a piece of isolated work is for ([`ShardWorker::isolated`]).
#[derive(Clone, Copy, Debug)]
enum Target<'a> {
    /// By id (a command; the transport may not exist yet).
    Id(&'a str),
    /// By key (a timer).
    Key(usize),
}

/// A shard's worker.
pub struct ShardWorker {
    index: usize,
    local: SocketAddr,
    advertised: Vec<SocketAddr>,
    router: Router,
    peers: Slab<Peer>,
    by_id: HashMap<String, usize>,
    by_addr: HashMap<SocketAddr, usize>,
    by_ufrag: HashMap<String, usize>,
    /// Track id → (peer, pub index).
    tracks: HashMap<String, (usize, usize)>,
    /// Source → (peer, pub index).
    sources: HashMap<SourceKey, (usize, usize)>,
    events: broadcast::Sender<MediaEvent>,
    metrics: NodeMetrics,
    scratch: Vec<TransportEvent>,
    /// Transports whose timer passed (kept between wake-ups: timers allocate nothing).
    due: Vec<usize>,
    next_deadline: Option<Instant>,
    /// The earliest timer of any transport, as last computed.
    peer_deadline: Option<Instant>,
    /// Something may have moved a transport's timer earlier since `peer_deadline` was
    /// computed. The media path only moves timers later (inactivity, consent expiry), so it
    /// leaves this alone and a stale `peer_deadline` costs at most one early wake-up.
    peer_deadline_stale: bool,
    epoch: Instant,
    sent_before: u64,
    gso_before: u64,
    /// The router's counters when they were last added to the node's metrics.
    router_before: tessera_sfu::RouterStats,
    /// Layers whose picture size changed (router hand-out, reused).
    resized: Vec<(SourceKey, u8, (u16, u16))>,
    relays: Relays,
}

impl std::fmt::Debug for ShardWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardWorker")
            .field("index", &self.index)
            .field("peers", &self.peers.len())
            .finish_non_exhaustive()
    }
}

/// TWCC feedback is sent this often.
const TWCC_INTERVAL: Duration = Duration::from_millis(100);

impl ShardWorker {
    /// How many entries its tables hold.
    pub fn tables(&self) -> ShardTables {
        ShardTables {
            transports: self.peers.len(),
            by_id: self.by_id.len(),
            by_addr: self.by_addr.len(),
            by_ufrag: self.by_ufrag.len(),
            tracks: self.tracks.len(),
            sources: self.sources.len(),
            relays_out: self.relays.out.len(),
            relays_in: self.relays.inbound.len(),
            relay_tracks: self.relays.by_track.len(),
            control: self.relays.control.len(),
            router: self.router.tables(),
        }
    }

    /// A worker for shard `index` bound at `local`, advertising `advertised` as host candidates.
    pub fn new(
        index: usize,
        local: SocketAddr,
        advertised: Vec<SocketAddr>,
        events: broadcast::Sender<MediaEvent>,
        metrics: NodeMetrics,
    ) -> ShardWorker {
        let now = Instant::now();
        ShardWorker {
            index,
            local,
            advertised,
            router: Router::new(now),
            peers: Slab::new(),
            by_id: HashMap::new(),
            by_addr: HashMap::new(),
            by_ufrag: HashMap::new(),
            tracks: HashMap::new(),
            sources: HashMap::new(),
            events,
            metrics,
            scratch: Vec::new(),
            due: Vec::new(),
            next_deadline: None,
            peer_deadline: None,
            peer_deadline_stale: true,
            epoch: now,
            sent_before: 0,
            gso_before: 0,
            router_before: tessera_sfu::RouterStats::default(),
            resized: Vec::new(),
            relays: Relays::default(),
        }
    }

    /// Lets this worker reach the node's other shards (cross-shard fan-out); `shards` is set
    /// once every shard runs.
    pub fn with_shards(mut self, shards: Arc<OnceLock<Vec<ShardHandle<Command>>>>) -> Self {
        self.relays.shards = shards;
        self
    }

    /// The forwarder's counters (for tests and diagnostics).
    #[doc(hidden)]
    pub fn router_stats(&self) -> tessera_sfu::RouterStats {
        self.router.stats()
    }

    fn emit(&self, e: MediaEvent) {
        let _ = self.events.send(e);
    }

    fn on_offer(
        &mut self,
        now: Instant,
        req: OfferRequest,
        tx: &mut SendBatch,
    ) -> Result<OfferAnswer, MediaError> {
        // An empty SDP: the offer is ours (`MediaControl::offer_subscription`). It is written
        // as the answer to what a subscriber would offer for these sources.
        let server_offer = req.sdp.is_empty();
        let template;
        let sdp = if server_offer {
            if self.by_id.contains_key(&req.transport_id) {
                return Err(MediaError::Renegotiation(
                    "the server offers only on a new transport".into(),
                ));
            }
            let mut formats = Vec::new();
            for t in req.subscribe.iter().flat_map(|s| s.tracks.iter()) {
                let base = t.from.split(':').next().unwrap_or(&t.from);
                let (_, format, _) = self
                    .source_of(base)
                    .ok_or_else(|| MediaError::NoSource(t.kind.as_str().into()))?;
                formats.push((t.mid.as_str(), format));
            }
            let tracks: Vec<(&str, &TrackFormat)> = formats.iter().map(|(m, f)| (*m, f)).collect();
            template = negotiate::offer_template(&tracks)
                .map_err(|_| MediaError::NoCodec("audio".into()))?;
            &template
        } else {
            &req.sdp
        };
        let offer = Offer::parse(sdp).map_err(|e| MediaError::BadSdp(e.to_string()))?;
        let mut created = false;
        let key = match self.by_id.get(&req.transport_id) {
            Some(k) => {
                self.peers[*k]
                    .t
                    .check_offer(&offer)
                    .map_err(MediaError::Renegotiation)?;
                *k
            }
            None => {
                let t = if server_offer {
                    Transport::offering(now, req.transport_id.clone(), self.local, &self.advertised)
                } else {
                    Transport::new(
                        now,
                        req.transport_id.clone(),
                        self.local,
                        &self.advertised,
                        &offer,
                    )
                }
                .map_err(MediaError::BadSdp)?;
                let ufrag = t.ufrag().to_string();
                let k = self.peers.insert(Peer {
                    t,
                    pubs: Vec::new(),
                    subs: Vec::new(),
                    mids: Vec::new(),
                    routes: Vec::new(),
                    twcc: Vec::with_capacity(512),
                    twcc_count: 0,
                    twcc_media_ssrc: 0,
                    next_twcc: now + TWCC_INTERVAL,
                    ready_sent: false,
                });
                self.by_id.insert(req.transport_id.clone(), k);
                self.by_ufrag.insert(ufrag, k);
                self.learn_candidate_addrs(k);
                self.metrics.transports.inc();
                created = true;
                k
            }
        };
        let r = self.apply_offer(now, key, &offer, &req, tx);
        // A transport this offer created goes again when the offer fails, with whatever of
        // it was set up (the placement forgets it too).
        if r.is_err() && created {
            self.remove_peer(key, tx, None);
        }
        r
    }

    /// The m-lines of `offer` on transport `key`: publications, subscriptions, rejections,
    /// and the answer (our offer when the server offers).
    fn apply_offer(
        &mut self,
        now: Instant,
        key: usize,
        offer: &Offer,
        req: &OfferRequest,
        tx: &mut SendBatch,
    ) -> Result<OfferAnswer, MediaError> {
        // Every mid an operation names must be in the offer.
        for (mid, kind) in req
            .publish
            .iter()
            .flat_map(|p| p.tracks.iter().map(|t| (&t.mid, t.kind)))
            .chain(
                req.subscribe
                    .iter()
                    .flat_map(|s| s.tracks.iter().map(|t| (&t.mid, t.kind))),
            )
        {
            if offer.media_by_mid(mid).is_none() {
                return Err(MediaError::NoSuchMid {
                    mid: mid.clone(),
                    kind: kind.as_str().into(),
                });
            }
        }
        let mut decisions = Vec::with_capacity(offer.media.len());
        let mut published = Vec::new();
        for m in &offer.media {
            let Some(mid) = m.mid.clone() else {
                decisions.push(AnswerMedia::Rejected);
                continue;
            };
            let closed = m.is_disabled() || m.direction == tessera_schema::sdp::Direction::Inactive;
            let existing = self.peers[key].mids.iter().position(|(x, _)| *x == mid);
            if let Some(pos) = existing {
                let decision = match &self.peers[key].mids[pos].1 {
                    MidUse::Pub(i) => self.peers[key].pubs[*i]
                        .as_ref()
                        .map(|p| AnswerMedia::Accepted(p.answer.clone())),
                    MidUse::Sub(i) => self.peers[key].subs[*i]
                        .as_ref()
                        .map(|s| AnswerMedia::Accepted(s.answer.clone())),
                    MidUse::Rejected => None,
                };
                if closed {
                    self.close_mid(key, pos);
                    decisions.push(AnswerMedia::Rejected);
                } else {
                    decisions.push(decision.unwrap_or(AnswerMedia::Rejected));
                }
                continue;
            }
            if closed {
                self.peers[key].mids.push((mid, MidUse::Rejected));
                decisions.push(AnswerMedia::Rejected);
                continue;
            }
            if let Some((spec, track)) = req
                .publish
                .iter()
                .find_map(|p| p.tracks.iter().find(|t| t.mid == mid).map(|t| (p, t)))
            {
                let (answer, pm) = negotiate::negotiate_publish(
                    m,
                    &mid,
                    track.kind,
                    &spec.accept_audio,
                    &spec.accept_video,
                )
                .map_err(|e| {
                    if e.starts_with("No proper") {
                        MediaError::NoCodec(track.kind.as_str().into())
                    } else {
                        MediaError::BadSdp(e)
                    }
                })?;
                let track_id = format!("{}-{}", req.transport_id, mid);
                let source = self.router.add_source(SourceSpec {
                    kind: if pm.kind == TrackKind::Audio {
                        Kind::Audio
                    } else {
                        Kind::Video
                    },
                    codec: pm.codec,
                    clock_rate: pm.clock_rate,
                    layers: pm.rids.len().max(1) as u8,
                    publisher: key,
                    nack: pm.fb.nack,
                    pli: pm.fb.pli,
                    fir: pm.fb.fir,
                    audio_level_id: pm.ext.audio_level,
                    video_orientation_id: pm.ext.video_orientation,
                    relayed: false,
                });
                published.push(PublishedTrack {
                    stream_id: spec.stream_id.clone(),
                    track_id: track_id.clone(),
                    mid: mid.clone(),
                    kind: pm.kind,
                    format: pm.format.clone(),
                    rids: pm.rids.clone(),
                    source: track.source.clone(),
                });
                let peer = &mut self.peers[key];
                let idx = peer.pubs.len();
                peer.pubs.push(Some(Pub {
                    session: spec.stream_id.clone(),
                    track_id: track_id.clone(),
                    m: pm,
                    source,
                    answer: answer.clone(),
                }));
                peer.mids.push((mid, MidUse::Pub(idx)));
                self.tracks.insert(track_id, (key, idx));
                self.sources.insert(source, (key, idx));
                decisions.push(AnswerMedia::Accepted(answer));
                continue;
            }
            if let Some((spec, track)) = req
                .subscribe
                .iter()
                .find_map(|s| s.tracks.iter().find(|t| t.mid == mid).map(|t| (s, t)))
            {
                let (base, rid) = match track.from.split_once(':') {
                    Some((b, r)) => (b.to_string(), Some(r.to_string())),
                    None => (track.from.clone(), None),
                };
                let (source, src_format, layers) = self
                    .source_of(&base)
                    .ok_or_else(|| MediaError::NoSource(track.kind.as_str().into()))?;
                let (src_name, src_clock) = negotiate::encoding_of(&src_format);
                let ssrc = rand::random::<u32>() | 1;
                let cname = self.peers[key].t.cname.clone();
                let (answer, sm) = negotiate::negotiate_subscribe(
                    m,
                    &mid,
                    track.kind,
                    src_name,
                    src_clock,
                    &src_format,
                    ssrc,
                    &cname,
                    &spec.subscription_id,
                    &track.from,
                )
                .map_err(|e| {
                    if e.starts_with("No proper") {
                        MediaError::NoCodec(track.kind.as_str().into())
                    } else {
                        MediaError::BadSdp(e)
                    }
                })?;
                let layer = match rid {
                    Some(r) => LayerChoice::Fixed(
                        layers
                            .iter()
                            .position(|x| *x == r)
                            .ok_or_else(|| MediaError::NoSource(track.from.clone()))?
                            as u8,
                    ),
                    None => LayerChoice::Auto,
                };
                let sink = self
                    .router
                    .add_sink(
                        now,
                        source,
                        SinkSpec {
                            transport: key,
                            ssrc,
                            pt: sm.pt,
                            mid: mid.clone(),
                            mid_id: sm.ext.mid,
                            abs_send_time_id: sm.ext.abs_send_time,
                            audio_level_id: sm.ext.audio_level,
                            video_orientation_id: sm.ext.video_orientation,
                            layer,
                        },
                        rand::random(),
                    )
                    .ok_or_else(|| MediaError::NoSource(track.from.clone()))?;
                let peer = &mut self.peers[key];
                let idx = peer.subs.len();
                peer.subs.push(Some(Sub {
                    session: spec.subscription_id.clone(),
                    from: track.from.clone(),
                    m: sm,
                    sink,
                    answer: answer.clone(),
                }));
                peer.mids.push((mid, MidUse::Sub(idx)));
                decisions.push(AnswerMedia::Accepted(answer));
                continue;
            }
            self.peers[key].mids.push((mid, MidUse::Rejected));
            decisions.push(AnswerMedia::Rejected);
        }
        let sdp = self.peers[key].t.answer(offer, &decisions);
        self.poll_peer(now, key, tx);
        Ok(OfferAnswer { sdp, published })
    }

    /// A track published on this shard, or one relayed here from another: its router source,
    /// format and simulcast rids.
    fn source_of(&self, base: &str) -> Option<(SourceKey, TrackFormat, Vec<String>)> {
        match self.tracks.get(base) {
            Some(&(src_peer, src_idx)) => {
                let src = self.peers[src_peer].pubs[src_idx].as_ref()?;
                Some((src.source, src.m.format.clone(), src.m.rids.clone()))
            }
            None => {
                let r = self
                    .relays
                    .by_track
                    .get(base)
                    .and_then(|id| self.relays.inbound.get(id))?;
                Some((r.source, r.format.clone(), r.rids.clone()))
            }
        }
    }

    /// The peer's answer to our offer (`offer_subscription`): each m-line is checked against
    /// what we offered before anything changes; then rejected m-lines end their
    /// subscriptions, the others keep the feedback and header extensions the answer kept, and
    /// ICE and DTLS start with the peer's credentials and role.
    fn on_answer(
        &mut self,
        now: Instant,
        transport_id: &str,
        sdp: &str,
        tx: &mut SendBatch,
    ) -> Result<Vec<String>, MediaError> {
        let key = *self
            .by_id
            .get(transport_id)
            .ok_or_else(|| MediaError::NoTransport(transport_id.into()))?;
        if !self.peers[key].t.awaiting_answer() {
            return Err(MediaError::Renegotiation(
                "no offer of ours is waiting for an answer on this transport".into(),
            ));
        }
        let answer = Offer::parse(sdp).map_err(|e| MediaError::BadSdp(e.to_string()))?;
        let peer = &self.peers[key];
        if answer.media.len() != peer.mids.len() {
            return Err(MediaError::BadSdp(format!(
                "the answer has {} m-lines, the offer {}",
                answer.media.len(),
                peer.mids.len()
            )));
        }
        // (position, Some(subscription as answered)) or None: rejected.
        let mut checked = Vec::with_capacity(answer.media.len());
        for (pos, (m, (mid, use_))) in answer.media.iter().zip(&peer.mids).enumerate() {
            if m.mid.as_deref() != Some(mid.as_str()) {
                return Err(MediaError::BadSdp(format!(
                    "the answer's m-line {pos} is not {mid}"
                )));
            }
            let sub = match use_ {
                MidUse::Sub(i) => peer.subs[*i].as_ref(),
                _ => None,
            };
            let Some(sub) = sub else {
                checked.push((pos, None));
                continue;
            };
            if m.is_disabled() || m.direction == tessera_schema::sdp::Direction::Inactive {
                checked.push((pos, None));
                continue;
            }
            let offered =
                sub.answer.codecs.first().ok_or_else(|| {
                    MediaError::BadSdp(format!("no codec offered on m-line {mid}"))
                })?;
            let sm = negotiate::check_subscribe_answer(m, &sub.m, offered)
                .map_err(MediaError::BadSdp)?;
            checked.push((pos, Some(sm)));
        }
        if checked.iter().all(|(_, sm)| sm.is_none()) {
            return Err(MediaError::BadSdp(
                "the answer rejects every m-line of the offer (end the session instead)".into(),
            ));
        }
        let ended: Vec<String> = checked
            .iter()
            .filter(|(_, sm)| sm.is_none())
            .map(|(pos, _)| self.peers[key].mids[*pos].0.clone())
            .collect();
        self.peers[key]
            .t
            .accept_answer(now, &answer)
            .map_err(MediaError::BadSdp)?;
        for (pos, sm) in checked {
            match sm {
                None => self.close_mid(key, pos),
                Some(sm) => {
                    let MidUse::Sub(i) = self.peers[key].mids[pos].1 else {
                        continue;
                    };
                    if let Some(sub) = self.peers[key].subs[i].as_mut() {
                        self.router.set_sink_extensions(
                            sub.sink,
                            sm.ext.mid,
                            sm.ext.abs_send_time,
                            sm.ext.audio_level,
                            sm.ext.video_orientation,
                        );
                        sub.answer.extmaps.retain(|(id, _)| {
                            [
                                sm.ext.mid,
                                sm.ext.abs_send_time,
                                sm.ext.audio_level,
                                sm.ext.video_orientation,
                            ]
                            .contains(&Some(*id))
                        });
                        sub.m = sm;
                    }
                }
            }
        }
        self.learn_candidate_addrs(key);
        self.poll_peer(now, key, tx);
        Ok(ended)
    }

    fn close_mid(&mut self, key: usize, pos: usize) {
        let use_ = std::mem::replace(&mut self.peers[key].mids[pos].1, MidUse::Rejected);
        match use_ {
            MidUse::Pub(i) => {
                if let Some(p) = self.peers[key].pubs[i].take() {
                    self.tracks.remove(&p.track_id);
                    self.sources.remove(&p.source);
                    // Shards this source was relayed to lose it too.
                    let Relays { out, control, .. } = &mut self.relays;
                    out.retain(|relay, (src, to)| {
                        if *src == p.source {
                            control.push((*to, Command::RelayEnd(*relay)));
                            false
                        } else {
                            true
                        }
                    });
                    let gone = self.router.remove_source(p.source);
                    self.detach_sinks(&gone);
                    self.peers[key].routes.retain(|r| r.1 != i);
                }
            }
            MidUse::Sub(i) => {
                if let Some(s) = self.peers[key].subs[i].take() {
                    let source = self.router.sink_source(s.sink);
                    self.router.remove_sink(s.sink);
                    if let Some(src) = source {
                        self.reap_relay(src);
                    }
                }
            }
            MidUse::Rejected => {}
        }
    }

    /// Forgets router sinks that went with their source: the subscriptions stay until the
    /// conference ends them, but their sink keys may be reused by the router meanwhile.
    fn detach_sinks(&mut self, gone: &[SinkKey]) {
        if gone.is_empty() {
            return;
        }
        for (_, p) in self.peers.iter_mut() {
            for s in p.subs.iter_mut().flatten() {
                if gone.contains(&s.sink) {
                    s.sink = DETACHED;
                }
            }
        }
    }

    /// Drops a relayed source once no subscriber of this shard uses it, and tells its shard.
    fn reap_relay(&mut self, source: SourceKey) {
        if self.router.sink_count(source) > 0 {
            return;
        }
        if let Some(relay) = self.relays.inbound_of_source(source) {
            self.end_relay_in(relay, true);
        }
    }

    /// Removes a relayed source (its subscribers' sinks are detached); with `stop`, also
    /// tells its shard to stop sending.
    fn end_relay_in(&mut self, relay: RelayId, stop: bool) {
        let Some(r) = self.relays.inbound.remove(&relay) else {
            return;
        };
        self.relays.by_track.remove(&r.track_id);
        let gone = self.router.remove_source(r.source);
        self.detach_sinks(&gone);
        self.metrics.relays.dec();
        if stop {
            self.relays
                .control
                .push((r.from, Command::RelayStop(relay)));
        }
    }

    /// Adopts the relays an offer needs that this shard lacks, runs the offer, and drops
    /// again any relayed source the offer left without subscribers (it failed).
    fn offer_command(
        &mut self,
        now: Instant,
        req: OfferRequest,
        needs: Vec<RelayNeed>,
        tx: &mut SendBatch,
    ) -> Result<OfferAnswer, MediaError> {
        self.adopt_relays(needs);
        let relayed: Vec<SourceKey> = req
            .subscribe
            .iter()
            .flat_map(|s| s.tracks.iter())
            .filter_map(|t| {
                let base = t.from.split(':').next().unwrap_or(&t.from);
                let id = self.relays.by_track.get(base)?;
                self.relays.inbound.get(id).map(|r| r.source)
            })
            .collect();
        // Only the offer itself runs isolated: relays adopted above are reaped below even if
        // it panicked.
        let id = req.transport_id.clone();
        let r = self.isolated(Target::Id(&id), "an offer", tx, |w, tx| {
            w.on_offer(now, req, tx)
        });
        for src in relayed {
            self.reap_relay(src);
        }
        r
    }

    /// Starts relaying the sources in `needs` this shard does not relay yet.
    fn adopt_relays(&mut self, needs: Vec<RelayNeed>) {
        for need in needs {
            if self.relays.by_track.contains_key(&need.track_id) {
                continue;
            }
            let RelaySpec {
                mut spec,
                format,
                rids,
            } = *need.spec;
            spec.publisher = RELAY_BASE + need.relay as TransportKey;
            spec.relayed = true;
            let source = self.router.add_source(spec);
            self.relays
                .by_track
                .insert(need.track_id.clone(), need.relay);
            self.relays.control.push((
                need.from,
                Command::RelayStart {
                    track_id: need.track_id.clone(),
                    relay: need.relay,
                    to: self.index,
                },
            ));
            self.relays.inbound.insert(
                need.relay,
                RelayIn {
                    source,
                    from: need.from,
                    track_id: need.track_id,
                    format,
                    rids,
                    layers: tessera_sfu::ALL_LAYERS,
                },
            );
            self.metrics.relays.inc();
            tracing::debug!(target: "tessera::node", shard = self.index, from = need.from, relay = need.relay, "relaying a source from another shard");
        }
    }

    /// The simulcast rids of a published track on this shard, or of one relayed here.
    fn rids_of_track(&self, track_id: &str) -> Option<&[String]> {
        match self.tracks.get(track_id) {
            Some(&(peer, idx)) => Some(&self.peers.get(peer)?.pubs.get(idx)?.as_ref()?.m.rids),
            None => self
                .relays
                .by_track
                .get(track_id)
                .and_then(|id| self.relays.inbound.get(id))
                .map(|r| r.rids.as_slice()),
        }
    }

    /// The source of a published track on this shard, or of one relayed here.
    fn source_of_track(&self, track_id: &str) -> Option<SourceKey> {
        match self.tracks.get(track_id) {
            Some(&(peer, idx)) => self
                .peers
                .get(peer)?
                .pubs
                .get(idx)?
                .as_ref()
                .map(|p| p.source),
            None => self
                .relays
                .by_track
                .get(track_id)
                .and_then(|id| self.relays.inbound.get(id))
                .map(|r| r.source),
        }
    }

    /// [`Command::SwitchSource`]: moves the session's sinks of `kind` to the source of
    /// `track_id` (`<trackId>` or `<trackId>:<rid>`, which fixes the simulcast layer).
    fn switch_source(
        &mut self,
        now: Instant,
        transport: &str,
        session: &str,
        kind: TrackKind,
        track_id: &str,
        needs: Vec<RelayNeed>,
    ) -> Result<(), MediaError> {
        self.adopt_relays(needs);
        let (base, rid) = match track_id.split_once(':') {
            Some((b, r)) => (b, Some(r)),
            None => (track_id, None),
        };
        let new = self.source_of_track(base);
        let layer = match rid {
            None => Ok(None),
            Some(r) => self
                .rids_of_track(base)
                .and_then(|rids| rids.iter().position(|x| x == r))
                .map(|i| Some(i as u8))
                .ok_or_else(|| MediaError::NoSource(track_id.into())),
        };
        let mut old = Vec::new();
        let r = (|| {
            let key = *self
                .by_id
                .get(transport)
                .ok_or_else(|| MediaError::NoTransport(transport.into()))?;
            let to = new.ok_or_else(|| MediaError::NoSource(track_id.into()))?;
            let layer = layer?;
            let peer = &mut self.peers[key];
            let mine =
                |sub: &Sub| sub.session == session && sub.m.kind == kind && sub.sink != DETACHED;
            // All of the session's m-lines of this kind move, or none.
            let mut any = false;
            for sub in peer.subs.iter().flatten().filter(|s| mine(s)) {
                if !self.router.can_feed(sub.sink, to) {
                    return Err(MediaError::NoCodec(kind.as_str().into()));
                }
                any = true;
            }
            if !any {
                return Err(MediaError::NoSource(format!(
                    "{session} has no live {} m-line",
                    kind.as_str()
                )));
            }
            let choice = layer.map_or(LayerChoice::Auto, LayerChoice::Fixed);
            for sub in peer.subs.iter_mut().flatten().filter(|s| mine(s)) {
                old.extend(self.router.sink_source(sub.sink));
                self.router.move_sink(now, sub.sink, to);
                self.router.set_sink_layer(now, sub.sink, choice);
                sub.from = track_id.to_string();
            }
            Ok(())
        })();
        // Relays no sink uses any more end: the ones the sinks left, and one adopted for a
        // switch that failed.
        for src in old.into_iter().chain(new) {
            self.reap_relay(src);
        }
        r
    }

    /// Reports published video tracks (`<trackId>:<rid>` for a simulcast layer) whose picture
    /// size, from their key frames, changed.
    fn report_resolutions(&mut self, now: Instant) {
        self.router.take_resolution_changes(now, &mut self.resized);
        for (source, layer, (w, h)) in std::mem::take(&mut self.resized) {
            let Some(p) = self
                .sources
                .get(&source)
                .and_then(|&(peer, idx)| self.peers.get(peer)?.pubs.get(idx)?.as_ref())
            else {
                continue;
            };
            let track_id = match p.m.rids.get(usize::from(layer)) {
                Some(rid) => format!("{}:{rid}", p.track_id),
                None => p.track_id.clone(),
            };
            tracing::debug!(target: "tessera::node", shard = self.index, track = %track_id, width = w, height = h, "video resolution");
            self.emit(MediaEvent::VideoResolution {
                track_id,
                width: u32::from(w),
                height: u32::from(h),
            });
        }
    }

    /// Tells source shards which layers of a relayed simulcast source this shard's subscribers
    /// need, when that changed, so that the others are not relayed.
    fn ask_relayed_layers(&mut self) {
        let mut changed = std::mem::take(&mut self.relays.wanted_changed);
        self.router.take_wanted_changed(&mut changed);
        for source in changed.drain(..) {
            let Some(relay) = self.relays.inbound_of_source(source) else {
                continue;
            };
            let layers = self.router.wanted_layers(source);
            let r = self.relays.inbound.get_mut(&relay).expect("found above");
            if r.layers != layers {
                r.layers = layers;
                self.relays
                    .control
                    .push((r.from, Command::RelayLayers { relay, layers }));
            }
        }
        self.relays.wanted_changed = changed;
    }

    /// Sends the wake-up's relayed packets and relay control messages to their shards.
    fn flush_relays(&mut self) {
        if self.relays.control.is_empty() && self.relays.outbox.iter().all(Option::is_none) {
            return;
        }
        let Some(shards) = self.relays.shards.get() else {
            self.relays.control.clear();
            self.relays.outbox.iter_mut().for_each(|b| *b = None);
            return;
        };
        for (to, b) in self.relays.outbox.iter_mut().enumerate() {
            if let Some(batch) = b.take() {
                let n = batch.packets.len() as u64;
                let Some(h) = shards.get(to) else { continue };
                // A target shard that falls this far behind gets no more media until it
                // catches up: its queue (and the memory it holds) stays bounded.
                if h.queued() >= RELAY_BACKLOG {
                    self.metrics.drop_n(DropReason::RelayBacklog, n);
                    batch.recycle();
                    continue;
                }
                if h.send(Command::RelayRtp(batch)).is_ok() {
                    self.metrics.relayed.inc_by(n);
                }
            }
        }
        for (to, cmd) in self.relays.control.drain(..) {
            if let Some(h) = shards.get(to) {
                let _ = h.send(cmd);
            }
        }
    }

    /// Routes datagrams from the peer's candidate addresses to it, where no other transport
    /// claims them. The server runs full ICE and checks those addresses itself: their
    /// answers may come before the peer's own first binding request, and dropping them as
    /// unknown made str0m wait for a later check, and refuse the peer's DTLS ClientHello
    /// meanwhile (no succeeded pair yet): aiortc then connected a second late. A binding
    /// request naming another transport's ufrag still moves the address to that transport.
    fn learn_candidate_addrs(&mut self, key: usize) {
        for a in self.peers[key].t.remote_candidate_addrs() {
            self.by_addr.entry(*a).or_insert(key);
        }
    }

    /// Runs `f`, work for one transport that carries what its peer sent (an SDP, a candidate)
    /// or that a peer's state drives (its timers). A panic there must not take the shard and
    /// every other session on it down: as for a datagram that panics a handler, the transport
    /// ends (`TransportFailed`, "Internal error", if it exists by then), `panics` counts it,
    /// and the command fails with [`MediaError::Internal`]. Nothing is allocated unless `f`
    /// panics (timers run through here).
    fn isolated<T>(
        &mut self,
        target: Target<'_>,
        what: &'static str,
        tx: &mut SendBatch,
        f: impl FnOnce(&mut Self, &mut SendBatch) -> Result<T, MediaError>,
    ) -> Result<T, MediaError> {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self, tx)));
        r.unwrap_or_else(|_| {
            self.metrics.panics.inc();
            let key = match target {
                Target::Id(id) => self.by_id.get(id).copied(),
                Target::Key(k) => self.peers.contains(k).then_some(k),
            };
            let id = match (target, key) {
                (Target::Id(id), _) => id.to_string(),
                (_, Some(k)) => self.peers[k].t.id.clone(),
                (_, None) => String::new(),
            };
            tracing::error!(target: "tessera::rt", shard = self.index, transport = %id, what, "handling {what} panicked; closing that transport");
            if let Some(k) = key {
                self.remove_peer_as(
                    k,
                    tx,
                    Some(MediaEvent::TransportFailed {
                        transport_id: id,
                        reason: "Internal error".into(),
                    }),
                    false,
                );
            }
            Err(MediaError::Internal(format!("handling {what} failed")))
        })
    }

    /// Ends transport `key`: its sessions, its table entries, then its DTLS/ICE (str0m sends
    /// the close alert); `event` goes to the conference.
    fn remove_peer(&mut self, key: usize, tx: &mut SendBatch, event: Option<MediaEvent>) {
        self.remove_peer_as(key, tx, event, true);
    }

    /// As [`ShardWorker::remove_peer`]; `graceful = false` after a panic in the transport's
    /// own handling: str0m is not called again (its state may be what panicked), the
    /// transport is only marked closed.
    fn remove_peer_as(
        &mut self,
        key: usize,
        tx: &mut SendBatch,
        event: Option<MediaEvent>,
        graceful: bool,
    ) {
        self.peer_deadline_stale = true;
        let n = self.peers[key].mids.len();
        for pos in 0..n {
            self.close_mid(key, pos);
        }
        let mut peer = self.peers.remove(key);
        // The tables first: whatever happens in the close below, nothing points at the slot.
        self.by_id.remove(&peer.t.id);
        self.by_ufrag.remove(peer.t.ufrag());
        self.by_addr.retain(|_, v| *v != key);
        self.router.forget_transport(key);
        self.metrics.transports.dec();
        if graceful {
            // The close runs str0m once more (the DTLS close alert): it must not take the
            // shard down either.
            let closed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                peer.t.close(Instant::now(), &mut Sink(tx));
            }));
            if closed.is_err() {
                self.metrics.panics.inc();
                peer.t.abandon();
                tracing::error!(target: "tessera::rt", shard = self.index, transport = %peer.t.id, "closing a transport panicked");
            }
        } else {
            peer.t.abandon();
        }
        if let Some(e) = event {
            self.emit(e);
        }
    }

    fn poll_peer(&mut self, now: Instant, key: usize, tx: &mut SendBatch) {
        self.peer_deadline_stale = true;
        let mut events = std::mem::take(&mut self.scratch);
        events.clear();
        if let Some(p) = self.peers.get_mut(key) {
            p.t.poll(now, &mut Sink(tx), &mut events);
        }
        for e in events.drain(..) {
            match e {
                TransportEvent::Connected => {
                    let id = self.peers[key].t.id.clone();
                    self.peers[key].ready_sent = true;
                    self.emit(MediaEvent::TransportReady { transport_id: id });
                    // Subscribers need a key frame now that they can receive one.
                    let sinks: Vec<SinkKey> = self.peers[key]
                        .subs
                        .iter()
                        .flatten()
                        .map(|s| s.sink)
                        .collect();
                    for s in sinks {
                        self.router.on_sink_keyframe_request(now, s);
                    }
                }
                TransportEvent::ConsentCheckSent => {
                    self.metrics.consent_checks.inc();
                }
                TransportEvent::Failed(reason) => {
                    let id = self.peers[key].t.id.clone();
                    self.remove_peer(
                        key,
                        tx,
                        Some(MediaEvent::TransportFailed {
                            transport_id: id,
                            reason,
                        }),
                    );
                    break;
                }
            }
        }
        self.scratch = events;
    }

    fn on_rtcp(
        &mut self,
        now: Instant,
        key: usize,
        data: &[u8],
        tx: &mut SendBatch,
    ) -> Result<(), DropReason> {
        RtcpCompound::validate(data).map_err(|_| DropReason::MalformedRtcp)?;
        for pkt in RtcpCompound::new(data) {
            let Ok(pkt) = pkt else {
                return Err(DropReason::MalformedRtcp);
            };
            match pkt {
                RtcpPacket::SenderReport(sr) => {
                    let ssrc = sr.sender_ssrc();
                    if let Some(&(_, p, l)) = self.peers[key].routes.iter().find(|r| r.0 == ssrc)
                        && let Some(pb) = self.peers[key].pubs[p].as_ref()
                    {
                        let info = sr.sender_info();
                        self.router.on_sender_report(
                            now,
                            pb.source,
                            l,
                            info.ntp_timestamp,
                            info.rtp_timestamp,
                        );
                        let Relays { out, control, .. } = &mut self.relays;
                        for (relay, (src, to)) in out.iter() {
                            if *src == pb.source {
                                control.push((
                                    *to,
                                    Command::RelaySr {
                                        relay: *relay,
                                        layer: l,
                                        ntp: info.ntp_timestamp,
                                        rtp: info.rtp_timestamp,
                                    },
                                ));
                            }
                        }
                    }
                }
                RtcpPacket::Nack(n) => {
                    if let Some(sink) = self.sink_by_ssrc(key, n.media_ssrc) {
                        let lost: Vec<u16> = n.lost_sequence_numbers().collect();
                        let mut out = OutCtx {
                            peers: &mut self.peers,
                            tx,
                            relays: &mut self.relays,
                            sent: 0,
                        };
                        self.router.on_sink_nack(now, sink, &lost, &mut out);
                        self.metrics.rtp_out.inc_by(out.sent);
                    }
                }
                RtcpPacket::Pli(p) => {
                    if let Some(sink) = self.sink_by_ssrc(key, p.media_ssrc) {
                        self.router.on_sink_keyframe_request(now, sink);
                    }
                }
                RtcpPacket::Fir(f) => {
                    for e in f.entries() {
                        if let Some(sink) = self.sink_by_ssrc(key, e.ssrc) {
                            self.router.on_sink_keyframe_request(now, sink);
                        }
                    }
                }
                RtcpPacket::Remb(r) => self.router.set_estimate(key, r.bitrate),
                _ => {}
            }
        }
        Ok(())
    }

    fn sink_by_ssrc(&self, key: usize, ssrc: u32) -> Option<SinkKey> {
        self.peers
            .get(key)?
            .subs
            .iter()
            .flatten()
            .find(|s| s.m.ssrc == ssrc)
            .map(|s| s.sink)
    }

    fn flush_twcc(&mut self, now: Instant, tx: &mut SendBatch) {
        for (_, p) in self.peers.iter_mut() {
            if now < p.next_twcc {
                continue;
            }
            p.next_twcc = now + TWCC_INTERVAL;
            if p.twcc.is_empty() || !p.t.can_send() {
                p.twcc.clear();
                continue;
            }
            p.twcc.sort_by_key(|(s, _)| *s);
            let mut start = 0;
            while start < p.twcc.len() {
                let count = p.twcc_count;
                let media = p.twcc_media_ssrc;
                let me = p.t.local_ssrc;
                let slice = &p.twcc[start..];
                let mut consumed = 0;
                p.t.send_rtcp(
                    &mut Sink(tx),
                    &mut |buf: &mut [u8]| match rtcp::write_transport_cc(
                        me,
                        media,
                        count,
                        slice,
                        &mut buf[..1200],
                    ) {
                        Ok(w) => {
                            consumed = w.consumed;
                            w.len
                        }
                        Err(_) => 0,
                    },
                );
                p.twcc_count = p.twcc_count.wrapping_add(1);
                if consumed == 0 {
                    break;
                }
                start += consumed;
            }
            p.twcc.clear();
        }
    }

    fn recompute_deadline(&mut self) {
        if std::mem::take(&mut self.peer_deadline_stale) {
            self.peer_deadline = self
                .peers
                .iter()
                .flat_map(|(_, p)| {
                    let twcc = (!p.twcc.is_empty()).then_some(p.next_twcc);
                    p.t.next_timeout().into_iter().chain(twcc)
                })
                .min();
        }
        let d = self.router.poll_timeout();
        self.next_deadline = Some(self.peer_deadline.map_or(d, |p| p.min(d)));
    }

    /// What [`Command::Stats`] answers for the transport at `key`.
    fn transport_stats(&self, key: usize) -> TransportStats {
        let peer = &self.peers[key];
        let state = match peer.t.state() {
            TransportState::Connecting => "connecting",
            TransportState::Connected => "connected",
            TransportState::Failed => "failed",
            TransportState::Closed => "closed",
        };
        let mut tracks = Vec::new();
        for (mid, used) in &peer.mids {
            match used {
                MidUse::Pub(i) => {
                    let Some(p) = peer.pubs[*i].as_ref() else {
                        continue;
                    };
                    let (muted, counters) = self
                        .router
                        .source_counters(p.source)
                        .unwrap_or((false, Vec::new()));
                    let rate = f64::from(p.m.clock_rate.max(1));
                    let layers: Vec<LayerStats> = counters
                        .iter()
                        .enumerate()
                        .map(|(i, c)| LayerStats {
                            rid: p.m.rids.get(i).cloned(),
                            ssrc: c.ssrc,
                            packets: c.packets,
                            bytes: c.octets,
                            lost: c.lost,
                            jitter_ms: c.jitter * 1000.0 / rate,
                            bitrate: c.bitrate,
                        })
                        .collect();
                    tracks.push(TrackStats {
                        mid: mid.clone(),
                        session_id: p.session.clone(),
                        kind: p.m.kind,
                        direction: TrackDirection::Publish,
                        track_id: Some(p.track_id.clone()),
                        packets: layers.iter().map(|l| l.packets).sum(),
                        bytes: layers.iter().map(|l| l.bytes).sum(),
                        active: !muted,
                        layers,
                        layer: None,
                    });
                }
                MidUse::Sub(i) => {
                    let Some(sub) = peer.subs[*i].as_ref() else {
                        continue;
                    };
                    let c = (sub.sink != DETACHED)
                        .then(|| self.router.sink_counters(sub.sink))
                        .flatten();
                    tracks.push(TrackStats {
                        mid: mid.clone(),
                        session_id: sub.session.clone(),
                        kind: sub.m.kind,
                        direction: TrackDirection::Subscribe,
                        track_id: c.is_some().then(|| sub.from.clone()),
                        packets: c.map_or(0, |c| c.packets),
                        bytes: c.map_or(0, |c| c.octets),
                        active: c.is_some_and(|c| !c.paused),
                        layers: Vec::new(),
                        layer: c.and_then(|c| c.layer),
                    });
                }
                MidUse::Rejected => {}
            }
        }
        TransportStats {
            transport_id: peer.t.id.clone(),
            state: state.into(),
            remote_address: peer.t.remote().map(|a| a.to_string()),
            tracks,
        }
    }

    fn find_pub(&self, track_id: &str) -> Option<SourceKey> {
        let (peer, idx) = self.tracks.get(track_id)?;
        self.peers
            .get(*peer)?
            .pubs
            .get(*idx)?
            .as_ref()
            .map(|p| p.source)
    }
}

impl Worker for ShardWorker {
    type Command = Command;

    fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &mut [u8],
        tx: &mut SendBatch,
    ) {
        self.metrics.datagrams_in.inc();
        let class = demux::classify(data);
        if class == Class::Unknown {
            self.metrics.drop(DropReason::UnknownProtocol);
            return;
        }
        // A binding request names its transport (our ufrag first in USERNAME): that wins over
        // what the address was last used for (an address another transport's offer claimed).
        // Everything else is routed by address. The address is bound to the named transport
        // only once str0m accepts the request (MESSAGE-INTEGRITY checked): forged requests
        // must not grow the table or steer later datagrams.
        let named = (class == Class::Stun)
            .then(|| demux::binding_request_username(data))
            .flatten()
            .and_then(|u| self.by_ufrag.get(demux::local_ufrag(u)).copied());
        let (key, new_addr) = match (named, self.by_addr.get(&from).copied()) {
            (Some(k), known) => (k, known != Some(k)),
            (None, Some(k)) => (k, false),
            (None, None) => {
                self.metrics.drop(DropReason::UnknownSource);
                return;
            }
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
            || -> Result<(), DropReason> {
                match class {
                    Class::Stun | Class::Dtls => {
                        let handled = self.peers[key]
                            .t
                            .handle_stun_dtls(now, from, data, &mut Sink(tx))
                            .map_err(|d| match d {
                                tessera_webrtc::Drop::AwaitingAnswer => DropReason::AwaitingAnswer,
                                _ => DropReason::StunDtlsRejected,
                            })?;
                        if new_addr {
                            self.by_addr.insert(from, key);
                        }
                        match handled {
                            Handled::Str0m => self.poll_peer(now, key, tx),
                            Handled::Answered => {
                                self.metrics.ice_requests_answered.inc();
                            }
                            Handled::ConsentConfirmed => {
                                self.metrics.consent_confirmed.inc();
                            }
                            Handled::KeepAlive => {
                                self.metrics.ice_keepalives.inc();
                            }
                        }
                        Ok(())
                    }
                    Class::Rtp | Class::Rtcp => {
                        let rtcp = class == Class::Rtcp;
                        let n = self.peers[key].t.unprotect(now, from, data, rtcp).map_err(
                            |d| match d {
                                tessera_webrtc::Drop::NoKeys => DropReason::SrtpBeforeKeys,
                                tessera_webrtc::Drop::SrtpAuth => DropReason::SrtpAuthFailed,
                                tessera_webrtc::Drop::SrtpReplay => DropReason::SrtpReplayed,
                                _ => DropReason::SrtpMalformed,
                            },
                        )?;
                        let plain = &data[..n];
                        if rtcp {
                            self.on_rtcp(now, key, plain, tx)
                        } else {
                            let hdr =
                                RtpHeader::parse(plain).map_err(|_| DropReason::MalformedRtp)?;
                            let peer = &mut self.peers[key];
                            let (idx, layer) = peer.route(&hdr).ok_or(DropReason::UnroutedRtp)?;
                            let p = peer.pubs[idx].as_ref().ok_or(DropReason::UnroutedRtp)?;
                            if let Some(id) = p.m.ext.transport_cc
                                && p.m.fb.transport_cc
                                && let Some(seq) = hdr
                                    .extension(id)
                                    .and_then(|v| tessera_rtp::ext::parse_transport_cc(v).ok())
                            {
                                if peer.twcc.is_empty() {
                                    // Feedback is now due at `next_twcc`.
                                    self.peer_deadline = Some(
                                        self.peer_deadline
                                            .map_or(peer.next_twcc, |d| d.min(peer.next_twcc)),
                                    );
                                }
                                if peer.twcc.len() < peer.twcc.capacity() {
                                    peer.twcc.push((
                                        seq,
                                        now.saturating_duration_since(self.epoch).as_micros()
                                            as i64,
                                    ));
                                }
                                peer.twcc_media_ssrc = hdr.ssrc();
                            }
                            let source = p.source;
                            self.metrics.rtp_in.inc();
                            let mut out = OutCtx {
                                peers: &mut self.peers,
                                tx,
                                relays: &mut self.relays,
                                sent: 0,
                            };
                            self.router.on_rtp(now, source, layer, &hdr, &mut out);
                            self.metrics.rtp_out.inc_by(out.sent);
                            Ok(())
                        }
                    }
                    Class::Unknown => Ok(()),
                }
            },
        ));
        match result {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => self.metrics.drop(reason),
            Err(_) => {
                self.metrics.drop(DropReason::SessionPanic);
                self.metrics.panics.inc();
                tracing::error!(target: "tessera::rt", shard = self.index, "a session handler panicked; closing that transport");
                if self.peers.contains(key) {
                    let id = self.peers[key].t.id.clone();
                    self.remove_peer_as(
                        key,
                        tx,
                        Some(MediaEvent::TransportFailed {
                            transport_id: id,
                            reason: "Internal error".into(),
                        }),
                        false,
                    );
                }
            }
        }
    }

    fn handle_command(&mut self, now: Instant, cmd: Command, tx: &mut SendBatch) {
        // Control commands are rare and may add a transport or move its timers; the relayed
        // media and its reports arrive with every batch and only reach the router, whose
        // timeout is read at every wake-up anyway.
        if !matches!(
            cmd,
            Command::RelayRtp(_)
                | Command::RelaySr { .. }
                | Command::RelayKeyframe { .. }
                | Command::RelayLayers { .. }
                | Command::RelayRates { .. }
        ) {
            self.peer_deadline_stale = true;
        }
        match cmd {
            Command::Offer(req, reply) => {
                let r = self.offer_command(now, *req, Vec::new(), tx);
                let _ = reply.send(r);
            }
            Command::OfferWithRelays(req, needs, reply) => {
                let r = self.offer_command(now, *req, needs, tx);
                let _ = reply.send(r);
            }
            Command::RelayDescribe(track_id, reply) => {
                let r = self
                    .tracks
                    .get(&track_id)
                    .and_then(|&(peer, idx)| self.peers.get(peer)?.pubs.get(idx)?.as_ref())
                    .and_then(|p| {
                        let spec = self.router.source_spec(p.source)?.clone();
                        Some(Box::new(RelaySpec {
                            spec,
                            format: p.m.format.clone(),
                            rids: p.m.rids.clone(),
                        }))
                    })
                    .ok_or(MediaError::NoSource(track_id));
                let _ = reply.send(r);
            }
            Command::RelayStart {
                track_id,
                relay,
                to,
            } => match self.find_pub(&track_id) {
                Some(source) if self.router.add_relay(source, relay) => {
                    self.relays.out.insert(relay, (source, to));
                    // The target's subscribers need the publisher's clock mapping now, not at
                    // its next sender report.
                    for layer in 0..self.router.layer_count(source) {
                        if let Some((ntp, rtp)) = self.router.sender_report_of(source, layer) {
                            self.relays.control.push((
                                to,
                                Command::RelaySr {
                                    relay,
                                    layer,
                                    ntp,
                                    rtp,
                                },
                            ));
                        }
                    }
                }
                _ => self.relays.control.push((to, Command::RelayEnd(relay))),
            },
            Command::RelayRtp(batch) => {
                let mut failed: Option<RelayId> = None;
                {
                    let mut out = OutCtx {
                        peers: &mut self.peers,
                        tx,
                        relays: &mut self.relays,
                        sent: 0,
                    };
                    for &(relay, layer, off, len) in &batch.packets {
                        let Some(source) = out.relays.inbound.get(&relay).map(|r| r.source) else {
                            self.metrics.drop(DropReason::RelayGone);
                            continue;
                        };
                        let data = batch
                            .bytes
                            .get(off as usize..(off as usize).saturating_add(len as usize));
                        let Some(hdr) = data.and_then(|d| RtpHeader::parse(d).ok()) else {
                            self.metrics.drop(DropReason::MalformedRtp);
                            continue;
                        };
                        let router = &mut self.router;
                        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            router.on_rtp(now, source, layer, &hdr, &mut out);
                        }))
                        .is_ok();
                        if !ok {
                            failed = Some(relay);
                            break;
                        }
                    }
                    self.metrics.rtp_out.inc_by(out.sent);
                }
                if let Some(relay) = failed {
                    // As for a publisher whose packet panics a handler: that source ends here.
                    self.metrics.drop(DropReason::SessionPanic);
                    self.metrics.panics.inc();
                    tracing::error!(target: "tessera::rt", shard = self.index, relay, "forwarding a relayed packet panicked; dropping that relay");
                    self.end_relay_in(relay, true);
                }
                batch.recycle();
            }
            Command::RelaySr {
                relay,
                layer,
                ntp,
                rtp,
            } => {
                if let Some(r) = self.relays.inbound.get(&relay) {
                    self.router.on_sender_report(now, r.source, layer, ntp, rtp);
                }
            }
            Command::RelayKeyframe { relay, ssrc } => {
                if let Some(&(source, _)) = self.relays.out.get(&relay)
                    && let Some(layer) = self.router.layer_of_ssrc(source, ssrc)
                {
                    self.router.request_keyframe(now, source, layer);
                }
            }
            Command::RelayRates { relay, rates, live } => {
                if let Some(r) = self.relays.inbound.get(&relay) {
                    self.router.set_relayed_rates(now, r.source, rates, live);
                }
            }
            Command::RelayLayers { relay, layers } => {
                if let Some(&(source, _)) = self.relays.out.get(&relay) {
                    self.router.set_relay_layers(source, relay, layers);
                }
            }
            Command::RelayStop(relay) => {
                if let Some((source, _)) = self.relays.out.remove(&relay) {
                    self.router.remove_relay(source, relay);
                }
            }
            Command::RelayEnd(relay) => self.end_relay_in(relay, false),
            Command::Answer(t, sdp, reply) => {
                let r = self.isolated(Target::Id(&t), "an answer", tx, |w, tx| {
                    w.on_answer(now, &t, &sdp, tx)
                });
                let _ = reply.send(r);
            }
            Command::Candidate(t, c, reply) => {
                let r = self.isolated(Target::Id(&t), "a candidate", tx, |w, _| {
                    match w.by_id.get(&t).copied() {
                        Some(k) => {
                            let r = w.peers[k]
                                .t
                                .add_remote_candidate(&c)
                                .map_err(MediaError::BadSdp);
                            w.learn_candidate_addrs(k);
                            r
                        }
                        None => Err(MediaError::NoTransport(t.clone())),
                    }
                });
                let _ = reply.send(r);
            }
            Command::EndSession(t, session, reply) => {
                let r = match self.by_id.get(&t).copied() {
                    Some(k) => {
                        let n = self.peers[k].mids.len();
                        for pos in 0..n {
                            let belongs = match &self.peers[k].mids[pos].1 {
                                MidUse::Pub(i) => self.peers[k].pubs[*i]
                                    .as_ref()
                                    .is_some_and(|p| p.session == session),
                                MidUse::Sub(i) => self.peers[k].subs[*i]
                                    .as_ref()
                                    .is_some_and(|s| s.session == session),
                                MidUse::Rejected => false,
                            };
                            if belongs {
                                self.close_mid(k, pos);
                            }
                        }
                        Ok(())
                    }
                    None => Err(MediaError::NoTransport(t)),
                };
                let _ = reply.send(r);
            }
            Command::Close(t, reply) => {
                let r = match self.by_id.get(&t).copied() {
                    Some(k) => {
                        self.remove_peer(
                            k,
                            tx,
                            Some(MediaEvent::TransportClosed { transport_id: t }),
                        );
                        Ok(())
                    }
                    None => Err(MediaError::NoTransport(t)),
                };
                let _ = reply.send(r);
            }
            Command::SwitchSource {
                transport,
                session,
                kind,
                track_id,
                needs,
                reply,
            } => {
                let r = self.switch_source(now, &transport, &session, kind, &track_id, needs);
                let _ = reply.send(r);
            }
            Command::Stats(t, reply) => {
                let r = match self.by_id.get(&t).copied() {
                    Some(k) => Ok(self.transport_stats(k)),
                    None => Err(MediaError::NoTransport(t)),
                };
                let _ = reply.send(r);
            }
            Command::TrackActive(track, active, reply) => {
                let r = match self.find_pub(&track) {
                    Some(src) => {
                        self.router.set_source_muted(src, !active);
                        Ok(())
                    }
                    None => Err(MediaError::NoSource(track)),
                };
                let _ = reply.send(r);
            }
            Command::SubscriptionActive(t, session, kind, active, reply) => {
                let r = match self.by_id.get(&t).copied() {
                    Some(k) => {
                        let sinks: Vec<SinkKey> = self.peers[k]
                            .subs
                            .iter()
                            .flatten()
                            .filter(|s| {
                                s.session == session && kind.is_none_or(|kd| kd == s.m.kind)
                            })
                            .map(|s| s.sink)
                            .collect();
                        for s in sinks {
                            self.router.set_sink_paused(s, !active);
                            if active {
                                self.router.on_sink_keyframe_request(now, s);
                            }
                        }
                        Ok(())
                    }
                    None => Err(MediaError::NoTransport(t)),
                };
                let _ = reply.send(r);
            }
        }
    }

    fn handle_timeout(&mut self, now: Instant, tx: &mut SendBatch) {
        // A wake-up at a stale (too early) deadline recomputes it, so it happens once.
        self.peer_deadline_stale = true;
        {
            let mut out = OutCtx {
                peers: &mut self.peers,
                tx,
                relays: &mut self.relays,
                sent: 0,
            };
            self.router.poll(now, &mut out);
            self.metrics.rtp_out.inc_by(out.sent);
        }
        let mut due = std::mem::take(&mut self.due);
        due.clear();
        due.extend(
            self.peers
                .iter()
                .filter(|(_, p)| p.t.next_timeout().is_some_and(|t| t <= now))
                .map(|(k, _)| k),
        );
        for &k in &due {
            if self.peers.contains(k) {
                let _ = self.isolated(Target::Key(k), "a timer", tx, |w, tx| {
                    w.poll_peer(now, k, tx);
                    Ok(())
                });
            }
        }
        self.due = due;
        self.flush_twcc(now, tx);
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.next_deadline
    }

    fn end_of_wakeup(&mut self, now: Instant, tx: &mut SendBatch) {
        self.report_resolutions(now);
        self.ask_relayed_layers();
        self.flush_relays();
        self.recompute_deadline();
        let (sent, _) = tx.counters();
        let queued = tx.queued() as u64;
        self.metrics
            .datagrams_out
            .inc_by((sent + queued).saturating_sub(self.sent_before));
        self.sent_before = sent + queued;
        let (_, gso) = tx.gso_counters();
        if gso != self.gso_before {
            self.metrics.gso_datagrams.inc_by(gso - self.gso_before);
            self.gso_before = gso;
        }
        let (now_stats, before) = (self.router.stats(), self.router_before);
        let m = &self.metrics;
        for (counter, now, then) in [
            (
                &m.retransmitted,
                now_stats.retransmitted,
                before.retransmitted,
            ),
            (&m.nack_misses, now_stats.nack_misses, before.nack_misses),
            (
                &m.keyframe_requests,
                now_stats.keyframe_requests,
                before.keyframe_requests,
            ),
            (
                &m.layer_changes,
                now_stats.layer_changes,
                before.layer_changes,
            ),
            (&m.layer_tries, now_stats.layer_tries, before.layer_tries),
            (
                &m.layer_tries_kept,
                now_stats.layer_tries_kept,
                before.layer_tries_kept,
            ),
        ] {
            if now != then {
                counter.inc_by(now - then);
            }
        }
        self.router_before = now_stats;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT: &str = "127.0.0.2:46672";

    fn offer(ufrag: &str, candidate_port: u16) -> String {
        format!(
            "v=0\r\no=- 1 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n\
             m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\n\
             a=rtcp-mux\r\na=setup:actpass\r\na=ice-ufrag:{ufrag}\r\n\
             a=ice-pwd:hVVhVzC0wixK4SaH7SNSkOCsFnueHwaU\r\n\
             a=fingerprint:sha-256 EF:5D:4A:AF:AD:17:F6:DD:C1:E9:CD:73:E0:8F:9E:A6:D3:55:02:61:\
             AE:CF:33:BB:FF:0B:31:E7:16:19:0B:B6\r\na=rtpmap:111 opus/48000/2\r\n\
             a=candidate:1 1 UDP 2015363327 127.0.0.2 {candidate_port} typ host\r\n"
        )
    }

    fn worker() -> ShardWorker {
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        ShardWorker::new(
            0,
            local,
            vec![local],
            broadcast::channel(16).0,
            NodeMetrics::default(),
        )
    }

    fn add_transport(w: &mut ShardWorker, id: &str, sdp: String, tx: &mut SendBatch) -> usize {
        let (reply, mut answer) = oneshot::channel();
        let req = OfferRequest {
            transport_id: id.into(),
            room_id: "room".into(),
            owner: "owner".into(),
            sdp,
            publish: Vec::new(),
            subscribe: Vec::new(),
        };
        w.handle_command(Instant::now(), Command::Offer(Box::new(req), reply), tx);
        answer.try_recv().unwrap().expect("offer answered");
        w.by_id[id]
    }

    /// Work for one transport that panics closes that transport only: its event says why,
    /// `panics` counts it, the caller gets `Internal`, and the shard goes on serving the
    /// others. (No known input panics, so a closure stands in for the handler here; the
    /// offer, answer, candidate and timer paths all run through `isolated`.)
    #[test]
    fn a_panic_handling_one_transports_input_closes_only_that_transport() {
        let mut w = worker();
        let mut events = w.events.subscribe();
        let mut tx = SendBatch::detached();
        add_transport(&mut w, "a", offer("ufraga", 40001), &mut tx);
        add_transport(&mut w, "b", offer("ufragb", 40002), &mut tx);
        let r: Result<(), MediaError> = w.isolated(Target::Id("a"), "an offer", &mut tx, |_, _| {
            panic!("a parser bug")
        });
        assert_eq!(
            r,
            Err(MediaError::Internal("handling an offer failed".into()))
        );
        assert!(!w.by_id.contains_key("a") && w.by_id.contains_key("b"));
        assert_eq!(w.peers.len(), 1);
        assert_eq!(w.metrics.panics.get(), 1);
        assert_eq!(
            events.try_recv().unwrap(),
            MediaEvent::TransportFailed {
                transport_id: "a".into(),
                reason: "Internal error".into()
            }
        );
        // A new transport whose first offer panicked before it existed: nothing to close.
        let r: Result<(), MediaError> =
            w.isolated(Target::Id("new"), "an offer", &mut tx, |_, _| {
                panic!("early")
            });
        assert!(matches!(r, Err(MediaError::Internal(_))));
        assert_eq!((w.peers.len(), w.metrics.panics.get()), (1, 2));
        // A transport's timer work, found by key.
        let kc = add_transport(&mut w, "c", offer("ufragc", 40003), &mut tx);
        let r: Result<(), MediaError> = w.isolated(Target::Key(kc), "a timer", &mut tx, |_, _| {
            panic!("in a timer")
        });
        assert!(matches!(r, Err(MediaError::Internal(_))));
        assert!(!w.by_id.contains_key("c") && w.by_id.contains_key("b"));
        assert_eq!(
            events.try_recv().unwrap(),
            MediaEvent::TransportFailed {
                transport_id: "c".into(),
                reason: "Internal error".into()
            }
        );
        // The shard keeps working: b takes a candidate.
        let (reply, mut rx) = oneshot::channel();
        let c = "candidate:1 1 udp 2130706431 127.0.0.3 5000 typ host".to_string();
        w.handle_command(
            Instant::now(),
            Command::Candidate("b".into(), c, reply),
            &mut tx,
        );
        assert_eq!(rx.try_recv().unwrap(), Ok(()));
    }

    /// What a transport whose handling panicked is left as: closed without str0m running
    /// again (no timers, and a later close does nothing).
    #[test]
    fn an_abandoned_transport_is_closed_without_running_str0m() {
        let mut w = worker();
        let mut tx = SendBatch::detached();
        let k = add_transport(&mut w, "a", offer("ufraga", 40001), &mut tx);
        let t = &mut w.peers[k].t;
        assert!(
            t.next_timeout().is_some(),
            "connecting: the connect timeout"
        );
        t.abandon();
        assert_eq!(t.next_timeout(), None);
        let before = tx.queued();
        t.close(Instant::now(), &mut Sink(&mut tx));
        assert_eq!(tx.queued(), before, "closing it afterwards sends nothing");
    }

    /// A STUN binding success response (RFC 8489 §5) with an unknown transaction id.
    fn binding_response() -> Vec<u8> {
        let mut m = vec![0x01, 0x01, 0, 0, 0x21, 0x12, 0xA4, 0x42];
        m.extend_from_slice(&[9; 12]);
        m
    }

    /// A binding request whose USERNAME is `user`.
    fn binding_request(user: &str) -> Vec<u8> {
        let mut attr = vec![0x00, 0x06];
        attr.extend_from_slice(&(user.len() as u16).to_be_bytes());
        attr.extend_from_slice(user.as_bytes());
        while attr.len() % 4 != 0 {
            attr.push(0);
        }
        let mut m = vec![0x00, 0x01];
        m.extend_from_slice(&(attr.len() as u16).to_be_bytes());
        m.extend_from_slice(&[0x21, 0x12, 0xA4, 0x42]);
        m.extend_from_slice(&[7; 12]);
        m.extend_from_slice(&attr);
        m
    }

    /// Regression: the answer to the server's own first ICE check came from an address the
    /// shard had not learned yet and was dropped as `unknown_source`; str0m then refused the
    /// peer's DTLS ClientHello until a later check succeeded (aiortc connected 1 s late,
    /// Chromium 0.4 s).
    #[test]
    fn stun_from_an_offered_candidate_reaches_its_transport() {
        let mut w = worker();
        let mut tx = SendBatch::detached();
        add_transport(&mut w, "t1", offer("cliA", 46672), &mut tx);
        let mut resp = binding_response();
        w.handle_datagram(Instant::now(), CLIENT.parse().unwrap(), &mut resp, &mut tx);
        assert_eq!(w.metrics.drops(DropReason::UnknownSource), 0);
        // str0m saw it (and refused it: the transaction id is made up).
        assert_eq!(w.metrics.drops(DropReason::StunDtlsRejected), 1);
        let mut other = binding_response();
        w.handle_datagram(
            Instant::now(),
            "127.0.0.2:1".parse().unwrap(),
            &mut other,
            &mut tx,
        );
        assert_eq!(w.metrics.drops(DropReason::UnknownSource), 1);
    }

    /// An address first claimed by one transport's offer moves to the transport whose ufrag a
    /// binding request from it names.
    #[test]
    fn a_binding_request_routes_by_its_username() {
        let mut w = worker();
        let mut tx = SendBatch::detached();
        let k1 = add_transport(&mut w, "t1", offer("cliA", 46672), &mut tx);
        let k2 = add_transport(&mut w, "t2", offer("cliB", 46672), &mut tx);
        let from: SocketAddr = CLIENT.parse().unwrap();
        assert_eq!(w.by_addr[&from], k1, "first offer wins");
        let ufrag2 = w.peers[k2].t.ufrag().to_string();
        let mut req = binding_request(&format!("{ufrag2}:cliB"));
        w.handle_datagram(Instant::now(), from, &mut req, &mut tx);
        // Routed to t2's str0m, which refused it (no MESSAGE-INTEGRITY): the address stays
        // with t1 until a request t2 accepts arrives.
        assert_eq!(w.metrics.drops(DropReason::StunDtlsRejected), 1);
        assert_eq!(w.by_addr[&from], k1);
    }

    // ---- Cross-shard relays, two workers with hand-delivered messages ----------------------

    fn worker_at(index: usize) -> ShardWorker {
        let local: SocketAddr = format!("127.0.0.1:{}", 5000 + index).parse().unwrap();
        ShardWorker::new(
            index,
            local,
            vec![local],
            broadcast::channel(16).0,
            NodeMetrics::default(),
        )
    }

    fn audio_offer(ufrag: &str, port: u16, dir: &str) -> String {
        offer(ufrag, port).replace("a=sendonly", dir)
    }

    fn offer_cmd(
        w: &mut ShardWorker,
        req: OfferRequest,
        needs: Vec<RelayNeed>,
        tx: &mut SendBatch,
    ) -> Result<OfferAnswer, MediaError> {
        let (reply, mut answer) = oneshot::channel();
        let cmd = if needs.is_empty() {
            Command::Offer(Box::new(req), reply)
        } else {
            Command::OfferWithRelays(Box::new(req), needs, reply)
        };
        w.handle_command(Instant::now(), cmd, tx);
        answer.try_recv().unwrap()
    }

    fn request(id: &str, sdp: String) -> OfferRequest {
        OfferRequest {
            transport_id: id.into(),
            room_id: "room".into(),
            owner: "owner".into(),
            sdp,
            publish: Vec::new(),
            subscribe: Vec::new(),
        }
    }

    /// Publishes one audio track on transport "pub"; returns its track id.
    fn publish_audio(w: &mut ShardWorker, tx: &mut SendBatch) -> String {
        let mut req = request("pub", audio_offer("pubA", 40001, "a=sendonly"));
        let media_in = tessera_schema::room::default_media_in();
        req.publish = vec![tessera_schema::control::PublishSpec {
            stream_id: "pub".into(),
            tracks: vec![tessera_schema::control::PublishTrackSpec {
                mid: "0".into(),
                kind: TrackKind::Audio,
                source: None,
            }],
            accept_audio: media_in.audio,
            accept_video: media_in.video,
        }];
        let answer = offer_cmd(w, req, Vec::new(), tx).unwrap();
        answer.published[0].track_id.clone()
    }

    fn subscribe(id: &str, port: u16, from: &str) -> OfferRequest {
        let mut req = request(id, audio_offer(id, port, "a=recvonly"));
        req.subscribe = vec![tessera_schema::control::SubscribeSpec {
            subscription_id: format!("{id}-s"),
            tracks: vec![tessera_schema::control::SubscribeTrackSpec {
                mid: "0".into(),
                kind: TrackKind::Audio,
                from: from.into(),
            }],
        }];
        req
    }

    fn describe(w: &mut ShardWorker, track: &str, tx: &mut SendBatch) -> Box<RelaySpec> {
        let (reply, mut r) = oneshot::channel();
        w.handle_command(
            Instant::now(),
            Command::RelayDescribe(track.into(), reply),
            tx,
        );
        r.try_recv().unwrap().expect("described")
    }

    fn need(a: &mut ShardWorker, track: &str, relay: RelayId) -> RelayNeed {
        RelayNeed {
            track_id: track.into(),
            from: 0,
            relay,
            spec: describe(a, track, &mut SendBatch::detached()),
        }
    }

    /// What a worker would send to other shards at the end of this wake-up.
    fn sent(w: &mut ShardWorker) -> Vec<(usize, Command)> {
        w.relays.control.drain(..).collect()
    }

    /// Hands every message of `from` addressed to `to` over to it.
    fn deliver(from: &mut ShardWorker, to: &mut ShardWorker, tx: &mut SendBatch) {
        for (target, cmd) in sent(from) {
            assert_eq!(target, to.index, "{cmd:?}");
            to.handle_command(Instant::now(), cmd, tx);
        }
    }

    /// A two-layer (rids `h`, `l`) VP8 simulcast publisher's offer.
    fn simulcast_offer(ufrag: &str, port: u16) -> String {
        offer(ufrag, port)
            .replace(
                "m=audio 9 UDP/TLS/RTP/SAVPF 111",
                "m=video 9 UDP/TLS/RTP/SAVPF 96",
            )
            .replace(
                "a=rtpmap:111 opus/48000/2\r\n",
                "a=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\n\
                 a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\n\
                 a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n\
                 a=rid:h send\r\na=rid:l send\r\na=simulcast:send h;l\r\n",
            )
    }

    #[test]
    fn a_shard_relaying_simulcast_asks_only_for_the_layers_its_subscribers_receive() {
        let (mut a, mut b) = (worker_at(0), worker_at(1));
        let mut tx = SendBatch::detached();
        let mut req = request("pub", simulcast_offer("pubV", 40001));
        let media_in = tessera_schema::room::default_media_in();
        req.publish = vec![tessera_schema::control::PublishSpec {
            stream_id: "pub".into(),
            tracks: vec![tessera_schema::control::PublishTrackSpec {
                mid: "0".into(),
                kind: TrackKind::Video,
                source: None,
            }],
            accept_audio: media_in.audio,
            accept_video: media_in.video,
        }];
        let track = offer_cmd(&mut a, req, Vec::new(), &mut tx)
            .unwrap()
            .published[0]
            .track_id
            .clone();
        let video_sub = |id: &str, port: u16, from: String| {
            let mut req = subscribe(id, port, &from);
            req.sdp = simulcast_offer(id, port)
                .replace("a=sendonly", "a=recvonly")
                .replace(
                    "a=rid:h send\r\na=rid:l send\r\na=simulcast:send h;l\r\n",
                    "",
                );
            req.subscribe[0].tracks[0].kind = TrackKind::Video;
            req
        };
        // A subscriber fixed to layer `l` (index 1): shard 1 asks for that layer only.
        let n7 = need(&mut a, &track, 7);
        offer_cmd(
            &mut b,
            video_sub("sub1", 40002, format!("{track}:l")),
            vec![n7],
            &mut tx,
        )
        .unwrap();
        b.ask_relayed_layers();
        deliver(&mut b, &mut a, &mut tx);
        let source = a.relays.out[&7].0;
        assert_eq!(a.router.relay_layers(source, 7), Some(0b10));
        // Nothing changed: nothing asked again.
        b.ask_relayed_layers();
        assert!(sent(&mut b).is_empty());
        // A subscriber that follows its estimate needs every layer.
        let n8 = need(&mut a, &track, 8);
        offer_cmd(
            &mut b,
            video_sub("sub2", 40003, track.clone()),
            vec![n8],
            &mut tx,
        )
        .unwrap();
        b.ask_relayed_layers();
        deliver(&mut b, &mut a, &mut tx);
        assert_eq!(
            a.router.relay_layers(source, 7),
            Some(tessera_sfu::ALL_LAYERS)
        );
        // ... until the source shard reports the layers' rates, which it does every layer
        // interval: then the auto subscriber's layer (the lowest, to start) and the fixed one.
        a.handle_timeout(Instant::now() + Duration::from_secs(1), &mut tx);
        let reports = sent(&mut a);
        assert!(
            matches!(reports[..], [(1, Command::RelayRates { relay: 7, .. })]),
            "{reports:?}"
        );
        for (_, cmd) in reports {
            b.handle_command(Instant::now(), cmd, &mut tx);
        }
        b.ask_relayed_layers();
        deliver(&mut b, &mut a, &mut tx);
        assert_eq!(a.router.relay_layers(source, 7), Some(0b11));
    }

    #[test]
    fn a_source_is_relayed_to_another_shard_and_the_relay_ends_with_either_side() {
        let (mut a, mut b) = (worker_at(0), worker_at(1));
        let mut tx = SendBatch::detached();
        let track = publish_audio(&mut a, &mut tx);

        // Shard 1 adopts the relay with the subscriber's offer, and asks shard 0 to start.

        let n7 = need(&mut a, &track, 7);
        offer_cmd(&mut b, subscribe("sub1", 40002, &track), vec![n7], &mut tx).unwrap();
        assert_eq!(b.metrics.relays.get(), 1);
        // A second subscriber finds the relay there: no second relay, no second start.
        let n8 = need(&mut a, &track, 8);
        offer_cmd(&mut b, subscribe("sub2", 40003, &track), vec![n8], &mut tx).unwrap();
        assert_eq!(b.relays.inbound.len(), 1);
        let msgs = sent(&mut b);
        assert!(
            matches!(
                &msgs[..],
                [(
                    0,
                    Command::RelayStart {
                        relay: 7,
                        to: 1,
                        ..
                    }
                )]
            ),
            "{msgs:?}"
        );
        for (_, cmd) in msgs {
            a.handle_command(Instant::now(), cmd, &mut tx);
        }
        assert_eq!(a.relays.out.get(&7).map(|r| r.1), Some(1));

        // Relayed packets reach shard 1's router; one for an unknown relay is counted.
        let pkt = {
            let w = tessera_rtp::rtp::RtpWriter {
                marker: false,
                payload_type: 111,
                sequence_number: 1,
                timestamp: 960,
                ssrc: 0x1234,
                csrcs: &[],
                extensions: &[],
            };
            let mut buf = vec![0u8; 200];
            let n = w.write_packet(&[0xfc; 60], &mut buf).unwrap();
            buf.truncate(n);
            buf
        };
        let len = pkt.len() as u32;
        let batch = RelayBatch {
            packets: vec![(7, 0, 0, len), (99, 0, 0, len)],
            bytes: pkt.clone(),
            home: None,
        };
        b.handle_command(Instant::now(), Command::RelayRtp(Box::new(batch)), &mut tx);
        assert_eq!(b.router_stats().packets_in, 1);
        assert_eq!(b.metrics.drops(DropReason::RelayGone), 1);

        // Batches go back to the shard that filled them and are filled again: relaying
        // allocates nothing in steady state.
        let fill = |a: &mut ShardWorker, tx: &mut SendBatch| {
            let mut out = OutCtx {
                peers: &mut a.peers,
                tx,
                relays: &mut a.relays,
                sent: 0,
            };
            out.relay(7, 0, &pkt);
            out.relay(7, 0, &pkt);
            a.relays.outbox[1].take().expect("a batch for shard 1")
        };
        let first = fill(&mut a, &mut tx);
        assert_eq!(first.packets.len(), 2);
        assert_eq!(a.relays.pool.created, 1);
        let before = b.router_stats().packets_in;
        b.handle_command(Instant::now(), Command::RelayRtp(first), &mut tx);
        assert_eq!(b.router_stats().packets_in, before + 2);
        let second = fill(&mut a, &mut tx);
        assert_eq!(
            a.relays.pool.created, 1,
            "the batch came back and was reused"
        );
        assert_eq!(second.packets.len(), 2, "emptied before reuse");
        assert_eq!(second.bytes.len(), 2 * pkt.len());
        b.handle_command(Instant::now(), Command::RelayRtp(second), &mut tx);

        // Shard 1's key-frame requests for the relayed source go to shard 0 as such.
        {
            let mut out = OutCtx {
                peers: &mut b.peers,
                tx: &mut tx,
                relays: &mut b.relays,
                sent: 0,
            };
            out.send_keyframe_request(RELAY_BASE + 7, 0x1234, false);
        }
        let msgs = sent(&mut b);
        assert!(
            matches!(
                &msgs[..],
                [(
                    0,
                    Command::RelayKeyframe {
                        relay: 7,
                        ssrc: 0x1234
                    }
                )]
            ),
            "{msgs:?}"
        );

        // Both subscribers leave: the relay is dropped and shard 0 stops sending.
        for id in ["sub1", "sub2"] {
            let (reply, _r) = oneshot::channel();
            b.handle_command(
                Instant::now(),
                Command::EndSession(id.into(), format!("{id}-s"), reply),
                &mut tx,
            );
        }
        assert!(b.relays.inbound.is_empty() && b.relays.by_track.is_empty());
        assert_eq!(b.metrics.relays.get(), 0);
        deliver(&mut b, &mut a, &mut tx);
        assert!(a.relays.out.is_empty());

        // Relayed again; now the publisher goes: shard 1 loses the relayed source, and its
        // subscriber's sink is detached.
        let n9 = need(&mut a, &track, 9);
        offer_cmd(&mut b, subscribe("sub3", 40004, &track), vec![n9], &mut tx).unwrap();
        deliver(&mut b, &mut a, &mut tx);
        assert!(a.relays.out.contains_key(&9));
        let (reply, _r) = oneshot::channel();
        a.handle_command(Instant::now(), Command::Close("pub".into(), reply), &mut tx);
        deliver(&mut a, &mut b, &mut tx);
        assert!(b.relays.inbound.is_empty());
        assert_eq!(b.metrics.relays.get(), 0);
        let k = b.by_id["sub3"];
        assert!(b.peers[k].subs.iter().flatten().all(|s| s.sink == DETACHED));

        // A start for a track that is gone is answered with the relay's end.
        a.handle_command(
            Instant::now(),
            Command::RelayStart {
                track_id: track.clone(),
                relay: 10,
                to: 1,
            },
            &mut tx,
        );
        let msgs = sent(&mut a);
        assert!(
            matches!(&msgs[..], [(1, Command::RelayEnd(10))]),
            "{msgs:?}"
        );
    }

    #[test]
    fn an_offer_that_fails_drops_the_relay_it_adopted() {
        let (mut a, mut b) = (worker_at(0), worker_at(1));
        let mut tx = SendBatch::detached();
        let track = publish_audio(&mut a, &mut tx);
        let spec = describe(&mut a, &track, &mut tx);
        // The offer names a mid its SDP lacks: refused after the relay was adopted.
        let mut req = subscribe("sub1", 40002, &track);
        req.subscribe[0].tracks[0].mid = "9".into();
        let need = RelayNeed {
            track_id: track,
            from: 0,
            relay: 7,
            spec,
        };
        assert!(offer_cmd(&mut b, req, vec![need], &mut tx).is_err());
        assert!(b.relays.inbound.is_empty());
        assert_eq!(b.metrics.relays.get(), 0);
        let msgs = sent(&mut b);
        assert!(
            matches!(
                &msgs[..],
                [
                    (0, Command::RelayStart { relay: 7, .. }),
                    (0, Command::RelayStop(7))
                ]
            ),
            "{msgs:?}"
        );
    }
}
