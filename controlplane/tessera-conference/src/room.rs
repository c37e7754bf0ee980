//! State of one active room.

use serde_json::{Value, json};
use tessera_schema::room::{AudioVideo, RoomConfig};

use crate::stream::Stream;

/// What a participant may do (copied from the role at join, changeable over REST).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permission {
    /// Publish switches.
    pub publish: AudioVideo,
    /// Subscribe switches.
    pub subscribe: AudioVideo,
}

/// How a participant entered the room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A WHIP publisher; the resource is its stream.
    Whip,
    /// A WHEP player; the resource is its subscription.
    Whep,
    /// An OWT client on the portal (Socket.IO).
    Portal,
}

/// A notification's data argument, serialized to JSON once and shared by every recipient (a
/// room of N participants sends each stream or participant change to all N: serializing and
/// cloning it per recipient made joins O(N²) in JSON work).
pub type Notice = std::sync::Arc<serde_json::value::RawValue>;

/// Serializes `data` for [`Notifier::notify`].
pub fn notice(data: &Value) -> Notice {
    // A `Value` always serializes (its map keys are strings); `null` only to be total.
    serde_json::value::to_raw_value(data)
        .unwrap_or_else(|_| serde_json::value::RawValue::NULL.to_owned())
        .into()
}

/// Delivers notifications to a portal client (the portal's socket). Must not block: it is
/// called with the room locked.
pub trait Notifier: Send + Sync + std::fmt::Debug {
    /// Sends `event` with one data argument (already serialized, see [`Notice`]).
    fn notify(&self, event: &'static str, data: Notice);
    /// The participant was removed by the room (REST delete, room deletion): send `drop` and
    /// close the connection.
    fn drop_client(&self);
}

/// A participant.
#[derive(Clone, Debug)]
pub struct Participant {
    /// Participant id.
    pub id: String,
    /// User name from the token.
    pub user: String,
    /// Role name.
    pub role: String,
    /// Permissions.
    pub permission: Permission,
    /// How it joined.
    pub origin: Origin,
    /// The WHIP/WHEP resource id (stream or subscription id).
    pub resource: String,
    /// Its transport.
    pub transport: String,
    /// Token that created it (required again for DELETE/PATCH of the resource).
    pub token_id: String,
    /// Where its notifications go (portal clients only).
    pub notifier: Option<std::sync::Arc<dyn Notifier>>,
}

impl Participant {
    /// The REST detail object (spec §2.5).
    pub fn detail(&self) -> Value {
        json!({
            "id": self.id,
            "user": self.user,
            "role": self.role,
            "permission": {
                "publish": {"audio": self.permission.publish.audio, "video": self.permission.publish.video},
                "subscribe": {"audio": self.permission.subscribe.audio, "video": self.permission.subscribe.video},
            }
        })
    }
}

/// The source of one kind of a subscription.
#[derive(Clone, Debug, PartialEq)]
pub struct SubSource {
    /// Audio or video.
    pub kind: tessera_schema::control::TrackKind,
    /// Source stream.
    pub stream: String,
    /// Source track, as the data plane was given it.
    pub from: String,
}

impl Subscription {
    /// Whether `stream` feeds it.
    pub fn fed_by(&self, stream: &str) -> bool {
        self.sources.iter().any(|s| s.stream == stream)
    }
}

/// A subscription.
#[derive(Clone, Debug, PartialEq)]
pub struct Subscription {
    /// Subscription id.
    pub id: String,
    /// Subscriber.
    pub owner: String,
    /// Transport it runs on.
    pub transport: String,
    /// What feeds each kind: the source stream and the track (`<trackId>` or
    /// `<trackId>:<rid>`) the data plane takes it from. It ends with any of these streams.
    pub sources: Vec<SubSource>,
    /// The subscription reported `ready` to its owner.
    pub ready: bool,
}

/// An operation declared on a transport and waiting for the client's offer.
#[derive(Clone, Debug, PartialEq)]
pub enum PendingOp {
    /// `publish`, with the publication's attributes.
    Publish(tessera_schema::control::PublishSpec, Value),
    /// `subscribe`, with the source of each kind.
    Subscribe(tessera_schema::control::SubscribeSpec, Vec<SubSource>),
}

/// A portal client's peer connection as the room sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct TransportInfo {
    /// Transport id.
    pub id: String,
    /// Owner participant.
    pub owner: String,
    /// ICE and DTLS are up.
    pub ready: bool,
    /// Operations waiting for the next offer.
    pub pending: Vec<PendingOp>,
}

/// What ending a transport's sessions removed.
#[derive(Debug, Default)]
pub struct Ended {
    /// Publications that were on the transport.
    pub streams: Vec<Stream>,
    /// Subscriptions that were on the transport.
    pub subscriptions: Vec<Subscription>,
    /// Subscriptions on other transports that were fed by the removed publications.
    pub fed: Vec<Subscription>,
}

/// The live state of a room.
#[derive(Debug)]
pub struct RoomState {
    pub(crate) config: RoomConfig,
    pub(crate) participants: Vec<Participant>,
    pub(crate) streams: Vec<Stream>,
    pub(crate) subscriptions: Vec<Subscription>,
    pub(crate) transports: Vec<TransportInfo>,
}

impl RoomState {
    pub(crate) fn new(config: RoomConfig) -> RoomState {
        RoomState {
            config,
            participants: Vec::new(),
            streams: Vec::new(),
            subscriptions: Vec::new(),
            transports: Vec::new(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.participants.is_empty() && self.streams.is_empty() && self.subscriptions.is_empty()
    }

    pub(crate) fn permission_of(&self, role: &str) -> Option<Permission> {
        self.config
            .roles
            .iter()
            .find(|r| r.role == role)
            .map(|r| Permission {
                publish: r.publish,
                subscribe: r.subscribe,
            })
    }

    pub(crate) fn stream(&self, id: &str) -> Option<&Stream> {
        self.streams.iter().find(|s| s.id == id)
    }

    /// The stream a player may subscribe to now: `404` if the room has no such stream, `503`
    /// (retry) while its publisher has not connected, since a publication is listed only then.
    pub(crate) fn playable_stream(&self, id: &str) -> Result<&Stream, tessera_api::ApiError> {
        match self.stream(id) {
            Some(s) if s.ready => Ok(s),
            Some(_) => Err(tessera_api::ApiError::stream_not_ready()),
            None => Err(tessera_api::ApiError::stream_not_found()),
        }
    }

    pub(crate) fn participant(&self, id: &str) -> Option<&Participant> {
        self.participants.iter().find(|p| p.id == id)
    }

    /// Records a video resolution the data plane reported for `<trackId>` or, for one
    /// simulcast layer, `<trackId>:<rid>`.
    pub(crate) fn set_resolution(&mut self, track_id: &str, w: u32, h: u32) {
        let (base, rid) = match track_id.split_once(':') {
            Some((b, r)) => (b, Some(r)),
            None => (track_id, None),
        };
        for s in &mut self.streams {
            for t in &mut s.tracks {
                if t.id == base {
                    t.set_resolution(rid, w, h);
                }
            }
        }
    }

    /// Sends a notification to one participant (portal clients only).
    pub(crate) fn notify(&self, pid: &str, event: &'static str, data: Value) {
        if let Some(n) = self
            .participants
            .iter()
            .find(|p| p.id == pid)
            .and_then(|p| p.notifier.as_ref())
        {
            n.notify(event, notice(&data));
        }
    }

    /// Sends a notification to every portal participant except `except`, serialized once.
    pub(crate) fn broadcast(&self, event: &'static str, data: &Value, except: Option<&str>) {
        let mut shared: Option<Notice> = None;
        for p in &self.participants {
            if Some(p.id.as_str()) == except {
                continue;
            }
            if let Some(n) = &p.notifier {
                let d = shared.get_or_insert_with(|| notice(data));
                n.notify(event, d.clone());
            }
        }
    }

    /// Announces a stream change to everyone, if the room notifies stream changes.
    pub(crate) fn stream_event(&self, data: Value) {
        if self.config.notifying.stream_change {
            self.broadcast("stream", &data, None);
        }
    }

    /// Announces a participant change to everyone but `except`, if the room notifies them.
    pub(crate) fn participant_event(&self, data: Value, except: Option<&str>) {
        if self.config.notifying.participant_activities {
            self.broadcast("participant", &data, except);
        }
    }

    /// Removes the publications and subscriptions carried by a transport, and the
    /// subscriptions those publications fed.
    pub(crate) fn end_transport(&mut self, transport: &str) -> Ended {
        let mut ended = Ended::default();
        let (gone, kept): (Vec<Stream>, Vec<Stream>) = std::mem::take(&mut self.streams)
            .into_iter()
            .partition(|s| s.transport == transport);
        self.streams = kept;
        let gone_ids: Vec<&str> = gone.iter().map(|s| s.id.as_str()).collect();
        let (mine, others): (Vec<Subscription>, Vec<Subscription>) =
            std::mem::take(&mut self.subscriptions)
                .into_iter()
                .partition(|s| s.transport == transport);
        let (fed, kept): (Vec<Subscription>, Vec<Subscription>) = others
            .into_iter()
            .partition(|s| gone_ids.iter().any(|g| s.fed_by(g)));
        self.subscriptions = kept;
        self.transports.retain(|t| t.id != transport);
        ended.streams = gone;
        ended.subscriptions = mine;
        ended.fed = fed;
        ended
    }

    /// Removes one publication and the subscriptions it fed.
    pub(crate) fn end_stream(&mut self, id: &str) -> Option<(Stream, Vec<Subscription>)> {
        let pos = self.streams.iter().position(|s| s.id == id)?;
        let stream = self.streams.remove(pos);
        let (fed, kept): (Vec<Subscription>, Vec<Subscription>) =
            std::mem::take(&mut self.subscriptions)
                .into_iter()
                .partition(|s| s.fed_by(id));
        self.subscriptions = kept;
        Some((stream, fed))
    }
}
