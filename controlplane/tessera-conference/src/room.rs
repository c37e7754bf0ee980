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
}

/// A participant.
#[derive(Clone, Debug, PartialEq)]
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

/// A subscription.
#[derive(Clone, Debug, PartialEq)]
pub struct Subscription {
    /// Subscription id.
    pub id: String,
    /// Subscriber.
    pub owner: String,
    /// Transport it runs on.
    pub transport: String,
    /// Source stream.
    pub stream: String,
}

/// What removing a transport left behind for the caller to close.
#[derive(Debug, Default)]
pub struct Removed {
    /// Transports of WHEP players whose source disappeared.
    pub orphaned_transports: Vec<String>,
}

/// The live state of a room.
#[derive(Debug)]
pub struct RoomState {
    pub(crate) config: RoomConfig,
    pub(crate) participants: Vec<Participant>,
    pub(crate) streams: Vec<Stream>,
    pub(crate) subscriptions: Vec<Subscription>,
}

impl RoomState {
    pub(crate) fn new(config: RoomConfig) -> RoomState {
        RoomState {
            config,
            participants: Vec::new(),
            streams: Vec::new(),
            subscriptions: Vec::new(),
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

    pub(crate) fn participant(&self, id: &str) -> Option<&Participant> {
        self.participants.iter().find(|p| p.id == id)
    }

    pub(crate) fn set_resolution(&mut self, track_id: &str, w: u32, h: u32) {
        for s in &mut self.streams {
            for t in &mut s.tracks {
                if t.id == track_id {
                    t.resolution = Some((w, h));
                }
            }
        }
    }

    /// Removes a transport's participant, streams and subscriptions. Subscriptions of other
    /// transports fed by removed streams are removed too; WHEP players among them lose their
    /// reason to exist and are returned for closing.
    pub(crate) fn remove_transport(&mut self, transport: &str) -> Removed {
        let mut removed = Removed::default();
        let gone_streams: Vec<String> = self
            .streams
            .iter()
            .filter(|s| s.transport == transport)
            .map(|s| s.id.clone())
            .collect();
        self.streams.retain(|s| s.transport != transport);
        self.subscriptions.retain(|s| s.transport != transport);
        let fed: Vec<Subscription> = self
            .subscriptions
            .iter()
            .filter(|s| gone_streams.contains(&s.stream))
            .cloned()
            .collect();
        self.subscriptions
            .retain(|s| !gone_streams.contains(&s.stream));
        for sub in fed {
            if let Some(p) = self
                .participants
                .iter()
                .find(|p| p.id == sub.owner && p.origin == Origin::Whep)
            {
                removed.orphaned_transports.push(p.transport.clone());
            }
        }
        let orphans = removed.orphaned_transports.clone();
        self.participants
            .retain(|p| p.transport != transport && !orphans.contains(&p.transport));
        removed
    }
}
