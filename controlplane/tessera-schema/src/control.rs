//! The control interface of the WebRTC data plane: typed messages the conference agent (and,
//! before it exists, the WHIP/WHEP endpoints) send to a WebRTC node, and the events it reports.
//! In standalone mode they travel over in-process channels; in cluster mode they will be the
//! bodies of RabbitMQ RPCs. Serialisable on purpose.

use serde::{Deserialize, Serialize};

use crate::media::{AudioFormat, VideoFormat};

/// Audio or video.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrackKind {
    /// Audio.
    Audio,
    /// Video.
    Video,
}

impl TrackKind {
    /// `audio` / `video`.
    pub fn as_str(self) -> &'static str {
        match self {
            TrackKind::Audio => "audio",
            TrackKind::Video => "video",
        }
    }
}

/// A negotiated track format, as OWT reports it (`{codec, sampleRate?, channelNum?}` or
/// `{codec, profile?}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TrackFormat {
    /// Audio format.
    Audio(AudioFormat),
    /// Video format.
    Video(VideoFormat),
}

/// A publication declared on a transport: which offered m-lines (by mid) carry it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishSpec {
    /// Publication (stream) id.
    pub stream_id: String,
    /// The m-lines of the offer that belong to it.
    pub tracks: Vec<PublishTrackSpec>,
    /// Formats the room accepts (`mediaIn`); the first offered match wins.
    pub accept_audio: Vec<AudioFormat>,
    /// See `accept_audio`.
    pub accept_video: Vec<VideoFormat>,
}

/// One published m-line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishTrackSpec {
    /// The m-line's mid in the client's offer.
    pub mid: String,
    /// Audio or video.
    pub kind: TrackKind,
    /// `mic`, `camera`, `screen-cast`...
    pub source: Option<String>,
}

/// A subscription declared on a transport.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribeSpec {
    /// Subscription id.
    pub subscription_id: String,
    /// The m-lines of the offer that receive it.
    pub tracks: Vec<SubscribeTrackSpec>,
}

/// One subscribed m-line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribeTrackSpec {
    /// The m-line's mid in the client's offer.
    pub mid: String,
    /// Audio or video.
    pub kind: TrackKind,
    /// The source track id (`<transportId>-<mid>`, or `<transportId>-<mid>:<rid>` for one
    /// simulcast layer; without a rid the forwarder picks layers by bandwidth).
    pub from: String,
}

/// An SDP offer on a transport, with the operations it carries (OWT §3.10: the client always
/// offers; the server always answers).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferRequest {
    /// Transport (peer connection) id.
    pub transport_id: String,
    /// Room, for logs and placement.
    pub room_id: String,
    /// Participant owning the transport.
    pub owner: String,
    /// The client's SDP offer.
    pub sdp: String,
    /// Publications added by this offer.
    pub publish: Vec<PublishSpec>,
    /// Subscriptions added by this offer.
    pub subscribe: Vec<SubscribeSpec>,
}

/// A published track as negotiated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedTrack {
    /// Publication.
    pub stream_id: String,
    /// Track id: `<transportId>-<mid>`.
    pub track_id: String,
    /// mid.
    pub mid: String,
    /// Kind.
    pub kind: TrackKind,
    /// Negotiated format.
    pub format: TrackFormat,
    /// Simulcast layers (rids), empty without simulcast.
    pub rids: Vec<String>,
    /// Source label from the publish request.
    pub source: Option<String>,
}

/// The answer to an [`OfferRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferAnswer {
    /// SDP answer, with the server's ICE candidates in it.
    pub sdp: String,
    /// Tracks of the publications in the request.
    pub published: Vec<PublishedTrack>,
}

/// Why the data plane refused a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum MediaError {
    /// The SDP could not be parsed or lacks what WebRTC needs.
    #[error("Invalid SDP: {0}")]
    BadSdp(String),
    /// An operation names an m-line the offer does not have, or of another kind.
    #[error("No m-line {mid} of kind {kind} in the offer")]
    NoSuchMid {
        /// mid.
        mid: String,
        /// Kind asked for.
        kind: String,
    },
    /// No offered codec is acceptable.
    #[error("No proper {0} codec")]
    NoCodec(String),
    /// The source track of a subscription does not exist (any more).
    #[error("Target {0} stream does NOT exist")]
    NoSource(String),
    /// The transport is unknown (closed, never created).
    #[error("Transport {0} does NOT exist")]
    NoTransport(String),
    /// A renegotiation tried to change something that cannot change.
    #[error("Renegotiation not supported: {0}")]
    Renegotiation(String),
    /// The data plane is stopping or a shard is gone.
    #[error("Media node unavailable: {0}")]
    Unavailable(String),
    /// Handling the request panicked inside the shard; the transport it named was closed.
    #[error("Internal error: {0}")]
    Internal(String),
}

/// What the data plane reports about transports and tracks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MediaEvent {
    /// ICE and DTLS are up: media flows.
    TransportReady {
        /// Transport.
        transport_id: String,
    },
    /// The transport failed (ICE failure, DTLS failure, inactivity) and was closed.
    TransportFailed {
        /// Transport.
        transport_id: String,
        /// Reason (`Ice procedure failed.`, ...).
        reason: String,
    },
    /// The transport was closed on request.
    TransportClosed {
        /// Transport.
        transport_id: String,
    },
    /// A published video track's resolution became known or changed.
    VideoResolution {
        /// Track.
        track_id: String,
        /// Width.
        width: u32,
        /// Height.
        height: u32,
    },
}

/// A transport's state and the counters of its m-lines ([`MediaControl::transport_stats`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransportStats {
    /// Transport.
    pub transport_id: String,
    /// `connecting`, `connected`, `failed` or `closed`.
    pub state: String,
    /// The peer's address on the selected candidate pair, once connected.
    pub remote_address: Option<String>,
    /// Published and subscribed m-lines, in m-line order.
    pub tracks: Vec<TrackStats>,
}

/// Which way an m-line carries media.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrackDirection {
    /// The peer publishes: media comes in.
    Publish,
    /// The peer subscribes: media goes out.
    Subscribe,
}

/// Counters of one m-line of a transport.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackStats {
    /// mid.
    pub mid: String,
    /// Publication or subscription.
    pub session_id: String,
    /// Kind.
    pub kind: TrackKind,
    /// Publish or subscribe.
    pub direction: TrackDirection,
    /// The published track (`<transportId>-<mid>`) or, for a subscription, its source track;
    /// `None` for a subscription whose source has ended.
    pub track_id: Option<String>,
    /// RTP packets received (publish, every layer) or sent (subscribe, retransmissions not
    /// included).
    pub packets: u64,
    /// RTP payload bytes received or sent (headers not included).
    pub bytes: u64,
    /// Publish: not muted. Subscribe: not paused and attached to a live source.
    pub active: bool,
    /// Publish: one entry per simulcast layer (one without simulcast), in the offer's rid order.
    pub layers: Vec<LayerStats>,
    /// Subscribe: the simulcast layer being forwarded (0 without simulcast), `None` before the
    /// first packet.
    pub layer: Option<u8>,
}

/// Receive counters of one published layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerStats {
    /// rid, for a simulcast layer.
    pub rid: Option<String>,
    /// SSRC, once a packet arrived.
    pub ssrc: Option<u32>,
    /// RTP packets received.
    pub packets: u64,
    /// RTP payload bytes received.
    pub bytes: u64,
    /// Packets lost (RFC 3550 cumulative: expected minus received; negative with duplicates).
    pub lost: i64,
    /// Interarrival jitter, in milliseconds.
    pub jitter_ms: f64,
    /// Bitrate over the last full second, in bits per second.
    pub bitrate: u64,
}

/// The WebRTC data plane as the control plane sees it. Implemented in-process by the node in
/// standalone mode (over channels to the shards), and later over the bus.
#[async_trait::async_trait]
pub trait MediaControl: Send + Sync + std::fmt::Debug + 'static {
    /// Applies a client offer to a transport (creating it on first use) and answers it.
    async fn offer(&self, req: OfferRequest) -> Result<OfferAnswer, MediaError>;
    /// Creates a transport that subscribes with an offer of ours; the peer answers through
    /// [`MediaControl::answer`]. `req.sdp` and `req.publish` must be empty and the transport
    /// new; `req.subscribe` names the m-lines (mids, in that order) and their sources as for a
    /// client offer. The returned `sdp` is our offer (`published` is empty).
    async fn offer_subscription(&self, req: OfferRequest) -> Result<OfferAnswer, MediaError>;
    /// The peer's answer to an offer from [`MediaControl::offer_subscription`]: media flows
    /// once ICE and DTLS are up. An m-line the answer rejects (port 0) ends its subscription;
    /// their mids are returned. An answer that rejects every m-line is refused.
    async fn answer(&self, transport_id: &str, sdp: &str) -> Result<Vec<String>, MediaError>;
    /// A trickled remote ICE candidate (`candidate:...`, with or without `a=`).
    async fn add_candidate(&self, transport_id: &str, candidate: &str) -> Result<(), MediaError>;
    /// Ends a publication or subscription on its transport (its m-lines stop carrying media).
    async fn end_session(&self, transport_id: &str, session_id: &str) -> Result<(), MediaError>;
    /// Closes a transport and everything on it.
    async fn close_transport(&self, transport_id: &str) -> Result<(), MediaError>;
    /// Mutes (`false`) or unmutes (`true`) published tracks.
    async fn set_track_active(&self, track_id: &str, active: bool) -> Result<(), MediaError>;
    /// Pauses or resumes a subscription's m-lines of one kind.
    async fn set_subscription_active(
        &self,
        transport_id: &str,
        session_id: &str,
        kind: Option<TrackKind>,
        active: bool,
    ) -> Result<(), MediaError>;
    /// Feeds a subscription's m-lines of `kind` from another published track (`track_id`,
    /// `<transportId>-<mid>`) of the same codec, without renegotiation: the subscriber keeps
    /// its SSRC and its stream continues from the new source's next key frame.
    async fn switch_source(
        &self,
        transport_id: &str,
        session_id: &str,
        kind: TrackKind,
        track_id: &str,
    ) -> Result<(), MediaError>;
    /// The transport's state and the counters of its m-lines.
    async fn transport_stats(&self, transport_id: &str) -> Result<TransportStats, MediaError>;
    /// Subscribes to data-plane events.
    fn events(&self) -> tokio::sync::broadcast::Receiver<MediaEvent>;
}
