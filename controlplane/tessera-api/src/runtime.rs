//! Runtime sub-resources of a room (participants, streams, streaming-ins/outs, recordings,
//! SIP calls, analytics; spec §2.5–§2.8). They are answered by whoever holds the room's live
//! state — the conference agent — through [`RoomRuntime`]. Until a component provides a
//! resource, [`Unavailable`] answers `501` with a body saying so: never a fake success.

use async_trait::async_trait;
use http::Method;
use serde_json::Value;
use tessera_schema::room::Room;

use crate::error::ApiError;

/// A runtime resource kind under `/v1[.1]/rooms/{room}/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    /// `participants`
    Participants,
    /// `streams`
    Streams,
    /// `streaming-ins`
    StreamingIns,
    /// `streaming-outs`
    StreamingOuts,
    /// `recordings`
    Recordings,
    /// `sipcalls`
    SipCalls,
    /// `analytics`
    Analytics,
}

impl Resource {
    /// The resource for a path segment.
    pub fn from_segment(s: &str) -> Option<Resource> {
        Some(match s {
            "participants" => Resource::Participants,
            "streams" => Resource::Streams,
            "streaming-ins" => Resource::StreamingIns,
            "streaming-outs" => Resource::StreamingOuts,
            "recordings" => Resource::Recordings,
            "sipcalls" => Resource::SipCalls,
            "analytics" => Resource::Analytics,
            _ => return None,
        })
    }

    /// The path segment.
    pub fn segment(self) -> &'static str {
        match self {
            Resource::Participants => "participants",
            Resource::Streams => "streams",
            Resource::StreamingIns => "streaming-ins",
            Resource::StreamingOuts => "streaming-outs",
            Resource::Recordings => "recordings",
            Resource::SipCalls => "sipcalls",
            Resource::Analytics => "analytics",
        }
    }
}

/// `/v1` or `/v1.1` (they differ in the stream format, spec §2.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiVersion {
    /// `/v1`
    V1,
    /// `/v1.1`
    V1_1,
}

/// One request on a runtime resource of a room the caller owns.
#[derive(Clone, Debug)]
pub struct RuntimeRequest {
    /// Path version.
    pub version: ApiVersion,
    /// Resource kind.
    pub resource: Resource,
    /// Item id (`/streams/{id}`), validated against `^[0-9a-zA-Z\-_]+$`.
    pub id: Option<String>,
    /// HTTP method.
    pub method: Method,
    /// Parsed body (`Null` when empty).
    pub body: Value,
    /// `GET /streams/{id}/stats` (a Tessera extension): the stream's media counters.
    pub stats: bool,
}

/// What a runtime request answers.
#[derive(Clone, Debug, PartialEq)]
pub enum RuntimeReply {
    /// `200` with a JSON body.
    Json(Value),
    /// `200` with an empty body (most DELETEs).
    Empty,
}

/// Who called a WHIP/WHEP endpoint, from the bearer token they presented.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Token's user.
    pub user: String,
    /// Token's role (one of the room's roles).
    pub role: String,
    /// Token id; later requests on the created resource must present the same token.
    pub token_id: String,
}

/// A WHIP/WHEP session created by a POST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaSession {
    /// The SDP answer.
    pub answer: String,
    /// The resource path to DELETE (and PATCH), e.g. `/whip/{room}/{streamId}`.
    pub location: String,
}

/// Whoever holds rooms' live state.
#[async_trait]
pub trait RoomRuntime: Send + Sync + std::fmt::Debug + 'static {
    /// Answers a runtime request for `room`.
    async fn handle(&self, room: &Room, req: RuntimeRequest) -> Result<RuntimeReply, ApiError>;
    /// The room was deleted: end its sessions and drop its participants.
    async fn room_deleted(&self, room: &Room);
    /// The room's configuration changed.
    async fn room_updated(&self, room: &Room);
    /// WHIP (RFC 9725): publish the offer's media in `room`.
    async fn whip_publish(
        &self,
        _room: &Room,
        _caller: Caller,
        _offer: String,
    ) -> Result<MediaSession, ApiError> {
        Err(ApiError::not_implemented(
            "Not implemented: WHIP needs the WebRTC data plane, which this build does not include",
        ))
    }
    /// WHEP: play `stream` of `room` to the offerer (an empty `offer`: the server offers, and
    /// the session's answer comes through [`RoomRuntime::whep_answer`]).
    async fn whep_play(
        &self,
        _room: &Room,
        _stream: &str,
        _caller: Caller,
        _offer: String,
    ) -> Result<MediaSession, ApiError> {
        Err(ApiError::not_implemented(
            "Not implemented: WHEP needs the WebRTC data plane, which this build does not include",
        ))
    }
    /// `503` if `stream` of `room` exists but cannot be played yet. A WHEP POST asks before
    /// it takes its single-use token, so that a player told to retry can retry with the same
    /// token.
    async fn whep_playable(&self, _room: &Room, _stream: &str) -> Result<(), ApiError> {
        Ok(())
    }
    /// Ends a WHIP/WHEP session (`resource` is the last path segment of its location).
    async fn end_media_session(
        &self,
        _room: &Room,
        _resource: &str,
        _token_id: &str,
    ) -> Result<(), ApiError> {
        Err(ApiError::not_found_msg("Session not found"))
    }
    /// The player's SDP answer to the offer a WHEP POST without a body got.
    async fn whep_answer(
        &self,
        _room: &Room,
        _resource: &str,
        _token_id: &str,
        _answer: String,
    ) -> Result<(), ApiError> {
        Err(ApiError::not_found_msg("Session not found"))
    }
    /// Trickled ICE candidates for a WHIP/WHEP session (`a=candidate:` lines).
    async fn trickle(
        &self,
        _room: &Room,
        _resource: &str,
        _token_id: &str,
        _candidates: Vec<String>,
    ) -> Result<(), ApiError> {
        Err(ApiError::not_found_msg("Session not found"))
    }
}

/// The runtime of a build without the conference agent: every runtime resource answers 501.
#[derive(Debug, Default)]
pub struct Unavailable;

#[async_trait]
impl RoomRuntime for Unavailable {
    async fn handle(&self, _room: &Room, req: RuntimeRequest) -> Result<RuntimeReply, ApiError> {
        Err(not_implemented(req.resource))
    }
    async fn room_deleted(&self, _room: &Room) {}
    async fn room_updated(&self, _room: &Room) {}
}

/// The 501 error for a resource this build does not serve.
pub fn not_implemented(resource: Resource) -> ApiError {
    let what = match resource {
        Resource::Participants => {
            "participants are served by the conference agent, which this build does not include yet"
        }
        Resource::Streams => {
            "streams are served by the conference agent, which this build does not include yet"
        }
        Resource::StreamingIns | Resource::StreamingOuts => {
            "streaming-ins/outs need the streaming agent, which this build does not include yet"
        }
        Resource::Recordings => {
            "recordings need the recording agent, which this build does not include yet"
        }
        Resource::SipCalls => "SIP calls need the SIP agent, which this build does not include yet",
        Resource::Analytics => {
            "analytics need the analytics agent, which this build does not include yet"
        }
    };
    ApiError::not_implemented(format!("Not implemented: {what}"))
}
