//! # tessera-node
//!
//! The WebRTC node of the standalone process: N shards on `tessera-rt` (one pinned executor and
//! one UDP port per core), each running a [`worker::ShardWorker`] that owns its transports and a
//! `tessera-sfu` router, and [`MediaNode`], the data plane's control interface
//! ([`MediaControl`]) that the conference agent drives.
//!
//! Placement: a transport that publishes goes to the least-loaded shard; a transport that
//! subscribes goes to the shard of its source while that shard carries at most
//! [`NodeConfig::relay_slack`] transports more than the least-loaded one, else to the
//! least-loaded shard. A source subscribed on another shard is relayed there: its shard hands
//! each packet (plaintext, once per target shard and wake-up batch) to the target shard, whose
//! router forwards it to its own subscribers, so one stream's fan-out uses every core. A
//! transport may subscribe to sources on any shards.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tessera_rt::RtError> {
//! let node = tessera_node::MediaNode::start(tessera_node::NodeConfig::default())?;
//! println!("shard 0 listens on {}", node.shard_addrs()[0]);
//! # Ok(()) }
//! ```

pub mod metrics;
pub mod worker;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use tessera_rt::{Runtime, ShardSpec};
use tessera_schema::control::{
    MediaControl, MediaError, MediaEvent, OfferAnswer, OfferRequest, TrackKind, TransportStats,
};
use tokio::sync::{broadcast, oneshot};

pub use metrics::{DropReason, NodeMetrics};
/// Which loop drives the shards (`uring`, the default, or `glommio`).
pub use tessera_rt::Backend as ShardRuntime;
use worker::{Command, ShardWorker};

/// Node settings.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Shards (executors); 0 = one per available core.
    pub cores: usize,
    /// Pin shard `i` to CPU `i`.
    pub pin: bool,
    /// Address the UDP sockets bind to.
    pub bind: IpAddr,
    /// First UDP port (shard `i` uses `port + i`); 0 = ephemeral ports.
    pub port: u16,
    /// Addresses put into answers as host candidates (with each shard's port). Empty: the
    /// bind address if it is not unspecified, else 127.0.0.1.
    pub public_ips: Vec<IpAddr>,
    /// How many transports more than the least-loaded shard a source's shard may carry before
    /// new subscribers of that source go to the least-loaded shard (relayed there).
    pub relay_slack: usize,
    /// The loop that drives each shard.
    pub runtime: ShardRuntime,
    /// Send bursts to one destination as UDP GSO messages.
    pub udp_gso: bool,
}

/// Default of [`NodeConfig::relay_slack`].
pub const DEFAULT_RELAY_SLACK: usize = 8;

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            cores: 0,
            pin: true,
            bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 0,
            public_ips: Vec::new(),
            relay_slack: DEFAULT_RELAY_SLACK,
            runtime: ShardRuntime::default(),
            udp_gso: true,
        }
    }
}

/// Where transports and tracks live.
#[derive(Debug, Default)]
struct Placement {
    /// transport id → where it is. A transport is placed (and counted in `load`) when its
    /// first offer is placed, before the shard answers, so that concurrent offers see each
    /// other: a burst of joins spreads over the shards, and two offers for one new transport
    /// land on the same shard.
    transports: HashMap<String, Placing>,
    /// track id → shard.
    tracks: HashMap<String, usize>,
    /// transports per shard.
    load: Vec<usize>,
}

/// One transport's place.
#[derive(Debug, Clone, Copy)]
struct Placing {
    shard: usize,
    /// An offer on it succeeded: the shard has it.
    live: bool,
    /// Offers on it not answered yet.
    pending: u32,
}

impl Placement {
    /// An offer on `transport` placed on `shard` has ended (`ok`: the shard answered it).
    /// A transport no offer ever succeeded on is dropped once none is pending, unless the
    /// offer may have reached its shard (`unsure`: cancelled after it was sent; the shard's
    /// failure event will forget it if the transport exists there).
    fn settle(&mut self, transport: &str, shard: usize, ok: bool, unsure: bool) {
        match self.transports.get_mut(transport) {
            Some(t) => {
                t.pending = t.pending.saturating_sub(1);
                t.live |= ok;
                if !t.live && t.pending == 0 && !unsure {
                    self.forget(transport);
                }
            }
            // Closed while its offer was in flight, and the offer then succeeded: the shard
            // has the transport, so placement must know it too.
            None if ok => {
                self.transports.insert(
                    transport.to_string(),
                    Placing {
                        shard,
                        live: true,
                        pending: 0,
                    },
                );
                self.load[shard] += 1;
            }
            None => {}
        }
    }

    fn forget(&mut self, transport: &str) {
        if let Some(Placing { shard: s, .. }) = self.transports.remove(transport) {
            self.load[s] = self.load[s].saturating_sub(1);
        }
        let prefix = format!("{transport}-");
        self.tracks.retain(|t, _| !t.starts_with(&prefix));
    }
}

/// Where an offer goes.
struct Placed {
    /// The shard that runs it.
    shard: usize,
    /// Sources on other shards it subscribes to: (track id, their shard).
    remote: Vec<(String, usize)>,
}

/// Settles an offer's placement however the offer ends, a dropped (cancelled) future
/// included.
struct OfferGuard<'a> {
    placement: &'a Mutex<Placement>,
    transport: String,
    shard: usize,
    /// The offer command was handed to the shard.
    sent: bool,
    /// Settled by [`OfferGuard::settle`].
    done: bool,
}

impl OfferGuard<'_> {
    fn settle(mut self, answer: &Result<OfferAnswer, MediaError>) {
        self.done = true;
        let mut p = self.placement.lock().expect("placement lock");
        p.settle(&self.transport, self.shard, answer.is_ok(), false);
        if let Ok(answer) = answer {
            for t in &answer.published {
                p.tracks.insert(t.track_id.clone(), self.shard);
            }
        }
    }
}

impl Drop for OfferGuard<'_> {
    fn drop(&mut self) {
        if !self.done
            && let Ok(mut p) = self.placement.lock()
        {
            p.settle(&self.transport, self.shard, false, self.sent);
        }
    }
}

/// The WebRTC node.
#[derive(Debug)]
pub struct MediaNode {
    runtime: Mutex<Option<Runtime<Command>>>,
    shards: Vec<tessera_rt::ShardHandle<Command>>,
    placement: Arc<Mutex<Placement>>,
    events: broadcast::Sender<MediaEvent>,
    metrics: NodeMetrics,
    relay_slack: usize,
    next_relay: AtomicU64,
}

impl MediaNode {
    /// Starts the shards.
    pub fn start(config: NodeConfig) -> Result<MediaNode, tessera_rt::RtError> {
        Self::start_with_metrics(config, NodeMetrics::default())
    }

    /// Starts the shards, counting into `metrics`.
    pub fn start_with_metrics(
        config: NodeConfig,
        metrics: NodeMetrics,
    ) -> Result<MediaNode, tessera_rt::RtError> {
        let n = if config.cores == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            config.cores
        };
        let specs: Vec<ShardSpec> = (0..n)
            .map(|i| ShardSpec {
                index: i,
                cpu: config.pin.then_some(i),
                bind: SocketAddr::new(
                    config.bind,
                    if config.port == 0 {
                        0
                    } else {
                        config.port.saturating_add(i as u16)
                    },
                ),
                backend: config.runtime,
                gso: config.udp_gso,
            })
            .collect();
        let (events, _) = broadcast::channel(1024);
        let ips: Vec<IpAddr> = if !config.public_ips.is_empty() {
            config.public_ips.clone()
        } else if !config.bind.is_unspecified() {
            vec![config.bind]
        } else {
            vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]
        };
        let ev = events.clone();
        let m = metrics.clone();
        let handles: Arc<OnceLock<Vec<tessera_rt::ShardHandle<Command>>>> = Arc::default();
        let h = handles.clone();
        let runtime = tessera_rt::spawn(specs, move |info| {
            let advertised = ips
                .iter()
                .map(|ip| SocketAddr::new(*ip, info.local_addr.port()))
                .collect();
            ShardWorker::new(
                info.index,
                info.local_addr,
                advertised,
                ev.clone(),
                m.clone(),
            )
            .with_shards(h.clone())
        })?;
        let shards = runtime.shards().to_vec();
        let _ = handles.set(shards.clone());
        let placement = Arc::new(Mutex::new(Placement {
            load: vec![0; shards.len()],
            ..Placement::default()
        }));
        // Transports that die in a shard are forgotten here too.
        let mut rx = events.subscribe();
        let weak = Arc::downgrade(&placement);
        std::thread::Builder::new()
            .name("tessera-node-events".into())
            .spawn(move || {
                loop {
                    let ev = match rx.blocking_recv() {
                        Ok(ev) => ev,
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => break,
                    };
                    let Some(p) = weak.upgrade() else { break };
                    if let MediaEvent::TransportFailed { transport_id, .. }
                    | MediaEvent::TransportClosed { transport_id } = ev
                    {
                        p.lock().expect("placement lock").forget(&transport_id);
                    }
                }
            })
            .map_err(|e| tessera_rt::RtError::Spawn {
                index: usize::MAX,
                reason: e.to_string(),
            })?;
        Ok(MediaNode {
            shards,
            runtime: Mutex::new(Some(runtime)),
            placement,
            events,
            metrics,
            relay_slack: config.relay_slack,
            next_relay: AtomicU64::new(1),
        })
    }

    /// Each shard's UDP address.
    pub fn shard_addrs(&self) -> Vec<SocketAddr> {
        self.shards.iter().map(|s| s.local_addr()).collect()
    }

    /// The node's counters.
    pub fn metrics(&self) -> &NodeMetrics {
        &self.metrics
    }

    /// Stops every shard.
    pub fn stop(&self) {
        if let Some(rt) = self.runtime.lock().expect("runtime lock").take() {
            rt.stop();
        }
    }

    fn shard_of(&self, transport: &str) -> Option<usize> {
        self.placement
            .lock()
            .expect("placement lock")
            .transports
            .get(transport)
            .map(|t| t.shard)
    }

    /// Transports placed on each shard (offers in flight included).
    pub fn shard_loads(&self) -> Vec<usize> {
        self.placement.lock().expect("placement lock").load.clone()
    }

    /// The shard for the offer's transport, and the sources it subscribes to that live on
    /// other shards ((track id, shard), to relay there).
    /// Chooses the shard for an offer and the sources it needs relayed there. A new transport
    /// is placed at once; either way the offer is counted as pending until
    /// [`Placement::settle`].
    fn place(&self, req: &OfferRequest) -> Result<Placed, MediaError> {
        let mut p = self.placement.lock().expect("placement lock");
        let mut sources: Vec<(String, usize)> = Vec::new();
        for t in req.subscribe.iter().flat_map(|s| s.tracks.iter()) {
            let base = t.from.split(':').next().unwrap_or(&t.from);
            let shard = *p
                .tracks
                .get(base)
                .ok_or_else(|| MediaError::NoSource(t.kind.as_str().into()))?;
            if !sources.iter().any(|(b, _)| b == base) {
                sources.push((base.to_string(), shard));
            }
        }
        let least = p
            .load
            .iter()
            .enumerate()
            .min_by_key(|(_, l)| **l)
            .map_or(0, |(i, _)| i);
        let placed = p.transports.get(&req.transport_id).map(|t| t.shard);
        let shard = match placed {
            Some(s) => s,
            None => match sources.first() {
                // Subscribers stay with their source while its shard is not much busier
                // than the least-loaded one: no relay needed.
                Some(&(_, s))
                    if sources.iter().all(|(_, x)| *x == s)
                        && p.load[s] <= p.load[least] + self.relay_slack =>
                {
                    s
                }
                _ => least,
            },
        };
        match p.transports.get_mut(&req.transport_id) {
            Some(t) => t.pending += 1,
            None => {
                p.transports.insert(
                    req.transport_id.clone(),
                    Placing {
                        shard,
                        live: false,
                        pending: 1,
                    },
                );
                p.load[shard] += 1;
            }
        }
        sources.retain(|(_, s)| *s != shard);
        Ok(Placed {
            shard,
            remote: sources,
        })
    }

    async fn call<T>(
        &self,
        shard: usize,
        make: impl FnOnce(oneshot::Sender<Result<T, MediaError>>) -> Command,
    ) -> Result<T, MediaError> {
        let (tx, rx) = oneshot::channel();
        self.shards
            .get(shard)
            .ok_or_else(|| MediaError::Unavailable(format!("no shard {shard}")))?
            .send(make(tx))
            .map_err(|e| MediaError::Unavailable(e.to_string()))?;
        rx.await
            .map_err(|_| MediaError::Unavailable(format!("shard {shard} did not answer")))?
    }

    /// Runs an offer on `shard`, with the relays of `remote` sources set up first; `sent` is
    /// set when the offer itself is handed to the shard.
    async fn offer_on(
        &self,
        shard: usize,
        remote: Vec<(String, usize)>,
        req: OfferRequest,
        sent: &mut bool,
    ) -> Result<OfferAnswer, MediaError> {
        if remote.is_empty() {
            *sent = true;
            return self
                .call(shard, |tx| Command::Offer(Box::new(req), tx))
                .await;
        }
        // What the target shard needs of each source on another shard; the target adopts
        // the relays it lacks, asks their shards to start, and runs the offer in one step.
        let mut needs = Vec::with_capacity(remote.len());
        for (track_id, from) in remote {
            let t = track_id.clone();
            let spec = self.call(from, |tx| Command::RelayDescribe(t, tx)).await?;
            needs.push(worker::RelayNeed {
                track_id,
                from,
                relay: self.next_relay.fetch_add(1, Ordering::Relaxed),
                spec,
            });
        }
        *sent = true;
        self.call(shard, |tx| {
            Command::OfferWithRelays(Box::new(req), needs, tx)
        })
        .await
    }

    /// Places the offer's transport and runs the offer there (an empty `sdp`: the shard
    /// writes an offer of its own, see `offer_subscription`).
    async fn place_and_offer(&self, req: OfferRequest) -> Result<OfferAnswer, MediaError> {
        let Placed { shard, remote } = self.place(&req)?;
        let mut guard = OfferGuard {
            placement: &self.placement,
            transport: req.transport_id.clone(),
            shard,
            sent: false,
            done: false,
        };
        let answer = self.offer_on(shard, remote, req, &mut guard.sent).await;
        guard.settle(&answer);
        answer
    }

    fn forget_transport(&self, transport: &str) {
        self.placement
            .lock()
            .expect("placement lock")
            .forget(transport);
    }
}

impl Drop for MediaNode {
    fn drop(&mut self) {
        self.stop();
    }
}

#[async_trait]
impl MediaControl for MediaNode {
    async fn offer(&self, req: OfferRequest) -> Result<OfferAnswer, MediaError> {
        // An empty SDP is how a server offer travels to the shard (`offer_subscription`).
        if req.sdp.trim().is_empty() {
            return Err(MediaError::BadSdp("the offer is empty".into()));
        }
        self.place_and_offer(req).await
    }

    async fn offer_subscription(&self, req: OfferRequest) -> Result<OfferAnswer, MediaError> {
        if !req.sdp.trim().is_empty() {
            return Err(MediaError::BadSdp(
                "a subscription the server offers carries no client SDP".into(),
            ));
        }
        if !req.publish.is_empty() {
            return Err(MediaError::Renegotiation(
                "a server offer only subscribes; publish with a client offer".into(),
            ));
        }
        if req.subscribe.iter().all(|s| s.tracks.is_empty()) {
            return Err(MediaError::BadSdp("a server offer needs a track".into()));
        }
        // A transport that exists already is refused by its shard (no race with a concurrent
        // offer creating it).
        let req = OfferRequest {
            sdp: String::new(),
            ..req
        };
        self.place_and_offer(req).await
    }

    async fn answer(&self, transport_id: &str, sdp: &str) -> Result<Vec<String>, MediaError> {
        let shard = self
            .shard_of(transport_id)
            .ok_or_else(|| MediaError::NoTransport(transport_id.into()))?;
        let (t, a) = (transport_id.to_string(), sdp.to_string());
        self.call(shard, |tx| Command::Answer(t, a, tx)).await
    }

    async fn add_candidate(&self, transport_id: &str, candidate: &str) -> Result<(), MediaError> {
        let shard = self
            .shard_of(transport_id)
            .ok_or_else(|| MediaError::NoTransport(transport_id.into()))?;
        let (t, c) = (transport_id.to_string(), candidate.to_string());
        self.call(shard, |tx| Command::Candidate(t, c, tx)).await
    }

    async fn end_session(&self, transport_id: &str, session_id: &str) -> Result<(), MediaError> {
        let shard = self
            .shard_of(transport_id)
            .ok_or_else(|| MediaError::NoTransport(transport_id.into()))?;
        let (t, s) = (transport_id.to_string(), session_id.to_string());
        self.call(shard, |tx| Command::EndSession(t, s, tx)).await
    }

    async fn close_transport(&self, transport_id: &str) -> Result<(), MediaError> {
        let shard = self
            .shard_of(transport_id)
            .ok_or_else(|| MediaError::NoTransport(transport_id.into()))?;
        let t = transport_id.to_string();
        let r = self.call(shard, |tx| Command::Close(t, tx)).await;
        self.forget_transport(transport_id);
        r
    }

    async fn switch_source(
        &self,
        transport_id: &str,
        session_id: &str,
        kind: TrackKind,
        track_id: &str,
    ) -> Result<(), MediaError> {
        let (shard, from) = {
            let p = self.placement.lock().expect("placement lock");
            let shard = p
                .transports
                .get(transport_id)
                .map(|t| t.shard)
                .ok_or_else(|| MediaError::NoTransport(transport_id.into()))?;
            let base = track_id.split(':').next().unwrap_or(track_id);
            let from = *p
                .tracks
                .get(base)
                .ok_or_else(|| MediaError::NoSource(track_id.into()))?;
            (shard, from)
        };
        let base = track_id.split(':').next().unwrap_or(track_id);
        // A source on another shard is relayed to the transport's shard (the target skips a
        // relay it already has).
        let mut needs = Vec::new();
        if from != shard {
            let t = base.to_string();
            let spec = self.call(from, |tx| Command::RelayDescribe(t, tx)).await?;
            needs.push(worker::RelayNeed {
                track_id: base.to_string(),
                from,
                relay: self.next_relay.fetch_add(1, Ordering::Relaxed),
                spec,
            });
        }
        let (transport, session, track_id) = (
            transport_id.to_string(),
            session_id.to_string(),
            track_id.to_string(),
        );
        self.call(shard, |reply| Command::SwitchSource {
            transport,
            session,
            kind,
            track_id,
            needs,
            reply,
        })
        .await
    }

    async fn transport_stats(&self, transport_id: &str) -> Result<TransportStats, MediaError> {
        let shard = self
            .shard_of(transport_id)
            .ok_or_else(|| MediaError::NoTransport(transport_id.into()))?;
        let t = transport_id.to_string();
        self.call(shard, |tx| Command::Stats(t, tx)).await
    }

    async fn set_track_active(&self, track_id: &str, active: bool) -> Result<(), MediaError> {
        let shard = self
            .placement
            .lock()
            .expect("placement lock")
            .tracks
            .get(track_id)
            .copied()
            .ok_or_else(|| MediaError::NoSource(track_id.into()))?;
        let t = track_id.to_string();
        self.call(shard, |tx| Command::TrackActive(t, active, tx))
            .await
    }

    async fn set_subscription_active(
        &self,
        transport_id: &str,
        session_id: &str,
        kind: Option<TrackKind>,
        active: bool,
    ) -> Result<(), MediaError> {
        let shard = self
            .shard_of(transport_id)
            .ok_or_else(|| MediaError::NoTransport(transport_id.into()))?;
        let (t, s) = (transport_id.to_string(), session_id.to_string());
        self.call(shard, |tx| {
            Command::SubscriptionActive(t, s, kind, active, tx)
        })
        .await
    }

    fn events(&self) -> broadcast::Receiver<MediaEvent> {
        self.events.subscribe()
    }
}
