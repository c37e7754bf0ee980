//! In-process WebRTC peers for tests of one [`ShardWorker`]: str0m client `Rtc`s in RTP mode on
//! fake `127.0.0.1` addresses, offers built with str0m's SDP API and applied as
//! [`Command::Offer`], and a loop on a simulated clock that carries every datagram between the
//! clients and the worker, through a filter that may drop any of them. No sockets, no glommio,
//! no sleeps. The `session` fuzz target (`fuzz/fuzz_targets/session.rs`) includes this file.
//!
//! One step at instant `now`: every client is polled (and handles `Timeout(now)` when due) and
//! its transmits go to `handle_datagram`; the worker's timers run when `poll_timeout()` is due,
//! as a shard does, then `end_of_wakeup`; the worker's datagrams go to the clients, each polled
//! after every input; repeat until nothing moves, then `now` advances. The worker's detached
//! send batch is drained after every call (it holds one batch of 64; an overflow fails the
//! test).

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::{Direction, MediaKind, Mid, Pt, Rid, Simulcast, SimulcastLayer};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpPacket, RtpWrite, SeqNo, Ssrc};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};
use tessera_node::NodeMetrics;
use tessera_node::worker::{Command, ShardWorker};
use tessera_rt::{SendBatch, Worker};
use tessera_schema::control::{
    MediaError, MediaEvent, OfferAnswer, OfferRequest, PublishSpec, PublishTrackSpec,
    SubscribeSpec, SubscribeTrackSpec, TrackKind,
};
use tokio::sync::{broadcast, oneshot};

/// The crypto a client's `Rtc` uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `tessera_dtls::crypto_provider()`: OpenSSL DTLS, aws-lc-rs SRTP (the server's own).
    Ours,
    /// str0m's default provider: dimpl DTLS on aws-lc-rs (what Chromium-like peers look like).
    AwsLcRs,
}

/// Which way a datagram travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Client → worker.
    Up,
    /// Worker → client.
    Down,
}

/// One datagram in flight, as the filter sees it.
#[derive(Debug)]
pub struct Datagram<'a> {
    /// Direction.
    pub dir: Dir,
    /// Index of the client it comes from or goes to.
    pub client: usize,
    /// The bytes (SRTP keeps the RTP header in the clear: see [`rtp_ssrc_seq`]).
    pub data: &'a [u8],
}

/// The cleartext `(ssrc, sequence number)` of an (S)RTP datagram; `None` for anything else.
pub fn rtp_ssrc_seq(d: &[u8]) -> Option<(u32, u16)> {
    if d.len() < 12 || !(128..=191).contains(&d[0]) || (192..=223).contains(&d[1]) {
        return None;
    }
    Some((
        u32::from_be_bytes([d[8], d[9], d[10], d[11]]),
        u16::from_be_bytes([d[2], d[3]]),
    ))
}

/// A str0m peer playing a browser.
pub struct Client {
    /// Its transport id on the server (also its name in assertion messages).
    pub id: String,
    /// The peer.
    pub rtc: Rtc,
    /// Its (fake) address.
    pub addr: SocketAddr,
    /// Every event it produced, in order.
    pub events: Vec<Event>,
    /// When each event of `events` came out.
    pub event_times: Vec<Instant>,
    /// When false the client neither sends nor receives anything (a vanished peer).
    pub alive: bool,
    /// When the worker last got a datagram from it.
    pub last_up: Option<Instant>,
    /// Its DTLS-SRTP keys once connected (`Backend::Ours` only).
    pub tap: tessera_dtls::KeyTap,
    next: Instant,
}

impl Client {
    /// RTP packets received, in arrival order.
    pub fn rtp(&self) -> impl Iterator<Item = &RtpPacket> {
        self.events.iter().filter_map(|e| match e {
            Event::RtpPacket(p) => Some(p),
            _ => None,
        })
    }

    /// Whether str0m reported `Connected`.
    pub fn connected(&self) -> bool {
        self.events.iter().any(|e| matches!(e, Event::Connected))
    }

    /// Keyframe requests received (publishers).
    pub fn keyframe_requests(&self) -> Vec<(Mid, Option<Rid>)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::KeyframeRequest(k) => Some((k.mid, k.rid)),
                _ => None,
            })
            .collect()
    }

    /// Incoming RTCP packets (needs raw packets, which every harness client enables).
    pub fn rtcp_in(&self) -> impl Iterator<Item = &str0m::rtp::rtcp::Rtcp> {
        self.events.iter().filter_map(|e| match e {
            Event::RawPacket(p) => match &**p {
                str0m::rtp::RawPacket::RtcpRx(r) => Some(r),
                _ => None,
            },
            _ => None,
        })
    }
}

/// What an offer set up on a client.
#[derive(Clone, Debug)]
pub struct Negotiated {
    /// The m-lines, in the order asked for.
    pub mids: Vec<Mid>,
    /// The server's answer.
    pub answer: OfferAnswer,
}

impl Negotiated {
    /// The payload type the answer accepted on `mid` (the first one of its m-line).
    pub fn pt(&self, mid: Mid) -> u8 {
        answer_mline(&self.answer.sdp, mid)
            .and_then(|lines| {
                lines
                    .first()
                    .and_then(|m| m.split(' ').nth(3))
                    .and_then(|p| p.parse().ok())
            })
            .unwrap_or_else(|| panic!("no payload type for mid {mid} in the answer"))
    }

    /// The SSRC the answer announces on `mid` (subscribers).
    pub fn ssrc(&self, mid: Mid) -> u32 {
        answer_mline(&self.answer.sdp, mid)
            .and_then(|lines| {
                lines.iter().find_map(|l| {
                    l.strip_prefix("a=ssrc:")
                        .and_then(|r| r.split(' ').next())
                        .and_then(|s| s.parse().ok())
                })
            })
            .unwrap_or_else(|| panic!("no a=ssrc for mid {mid} in the answer"))
    }

    /// The track id a subscription names for `mid` (publishers).
    pub fn track(&self, mid: Mid) -> String {
        self.answer
            .published
            .iter()
            .find(|t| t.mid == mid.to_string())
            .map(|t| t.track_id.clone())
            .unwrap_or_else(|| panic!("mid {mid} was not published"))
    }
}

/// An offer request on transport `id` that subscribes `tracks` (subscription `<id>-sub`); an
/// empty `sdp` asks the worker to offer.
pub fn subscribe_request(id: &str, sdp: String, tracks: Vec<SubscribeTrackSpec>) -> OfferRequest {
    OfferRequest {
        transport_id: id.into(),
        room_id: "room".into(),
        owner: "owner".into(),
        sdp,
        publish: vec![],
        subscribe: vec![SubscribeSpec {
            subscription_id: format!("{id}-sub"),
            tracks,
        }],
    }
}

/// The lines of the m-section with `a=mid:<mid>`, starting with its `m=` line.
fn answer_mline(sdp: &str, mid: Mid) -> Option<Vec<&str>> {
    let mut sections: Vec<Vec<&str>> = Vec::new();
    for line in sdp.lines() {
        if line.starts_with("m=") {
            sections.push(vec![line]);
        } else if let Some(s) = sections.last_mut() {
            s.push(line);
        }
    }
    let want = format!("a=mid:{mid}");
    sections.into_iter().find(|s| s.contains(&want.as_str()))
}

/// A media source a publisher client writes through str0m's direct API.
#[derive(Clone, Debug)]
pub struct Sender {
    /// m-line.
    pub mid: Mid,
    /// Simulcast layer.
    pub rid: Option<Rid>,
    /// Payload type.
    pub pt: u8,
    /// RTP clock rate.
    pub clock: u32,
    /// Next sequence number.
    pub seq: u64,
    /// Next RTP timestamp.
    pub ts: u32,
    /// Tag written into every payload (after the VP8 header) to tell layers apart.
    pub tag: u8,
    /// Frames written.
    pub frames: u32,
    /// Payload bytes per packet.
    pub size: usize,
    /// What was written, by sequence number: (timestamp, marker, payload).
    pub history: std::collections::HashMap<u16, (u32, bool, Vec<u8>)>,
}

/// What a harness payload says about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tagged {
    /// The sender's tag.
    pub tag: u8,
    /// Frame number.
    pub frame: u32,
    /// Whether the packet starts a (VP8) key frame.
    pub keyframe: bool,
}

impl Sender {
    /// A sender on `mid`/`rid` with this negotiated payload type.
    pub fn new(mid: Mid, rid: Option<&str>, pt: u8, clock: u32, tag: u8, size: usize) -> Sender {
        Sender {
            mid,
            rid: rid.map(Rid::from),
            pt,
            clock,
            seq: 1000 + tag as u64 * 100,
            ts: 10_000 * (tag as u32 + 1),
            tag,
            frames: 0,
            size: size.max(8),
            history: std::collections::HashMap::new(),
        }
    }

    /// The SSRC str0m sends this stream with.
    pub fn ssrc(&self, rtc: &mut Rtc) -> u32 {
        *rtc.direct_api()
            .stream_tx_by_mid(self.mid, self.rid)
            .expect("send stream")
            .ssrc()
    }

    /// Writes one VP8-like frame in one packet: descriptor `0x10` (S=1, PID 0), then the first
    /// payload byte with bit 0 clear for a key frame, then the tag and the frame number.
    pub fn video(&mut self, rtc: &mut Rtc, now: Instant, keyframe: bool) -> (u16, Tagged) {
        let mut p = vec![0u8; self.size];
        p[0] = 0x10;
        p[1] = if keyframe { 0x00 } else { 0x01 };
        p[2] = self.tag;
        p[3..7].copy_from_slice(&self.frames.to_be_bytes());
        let t = Tagged {
            tag: self.tag,
            frame: self.frames,
            keyframe,
        };
        let seq = self.write(rtc, now, p, true, 3000);
        (seq, t)
    }

    /// Writes one Opus-like packet (20 ms): the tag, then the frame number.
    pub fn audio(&mut self, rtc: &mut Rtc, now: Instant) -> u16 {
        let mut p = vec![0u8; self.size];
        p[0] = 0xfc;
        p[1] = self.tag;
        p[2..6].copy_from_slice(&self.frames.to_be_bytes());
        self.write(rtc, now, p, false, 960)
    }

    fn write(&mut self, rtc: &mut Rtc, now: Instant, p: Vec<u8>, marker: bool, step: u32) -> u16 {
        let seq = self.seq;
        self.history
            .insert(seq as u16, (self.ts, marker, p.clone()));
        self.put(rtc, now, seq, self.ts, marker, p);
        self.seq += 1;
        self.ts = self.ts.wrapping_add(step);
        self.frames += 1;
        seq as u16
    }

    /// Sends an earlier packet again, unchanged, on the main SSRC (what Chromium does for a
    /// NACK when no RTX is negotiated). Returns false if it was never written.
    pub fn resend(&mut self, rtc: &mut Rtc, now: Instant, seq: u16) -> bool {
        let Some((ts, marker, p)) = self.history.get(&seq).cloned() else {
            return false;
        };
        // Extend against the next sequence number (no test runs long enough to wrap).
        let ext = (self.seq & !0xffff) | seq as u64;
        self.put(rtc, now, ext, ts, marker, p);
        true
    }

    fn put(&self, rtc: &mut Rtc, now: Instant, seq: u64, ts: u32, marker: bool, p: Vec<u8>) {
        let mut api = rtc.direct_api();
        let tx = api
            .stream_tx_by_mid(self.mid, self.rid)
            .expect("send stream");
        tx.write_rtp(
            RtpWrite::new(Pt::from(self.pt), SeqNo::from(seq), ts, now, p)
                .marker(marker)
                .nackable(true),
        );
    }
}

/// Reads back what [`Sender::video`] wrote.
pub fn tagged_video(payload: &[u8]) -> Option<Tagged> {
    if payload.len() < 7 || payload[0] != 0x10 {
        return None;
    }
    Some(Tagged {
        tag: payload[2],
        frame: u32::from_be_bytes([payload[3], payload[4], payload[5], payload[6]]),
        keyframe: payload[1] & 1 == 0,
    })
}

/// The filter deciding whether a datagram is delivered (`true`) or lost.
pub type Filter = Box<dyn FnMut(&Datagram<'_>) -> bool>;

/// One worker and its clients on a simulated clock.
pub struct Harness {
    /// The worker under test.
    pub worker: ShardWorker,
    /// The worker's (fake) socket address.
    pub server: SocketAddr,
    /// The simulated clock.
    pub now: Instant,
    /// The peers.
    pub clients: Vec<Client>,
    /// Events the worker emitted.
    pub media_events: broadcast::Receiver<MediaEvent>,
    /// The worker's counters.
    pub metrics: NodeMetrics,
    /// Decides which datagrams arrive (default: all).
    pub filter: Filter,
    /// Datagrams delivered, per direction.
    pub delivered: [u64; 2],
    /// Datagrams the filter dropped, per direction.
    pub lost: [u64; 2],
    /// Every RTP datagram delivered: (when, direction, client, ssrc, sequence number).
    pub rtp_log: Vec<(Instant, Dir, usize, u32, u16)>,
    /// Client `handle_input` errors (a str0m peer refusing what the worker sent).
    pub client_errors: Vec<String>,
    batch: SendBatch,
    down: VecDeque<(SocketAddr, Vec<u8>)>,
    next_port: u16,
    /// Wall-clock instant the harness started (for bounding tests).
    pub started: Instant,
}

impl Harness {
    /// A worker on `127.0.0.1:5000` with no clients.
    pub fn new() -> Harness {
        let server: SocketAddr = ([127, 0, 0, 1], 5000).into();
        let (events, media_events) = broadcast::channel(1024);
        let metrics = NodeMetrics::default();
        let worker = ShardWorker::new(0, server, vec![server], events, metrics.clone());
        let now = Instant::now();
        Harness {
            worker,
            server,
            now,
            clients: Vec::new(),
            media_events,
            metrics,
            filter: Box::new(|_| true),
            delivered: [0; 2],
            lost: [0; 2],
            client_errors: Vec::new(),
            rtp_log: Vec::new(),
            batch: SendBatch::detached(),
            down: VecDeque::new(),
            next_port: 6000,
            started: now,
        }
    }

    /// Adds a client named (and with transport id) `id`; returns its index.
    pub fn add_client(&mut self, id: &str, backend: Backend) -> usize {
        self.add_client_with(id, backend, |c| c)
    }

    /// Adds a client whose str0m configuration `configure` adjusts (codecs, payload types).
    pub fn add_client_with(
        &mut self,
        id: &str,
        backend: Backend,
        configure: impl FnOnce(RtcConfig) -> RtcConfig,
    ) -> usize {
        let provider = match backend {
            Backend::Ours => tessera_dtls::crypto_provider(),
            Backend::AwsLcRs => str0m_aws_lc_rs::default_provider(),
        };
        let config = RtcConfig::new()
            .set_crypto_provider(Arc::new(provider))
            .set_rtp_mode(true)
            .enable_raw_packets(true)
            .set_stats_interval(None);
        let (mut rtc, tap) = tessera_dtls::build_with_tap(configure(config), self.now);
        let addr: SocketAddr = ([127, 0, 0, 1], self.next_port).into();
        self.next_port += 1;
        rtc.add_local_candidate(Candidate::host(addr, "udp").expect("host candidate"))
            .expect("candidate added");
        self.clients.push(Client {
            id: id.to_string(),
            rtc,
            addr,
            events: Vec::new(),
            event_times: Vec::new(),
            alive: true,
            last_up: None,
            tap,
            next: self.now,
        });
        self.clients.len() - 1
    }

    /// Sends a command and returns what the worker replied.
    pub fn command<T>(&mut self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> T {
        let (tx, mut rx) = oneshot::channel();
        self.worker
            .handle_command(self.now, make(tx), &mut self.batch);
        self.end_of_wakeup();
        rx.try_recv().expect("the worker answers commands at once")
    }

    /// Makes client `c` publish one m-line per entry of `kinds` (video with these simulcast
    /// rids when `rids` is not empty); returns the mids and the answer.
    pub fn publish(&mut self, c: usize, kinds: &[MediaKind], rids: &[&str]) -> Negotiated {
        let mut change = self.clients[c].rtc.sdp_api();
        let mut mids = Vec::new();
        let mut tracks = Vec::new();
        for k in kinds {
            let simulcast = (k.is_video() && !rids.is_empty()).then(|| {
                let mut s = Simulcast::new();
                for r in rids {
                    s.add_send_layer(SimulcastLayer::new(r));
                }
                s
            });
            let mid = change.add_media(*k, Direction::SendOnly, None, None, simulcast);
            mids.push(mid);
            tracks.push(PublishTrackSpec {
                mid: mid.to_string(),
                kind: kind_of(*k),
                source: Some(if k.is_video() { "camera" } else { "mic" }.into()),
            });
        }
        let (offer, pending) = change.apply().expect("an offer");
        let media_in = tessera_schema::room::default_media_in();
        let id = self.clients[c].id.clone();
        let req = OfferRequest {
            transport_id: id.clone(),
            room_id: "room".into(),
            owner: "owner".into(),
            sdp: offer.to_sdp_string(),
            publish: vec![PublishSpec {
                stream_id: id.clone(),
                tracks,
                accept_audio: media_in.audio,
                accept_video: media_in.video,
            }],
            subscribe: vec![],
        };
        let answer = self
            .command(|tx| Command::Offer(Box::new(req), tx))
            .unwrap_or_else(|e| panic!("{id}: offer refused: {e}"));
        let sdp = SdpAnswer::from_sdp_string(&answer.sdp)
            .unwrap_or_else(|e| panic!("{id}: str0m cannot read the answer: {e}\n{}", answer.sdp));
        self.clients[c]
            .rtc
            .sdp_api()
            .accept_answer(pending, sdp)
            .unwrap_or_else(|e| panic!("{id}: str0m refuses the answer: {e}\n{}", answer.sdp));
        Negotiated { mids, answer }
    }

    /// Makes client `c` subscribe: one recvonly m-line per `(kind, from)`.
    pub fn subscribe(&mut self, c: usize, from: &[(MediaKind, String)]) -> Negotiated {
        let mut change = self.clients[c].rtc.sdp_api();
        let mut mids = Vec::new();
        let mut tracks = Vec::new();
        for (k, f) in from {
            let mid = change.add_media(*k, Direction::RecvOnly, None, None, None);
            mids.push(mid);
            tracks.push(SubscribeTrackSpec {
                mid: mid.to_string(),
                kind: kind_of(*k),
                from: f.clone(),
            });
        }
        let (offer, pending) = change.apply().expect("an offer");
        let id = self.clients[c].id.clone();
        let req = subscribe_request(&id, offer.to_sdp_string(), tracks);
        let answer = self
            .command(|tx| Command::Offer(Box::new(req), tx))
            .unwrap_or_else(|e| panic!("{id}: offer refused: {e}"));
        let sdp = SdpAnswer::from_sdp_string(&answer.sdp)
            .unwrap_or_else(|e| panic!("{id}: str0m cannot read the answer: {e}\n{}", answer.sdp));
        self.clients[c]
            .rtc
            .sdp_api()
            .accept_answer(pending, sdp)
            .unwrap_or_else(|e| panic!("{id}: str0m refuses the answer: {e}\n{}", answer.sdp));
        Negotiated { mids, answer }
    }

    /// Makes client `c` subscribe to `from` with an offer of the server's (mids 0, 1, ... in
    /// that order): str0m answers the offer and the answer goes back to the worker. The
    /// returned `answer` holds the server's offer.
    pub fn subscribe_by_server_offer(
        &mut self,
        c: usize,
        from: &[(MediaKind, String)],
    ) -> Negotiated {
        let n = self.subscribe_by_server_offer_unanswered(c, from);
        self.answer_server_offer(c, &n, Duration::ZERO, |a| a)
            .unwrap_or_else(|e| panic!("answer refused: {e}"));
        n
    }

    /// Client `c` (str0m) takes the server's offer in `n`, runs for `wait` (its ICE checks
    /// reach the worker before the answer does), and answers; `edit` changes the answer's
    /// text before the worker gets it. Returns the worker's reply (the mids that ended).
    pub fn answer_server_offer(
        &mut self,
        c: usize,
        n: &Negotiated,
        wait: Duration,
        edit: impl FnOnce(String) -> String,
    ) -> Result<Vec<String>, MediaError> {
        let id = self.clients[c].id.clone();
        let sdp = SdpOffer::from_sdp_string(&n.answer.sdp)
            .unwrap_or_else(|e| panic!("{id}: str0m cannot read the offer: {e}\n{}", n.answer.sdp));
        let answer = self.clients[c]
            .rtc
            .sdp_api()
            .accept_offer(sdp)
            .unwrap_or_else(|e| panic!("{id}: str0m refuses the offer: {e}\n{}", n.answer.sdp));
        let text = edit(answer.to_sdp_string());
        if !wait.is_zero() {
            self.run_for(wait, |_| {});
        }
        self.command(|tx| Command::Answer(id.clone(), text, tx))
    }

    /// The server's offer for client `c`'s subscription to `from`, not answered yet.
    pub fn subscribe_by_server_offer_unanswered(
        &mut self,
        c: usize,
        from: &[(MediaKind, String)],
    ) -> Negotiated {
        let id = self.clients[c].id.clone();
        let tracks: Vec<SubscribeTrackSpec> = from
            .iter()
            .enumerate()
            .map(|(i, (k, f))| SubscribeTrackSpec {
                mid: i.to_string(),
                kind: kind_of(*k),
                from: f.clone(),
            })
            .collect();
        let mids = tracks.iter().map(|t| Mid::from(t.mid.as_str())).collect();
        let req = subscribe_request(&id, String::new(), tracks);
        let offer = self
            .command(|tx| Command::Offer(Box::new(req), tx))
            .unwrap_or_else(|e| panic!("{id}: server offer refused: {e}"));
        Negotiated {
            mids,
            answer: offer,
        }
    }

    fn end_of_wakeup(&mut self) {
        self.worker.end_of_wakeup(self.now, &mut self.batch);
        self.drain_batch();
    }

    fn drain_batch(&mut self) {
        let down = &mut self.down;
        self.batch
            .drain(|to, bytes| down.push_back((to, bytes.to_vec())));
        assert_eq!(
            self.batch.counters().1,
            0,
            "more than one send batch queued in one worker call (datagrams lost)"
        );
    }

    /// Polls a client until `Timeout`; returns its transmits.
    fn poll_client(&mut self, i: usize) -> Vec<(SocketAddr, Vec<u8>)> {
        let now = self.now;
        let c = &mut self.clients[i];
        let mut out = Vec::new();
        loop {
            match c.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    c.next = t;
                    return out;
                }
                Ok(Output::Transmit(t)) => out.push((t.destination, t.contents.to_vec())),
                Ok(Output::Event(e)) => {
                    c.events.push(e);
                    c.event_times.push(now);
                }
                Err(e) => {
                    self.client_errors
                        .push(format!("{}: poll_output: {e}", c.id));
                    c.alive = false;
                    return out;
                }
            }
        }
    }

    /// Delivers a datagram to the worker as if `from` had sent it (the fuzz target's entry).
    pub fn inject(&mut self, from: SocketAddr, mut data: Vec<u8>) {
        self.worker
            .handle_datagram(self.now, from, &mut data, &mut self.batch);
        self.drain_batch();
    }

    /// Runs everything due at `now` until nothing moves. Every client is polled right after
    /// each input, as str0m requires (in RTP mode it holds one received packet until the next
    /// `poll_output`).
    pub fn step(&mut self) {
        let mut up: VecDeque<(usize, SocketAddr, Vec<u8>)> = VecDeque::new();
        for i in 0..self.clients.len() {
            if !self.clients[i].alive {
                continue;
            }
            // Polled every step: a test may have called the client's API since the last poll
            // (a keyframe request, a write), which can move its deadline earlier.
            self.poll_client(i)
                .into_iter()
                .for_each(|(to, d)| up.push_back((i, to, d)));
            if self.clients[i].next > self.now {
                continue;
            }
            let now = self.now;
            if let Err(e) = self.clients[i].rtc.handle_input(Input::Timeout(now)) {
                self.client_errors
                    .push(format!("{}: timeout: {e}", self.clients[i].id));
            }
            up.extend(self.poll_client(i).into_iter().map(|(to, d)| (i, to, d)));
        }
        for _round in 0..1000 {
            let mut moved = false;
            while let Some((i, to, data)) = up.pop_front() {
                moved = true;
                if !self.clients[i].alive {
                    continue;
                }
                assert_eq!(to, self.server, "clients only talk to the worker");
                let keep = (self.filter)(&Datagram {
                    dir: Dir::Up,
                    client: i,
                    data: &data,
                });
                if !keep {
                    self.lost[0] += 1;
                    continue;
                }
                self.delivered[0] += 1;
                if let Some((ssrc, seq)) = rtp_ssrc_seq(&data) {
                    self.rtp_log.push((self.now, Dir::Up, i, ssrc, seq));
                }
                self.clients[i].last_up = Some(self.now);
                let from = self.clients[i].addr;
                self.inject(from, data);
            }
            if self.worker.poll_timeout().is_some_and(|d| d <= self.now) {
                self.worker.handle_timeout(self.now, &mut self.batch);
            }
            self.end_of_wakeup();
            while let Some((to, data)) = self.down.pop_front() {
                moved = true;
                let Some(i) = self.clients.iter().position(|c| c.addr == to) else {
                    continue;
                };
                if !self.clients[i].alive {
                    continue;
                }
                let keep = (self.filter)(&Datagram {
                    dir: Dir::Down,
                    client: i,
                    data: &data,
                });
                if !keep {
                    self.lost[1] += 1;
                    continue;
                }
                self.delivered[1] += 1;
                if let Some((ssrc, seq)) = rtp_ssrc_seq(&data) {
                    self.rtp_log.push((self.now, Dir::Down, i, ssrc, seq));
                }
                let c = &mut self.clients[i];
                let Ok(recv) = Receive::new(Protocol::Udp, self.server, c.addr, &data) else {
                    self.client_errors
                        .push(format!("{}: unclassifiable datagram", c.id));
                    continue;
                };
                if let Err(e) = c.rtc.handle_input(Input::Receive(self.now, recv)) {
                    self.client_errors.push(format!("{}: receive: {e}", c.id));
                }
                up.extend(self.poll_client(i).into_iter().map(|(to, d)| (i, to, d)));
            }
            if !moved {
                return;
            }
        }
        panic!("datagrams still moving after 1000 rounds at one instant");
    }

    /// Steps, then advances the clock by `dt`.
    pub fn tick(&mut self, dt: Duration) {
        self.step();
        self.now += dt;
    }

    /// Runs `dur` of simulated time in 1 ms steps, calling `each` before every step.
    pub fn run_for(&mut self, dur: Duration, mut each: impl FnMut(&mut Harness)) {
        let end = self.now + dur;
        while self.now < end {
            each(self);
            self.tick(Duration::from_millis(1));
        }
    }

    /// Runs in 1 ms steps until `done` (checked before every step) or `limit` of simulated
    /// time; panics on the limit.
    pub fn run_until(
        &mut self,
        limit: Duration,
        what: &str,
        mut done: impl FnMut(&mut Harness) -> bool,
    ) {
        let end = self.now + limit;
        while self.now < end {
            if done(self) {
                return;
            }
            self.tick(Duration::from_millis(1));
        }
        panic!("{what}: not done after {limit:?} of simulated time");
    }

    /// Runs until every client is connected and the worker reported every transport ready.
    pub fn connect_all(&mut self) {
        let n = self.clients.len();
        let mut ready = 0;
        let mut rx = self.media_events.resubscribe();
        self.run_until(Duration::from_secs(5), "ICE and DTLS", |h| {
            while let Ok(e) = rx.try_recv() {
                if matches!(e, MediaEvent::TransportReady { .. }) {
                    ready += 1;
                }
            }
            h.clients.iter().all(|c| c.connected()) && ready == n
        });
        assert!(self.client_errors.is_empty(), "{:?}", self.client_errors);
    }

    /// Events the worker emitted since the last call.
    pub fn take_media_events(&mut self) -> Vec<MediaEvent> {
        let mut v = Vec::new();
        while let Ok(e) = self.media_events.try_recv() {
            v.push(e);
        }
        v
    }
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}

fn kind_of(k: MediaKind) -> TrackKind {
    if k.is_video() {
        TrackKind::Video
    } else {
        TrackKind::Audio
    }
}

/// The SSRC of a received packet.
pub fn ssrc_of(p: &RtpPacket) -> u32 {
    let s: Ssrc = p.header.ssrc;
    *s
}
