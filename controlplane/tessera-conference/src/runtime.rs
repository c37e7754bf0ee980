//! The conference as the management API's [`RoomRuntime`]: REST runtime resources and
//! WHIP/WHEP sessions.

use async_trait::async_trait;
use http::Method;
use serde_json::{Value, json};
use tessera_api::ApiError;
use tessera_api::runtime::{
    Caller, MediaSession, Resource, RoomRuntime, RuntimeReply, RuntimeRequest, not_implemented,
};
use tessera_schema::control::{
    MediaError, OfferRequest, PublishSpec, PublishTrackSpec, SubscribeSpec, SubscribeTrackSpec,
    TrackKind, TransportStats,
};
use tessera_schema::room::Room;
use tessera_schema::sdp::{Direction, Kind, Offer};

use crate::Conference;
use crate::ids::{participant_id, session_id};
use crate::room::{
    Origin, Participant, Permission, RoomState, SubSource, Subscription, TransportInfo,
};
use crate::stream::{Stream, Track};

/// A data-plane refusal as an HTTP error.
pub(crate) fn media_error(e: MediaError) -> ApiError {
    match e {
        MediaError::BadSdp(_)
        | MediaError::NoCodec(_)
        | MediaError::NoSuchMid { .. }
        | MediaError::Renegotiation(_) => ApiError::bad_request(e.to_string()),
        MediaError::NoSource(_) | MediaError::NoTransport(_) => {
            ApiError::not_found_msg(e.to_string())
        }
        MediaError::Unavailable(_) => ApiError::unavailable(e.to_string()),
        MediaError::Internal(_) => ApiError::internal(e.to_string()),
    }
}

pub(crate) fn kind_of(k: Kind) -> TrackKind {
    match k {
        Kind::Audio => TrackKind::Audio,
        Kind::Video => TrackKind::Video,
    }
}

/// Adds a participant and tells the room.
pub(crate) fn add_participant(st: &mut RoomState, p: Participant) {
    let data = json!({"action": "join", "data": {"id": p.id, "user": p.user, "role": p.role}});
    let id = p.id.clone();
    st.participants.push(p);
    st.participant_event(data, Some(&id));
}

impl Conference {
    async fn whip(
        &self,
        room: &Room,
        caller: Caller,
        sdp: String,
    ) -> Result<MediaSession, ApiError> {
        let state = self.room_state(room);
        let mut st = state.lock().await;
        st.config = room.config.clone();
        let result = self.whip_locked(&mut st, room, caller, sdp).await;
        self.drop_room_if_empty(room.id, &st);
        result
    }

    async fn whip_locked(
        &self,
        st: &mut RoomState,
        room: &Room,
        caller: Caller,
        sdp: String,
    ) -> Result<MediaSession, ApiError> {
        let perm = st.permission_of(&caller.role).ok_or_else(|| {
            ApiError::forbidden(format!(
                "Role '{}' is not defined in this room",
                caller.role
            ))
        })?;
        if !perm.publish.audio && !perm.publish.video {
            return Err(ApiError::forbidden(format!(
                "Role '{}' may not publish",
                caller.role
            )));
        }
        let limit = st.config.input_limit;
        if limit >= 0 && st.streams.len() as i64 >= limit {
            return Err(ApiError::forbidden("Too many inputs"));
        }
        if st.config.participant_limit > 0
            && st.participants.len() as i64 >= st.config.participant_limit
        {
            return Err(ApiError::forbidden("Room is full"));
        }
        let offer =
            Offer::parse(&sdp).map_err(|e| ApiError::bad_request(format!("Invalid SDP: {e}")))?;
        let mut tracks = Vec::new();
        for m in &offer.media {
            let (Some(kind), Some(mid)) = (m.kind, m.mid.clone()) else {
                continue;
            };
            if !matches!(m.direction, Direction::SendOnly | Direction::SendRecv) || m.is_disabled()
            {
                continue;
            }
            let allowed = match kind {
                Kind::Audio => perm.publish.audio && !st.config.media_in.audio.is_empty(),
                Kind::Video => perm.publish.video && !st.config.media_in.video.is_empty(),
            };
            if allowed
                && !tracks
                    .iter()
                    .any(|t: &PublishTrackSpec| t.kind == kind_of(kind))
            {
                let source = Some(if kind == Kind::Audio { "mic" } else { "camera" }.to_string());
                tracks.push(PublishTrackSpec {
                    mid,
                    kind: kind_of(kind),
                    source,
                });
            }
        }
        if tracks.is_empty() {
            return Err(ApiError::bad_request(
                "The offer has no audio or video this role may publish in this room",
            ));
        }
        let stream_id = session_id();
        let pid = participant_id();
        let req = OfferRequest {
            transport_id: stream_id.clone(),
            room_id: room.id.to_hex(),
            owner: pid.clone(),
            sdp,
            publish: vec![PublishSpec {
                stream_id: stream_id.clone(),
                tracks,
                accept_audio: st.config.media_in.audio.clone(),
                accept_video: st.config.media_in.video.clone(),
            }],
            subscribe: vec![],
        };
        self.bind_transport(&stream_id, room.id);
        let answer = match self.media.offer(req).await {
            Ok(a) => a,
            Err(e) => {
                self.unbind_transport(&stream_id);
                return Err(media_error(e));
            }
        };
        let tracks = answer
            .published
            .iter()
            .map(|t| Track {
                id: t.track_id.clone(),
                kind: t.kind,
                source: t.source.clone(),
                format: t.format.clone(),
                mid: t.mid.clone(),
                rids: t.rids.clone(),
                active: true,
                resolution: None,
                layer_resolutions: Vec::new(),
            })
            .collect();
        st.streams.push(Stream {
            id: stream_id.clone(),
            owner: pid.clone(),
            kind: "webrtc",
            transport: stream_id.clone(),
            tracks,
            attributes: Value::Null,
            in_views: vec![],
            ready: false,
        });
        st.transports.push(TransportInfo {
            id: stream_id.clone(),
            owner: pid.clone(),
            ready: false,
            pending: vec![],
        });
        add_participant(
            st,
            Participant {
                id: pid.clone(),
                user: caller.user,
                role: caller.role,
                permission: perm,
                origin: Origin::Whip,
                resource: stream_id.clone(),
                transport: stream_id.clone(),
                token_id: caller.token_id,
                notifier: None,
            },
        );
        tracing::info!(target: "tessera::room", room = %room.id, participant = %pid, stream = %stream_id, "WHIP publication");
        Ok(MediaSession {
            answer: answer.sdp,
            location: format!("/whip/{}/{stream_id}", room.id),
        })
    }

    async fn whep(
        &self,
        room: &Room,
        stream_id: &str,
        caller: Caller,
        sdp: String,
    ) -> Result<MediaSession, ApiError> {
        let state = self.room_state(room);
        let mut st = state.lock().await;
        let result = self
            .whep_locked(&mut st, room, stream_id, caller, sdp)
            .await;
        self.drop_room_if_empty(room.id, &st);
        result
    }

    async fn whep_locked(
        &self,
        st: &mut RoomState,
        room: &Room,
        stream_id: &str,
        caller: Caller,
        sdp: String,
    ) -> Result<MediaSession, ApiError> {
        let perm = st.permission_of(&caller.role).ok_or_else(|| {
            ApiError::forbidden(format!(
                "Role '{}' is not defined in this room",
                caller.role
            ))
        })?;
        if !perm.subscribe.audio && !perm.subscribe.video {
            return Err(ApiError::forbidden(format!(
                "Role '{}' may not subscribe",
                caller.role
            )));
        }
        let stream = st.playable_stream(stream_id)?.clone();
        if st.config.participant_limit > 0
            && st.participants.len() as i64 >= st.config.participant_limit
        {
            return Err(ApiError::forbidden("Room is full"));
        }
        // No offer: the server offers the stream's tracks (mids 0, 1, ... in the stream's track
        // order) and the player answers with PATCH (`whep_answer`).
        let server_offer = sdp.trim().is_empty();
        let mut tracks = Vec::new();
        if server_offer {
            for src in &stream.tracks {
                let allowed = if src.kind == TrackKind::Audio {
                    perm.subscribe.audio
                } else {
                    perm.subscribe.video
                };
                if allowed
                    && !tracks
                        .iter()
                        .any(|t: &SubscribeTrackSpec| t.kind == src.kind)
                {
                    tracks.push(SubscribeTrackSpec {
                        mid: tracks.len().to_string(),
                        kind: src.kind,
                        from: src.id.clone(),
                    });
                }
            }
        }
        let offer = if server_offer {
            None
        } else {
            Some(
                Offer::parse(&sdp)
                    .map_err(|e| ApiError::bad_request(format!("Invalid SDP: {e}")))?,
            )
        };
        for m in offer.iter().flat_map(|o| o.media.iter()) {
            let (Some(kind), Some(mid)) = (m.kind, m.mid.clone()) else {
                continue;
            };
            if !matches!(m.direction, Direction::RecvOnly | Direction::SendRecv) || m.is_disabled()
            {
                continue;
            }
            let kind = kind_of(kind);
            let allowed = if kind == TrackKind::Audio {
                perm.subscribe.audio
            } else {
                perm.subscribe.video
            };
            if !allowed || tracks.iter().any(|t: &SubscribeTrackSpec| t.kind == kind) {
                continue;
            }
            if let Some(src) = stream.tracks.iter().find(|t| t.kind == kind) {
                tracks.push(SubscribeTrackSpec {
                    mid,
                    kind,
                    from: src.id.clone(),
                });
            }
        }
        if tracks.is_empty() {
            return Err(ApiError::bad_request(
                "The offer has no receiving m-line matching the stream's media this role may subscribe",
            ));
        }
        let sub_id = session_id();
        let pid = participant_id();
        let sources: Vec<SubSource> = tracks
            .iter()
            .map(|t| SubSource {
                kind: t.kind,
                stream: stream_id.to_string(),
                from: t.from.clone(),
            })
            .collect();
        let req = OfferRequest {
            transport_id: sub_id.clone(),
            room_id: room.id.to_hex(),
            owner: pid.clone(),
            sdp,
            publish: vec![],
            subscribe: vec![SubscribeSpec {
                subscription_id: sub_id.clone(),
                tracks,
            }],
        };
        self.bind_transport(&sub_id, room.id);
        let answer = if server_offer {
            self.media.offer_subscription(req).await
        } else {
            self.media.offer(req).await
        };
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                self.unbind_transport(&sub_id);
                return Err(media_error(e));
            }
        };
        st.subscriptions.push(Subscription {
            id: sub_id.clone(),
            owner: pid.clone(),
            transport: sub_id.clone(),
            sources,
            ready: false,
        });
        st.transports.push(TransportInfo {
            id: sub_id.clone(),
            owner: pid.clone(),
            ready: false,
            pending: vec![],
        });
        add_participant(
            st,
            Participant {
                id: pid.clone(),
                user: caller.user,
                role: caller.role,
                permission: perm,
                origin: Origin::Whep,
                resource: sub_id.clone(),
                transport: sub_id.clone(),
                token_id: caller.token_id,
                notifier: None,
            },
        );
        tracing::info!(target: "tessera::room", room = %room.id, participant = %pid, subscription = %sub_id, stream = %stream_id, "WHEP subscription");
        Ok(MediaSession {
            answer: answer.sdp,
            location: format!("/whep/{}/{stream_id}/{sub_id}", room.id),
        })
    }

    /// The transport of the WHIP/WHEP session `resource` (of `origin` only, if given), when
    /// `token_id` owns it.
    async fn session_transport(
        &self,
        room: &Room,
        resource: &str,
        token_id: &str,
        origin: Option<Origin>,
    ) -> Result<String, ApiError> {
        let Some(state) = self.existing_room(room.id) else {
            return Err(ApiError::not_found_msg("Session not found"));
        };
        let st = state.lock().await;
        let pid = Self::session_owner(&st, resource, token_id)?;
        st.participant(&pid)
            .filter(|p| origin.is_none_or(|o| p.origin == o))
            .map(|p| p.transport.clone())
            .ok_or_else(|| ApiError::not_found_msg("Session not found"))
    }

    fn session_owner(st: &RoomState, resource: &str, token_id: &str) -> Result<String, ApiError> {
        let p = st
            .participants
            .iter()
            .find(|p| p.origin != Origin::Portal && p.resource == resource)
            .ok_or_else(|| ApiError::not_found_msg("Session not found"))?;
        if p.token_id != token_id {
            return Err(ApiError::forbidden("The session belongs to another token"));
        }
        Ok(p.id.clone())
    }

    async fn end_whip_whep(
        &self,
        room: &Room,
        resource: &str,
        token_id: &str,
    ) -> Result<(), ApiError> {
        let Some(state) = self.existing_room(room.id) else {
            return Err(ApiError::not_found_msg("Session not found"));
        };
        let mut st = state.lock().await;
        let pid = Self::session_owner(&st, resource, token_id)?;
        self.remove_participant(&mut st, &pid).await;
        self.drop_room_if_empty(room.id, &st);
        Ok(())
    }

    /// Removes a participant on the management API's or the room's request: portal clients get
    /// `drop` and are disconnected.
    pub(crate) async fn drop_participant(&self, st: &mut RoomState, pid: &str) {
        if let Some(n) = st.participant(pid).and_then(|p| p.notifier.clone()) {
            n.drop_client();
        }
        self.remove_participant(st, pid).await;
    }

    async fn participants(
        &self,
        room: &Room,
        req: &RuntimeRequest,
    ) -> Result<RuntimeReply, ApiError> {
        let Some(state) = self.existing_room(room.id) else {
            return match req.id {
                None if req.method == Method::GET => Ok(RuntimeReply::Json(Value::Array(vec![]))),
                _ => Err(ApiError::participant_not_found()),
            };
        };
        let mut st = state.lock().await;
        let Some(id) = req.id.clone() else {
            return Ok(RuntimeReply::Json(Value::Array(
                st.participants.iter().map(Participant::detail).collect(),
            )));
        };
        let p = st
            .participant(&id)
            .cloned()
            .ok_or_else(ApiError::participant_not_found)?;
        match req.method {
            Method::GET => Ok(RuntimeReply::Json(p.detail())),
            Method::DELETE => {
                self.drop_participant(&mut st, &id).await;
                self.drop_room_if_empty(room.id, &st);
                Ok(RuntimeReply::Empty)
            }
            Method::PATCH => {
                let perm = apply_permission_patch(p.permission, &req.body).map_err(|m| {
                    ApiError::bad_request(format!("Invalid participant update: {m}"))
                })?;
                let slot = st
                    .participants
                    .iter_mut()
                    .find(|x| x.id == id)
                    .ok_or_else(ApiError::participant_not_found)?;
                slot.permission = perm;
                Ok(RuntimeReply::Json(slot.detail()))
            }
            _ => Err(ApiError::not_found()),
        }
    }

    /// `GET /streams/{id}/stats`: the publication's m-lines on its transport, and each
    /// subscription to it with its m-lines. A transport the data plane no longer knows (it is
    /// closing) is reported with `state: "closed"` and no tracks.
    async fn stream_stats(&self, stream: &Stream, subs: &[Subscription]) -> Value {
        // A subscription's m-lines of the kinds this stream feeds.
        let part = |t: Result<TransportStats, MediaError>,
                    transport: &str,
                    session: &str,
                    kinds: &dyn Fn(TrackKind) -> bool| {
            let (state, remote, tracks) = match t {
                Ok(t) => (
                    t.state,
                    t.remote_address,
                    t.tracks
                        .into_iter()
                        .filter(|k| k.session_id == session && kinds(k.kind))
                        .collect(),
                ),
                Err(_) => ("closed".to_string(), None, Vec::new()),
            };
            json!({
                "transport": {"id": transport, "state": state, "remoteAddress": remote},
                "tracks": tracks,
            })
        };
        let mut v = part(
            self.media.transport_stats(&stream.transport).await,
            &stream.transport,
            &stream.id,
            &|_| true,
        );
        v["id"] = json!(stream.id);
        let mut out = Vec::with_capacity(subs.len());
        for sub in subs {
            let fed = |k: TrackKind| {
                sub.sources
                    .iter()
                    .any(|s| s.kind == k && s.stream == stream.id)
            };
            let mut s = part(
                self.media.transport_stats(&sub.transport).await,
                &sub.transport,
                &sub.id,
                &fed,
            );
            s["id"] = json!(sub.id);
            s["participant"] = json!(sub.owner);
            out.push(s);
        }
        v["subscriptions"] = Value::Array(out);
        v
    }

    async fn streams(&self, room: &Room, req: &RuntimeRequest) -> Result<RuntimeReply, ApiError> {
        let v1_1 = req.version == tessera_api::runtime::ApiVersion::V1_1;
        let Some(state) = self.existing_room(room.id) else {
            return match req.id {
                None if req.method == Method::GET => Ok(RuntimeReply::Json(Value::Array(vec![]))),
                _ => Err(ApiError::stream_not_found()),
            };
        };
        let mut st = state.lock().await;
        let Some(id) = req.id.clone() else {
            return Ok(RuntimeReply::Json(Value::Array(
                st.streams
                    .iter()
                    .filter(|s| s.ready)
                    .map(|s| s.rest_info(v1_1))
                    .collect(),
            )));
        };
        let stream = st
            .stream(&id)
            .filter(|s| s.ready)
            .cloned()
            .ok_or_else(ApiError::stream_not_found)?;
        if req.stats {
            let subs: Vec<_> = st
                .subscriptions
                .iter()
                .filter(|s| s.fed_by(&stream.id))
                .cloned()
                .collect();
            drop(st);
            return Ok(RuntimeReply::Json(self.stream_stats(&stream, &subs).await));
        }
        match req.method {
            Method::GET => Ok(RuntimeReply::Json(stream.rest_info(v1_1))),
            Method::DELETE => {
                let owner = st.participant(&stream.owner).cloned();
                match owner {
                    Some(p) if p.origin == Origin::Whip => {
                        self.remove_participant(&mut st, &p.id).await
                    }
                    _ => {
                        let _ = self.media.end_session(&stream.transport, &stream.id).await;
                        if let Some((s, fed)) = st.end_stream(&id) {
                            st.notify(&s.owner, "progress", json!({"id": s.transport, "sessionId": s.id, "status": "error", "data": "Stream deleted"}));
                            self.end_fed(&mut st, fed).await;
                            st.stream_event(json!({"id": s.id, "status": "remove"}));
                        }
                    }
                }
                self.drop_room_if_empty(room.id, &st);
                Ok(RuntimeReply::Empty)
            }
            Method::PATCH => {
                let ops = req.body.as_array().ok_or_else(|| {
                    ApiError::bad_request("Invalid stream update: expected an array of operations")
                })?;
                for op in ops {
                    let (o, p) = (
                        op.get("op").and_then(Value::as_str),
                        op.get("path").and_then(Value::as_str),
                    );
                    match (o, p, op.get("value").and_then(Value::as_str)) {
                        (
                            Some("replace"),
                            Some(path @ ("/media/audio/status" | "/media/video/status")),
                            Some(v @ ("active" | "inactive")),
                        ) => {
                            let kind = if path.contains("audio") {
                                TrackKind::Audio
                            } else {
                                TrackKind::Video
                            };
                            self.set_stream_kind_active(&mut st, &id, kind, v == "active")
                                .await
                                .map_err(ApiError::operation_failed)?;
                        }
                        (_, Some(p), _)
                            if p.starts_with("/info/inViews") || p.starts_with("/info/layout") =>
                        {
                            return Err(ApiError::not_implemented(
                                "Not implemented: mixing streams into views needs the video and audio mixers, which this build does not include yet",
                            ));
                        }
                        _ => {
                            return Err(ApiError::bad_request(format!(
                                "Invalid stream update operation: {op}"
                            )));
                        }
                    }
                }
                let s = st
                    .stream(&id)
                    .cloned()
                    .ok_or_else(ApiError::stream_not_found)?;
                Ok(RuntimeReply::Json(s.rest_info(v1_1)))
            }
            _ => Err(ApiError::not_found()),
        }
    }

    /// Mutes or unmutes one kind of a stream and tells the room (OWT `stream update`).
    pub(crate) async fn set_stream_kind_active(
        &self,
        st: &mut RoomState,
        id: &str,
        kind: TrackKind,
        active: bool,
    ) -> Result<(), String> {
        let stream = st.stream(id).cloned().ok_or("Stream does NOT exist")?;
        let ids: Vec<String> = stream
            .tracks
            .iter()
            .filter(|t| t.kind == kind)
            .map(|t| t.id.clone())
            .collect();
        if ids.is_empty() {
            return Err("Stream does NOT contain valid track to mute/unmute".into());
        }
        for tid in &ids {
            self.media
                .set_track_active(tid, active)
                .await
                .map_err(|e| e.to_string())?;
        }
        if let Some(s) = st.streams.iter_mut().find(|s| s.id == id) {
            for t in s.tracks.iter_mut().filter(|t| t.kind == kind) {
                t.active = active;
            }
        }
        let field = if kind == TrackKind::Audio {
            "audio.status"
        } else {
            "video.status"
        };
        st.stream_event(json!({"id": id, "status": "update", "data": {"field": field, "value": if active { "active" } else { "inactive" }}}));
        Ok(())
    }
}

/// OWT's participant PATCH (spec §2.5): replace `/permission/publish`, `/permission/subscribe`
/// (`{audio, video}`) or one switch (`/permission/publish/audio`: bool).
fn apply_permission_patch(mut perm: Permission, body: &Value) -> Result<Permission, String> {
    let ops = body.as_array().ok_or("expected an array of operations")?;
    for op in ops {
        if op.get("op").and_then(Value::as_str) != Some("replace") {
            return Err(format!("unsupported operation {op}"));
        }
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or("missing path")?;
        let value = op.get("value").ok_or("missing value")?;
        let pair = |v: &Value| -> Result<tessera_schema::room::AudioVideo, String> {
            match (
                v.get("audio").and_then(Value::as_bool),
                v.get("video").and_then(Value::as_bool),
            ) {
                (Some(audio), Some(video)) => Ok(tessera_schema::room::AudioVideo { audio, video }),
                _ => Err("value must be {audio: bool, video: bool}".into()),
            }
        };
        let flag = || {
            value
                .as_bool()
                .ok_or_else(|| "value must be a boolean".to_string())
        };
        match path {
            "/permission/publish" => perm.publish = pair(value)?,
            "/permission/subscribe" => perm.subscribe = pair(value)?,
            "/permission/publish/audio" => perm.publish.audio = flag()?,
            "/permission/publish/video" => perm.publish.video = flag()?,
            "/permission/subscribe/audio" => perm.subscribe.audio = flag()?,
            "/permission/subscribe/video" => perm.subscribe.video = flag()?,
            other => return Err(format!("unknown path {other}")),
        }
    }
    Ok(perm)
}

#[async_trait]
impl RoomRuntime for Conference {
    async fn handle(&self, room: &Room, req: RuntimeRequest) -> Result<RuntimeReply, ApiError> {
        match req.resource {
            Resource::Participants => self.participants(room, &req).await,
            Resource::Streams => self.streams(room, &req).await,
            other => Err(not_implemented(other)),
        }
    }

    async fn room_deleted(&self, room: &Room) {
        let Some(state) = self.existing_room(room.id) else {
            return;
        };
        let mut st = state.lock().await;
        let pids: Vec<String> = st.participants.iter().map(|p| p.id.clone()).collect();
        for pid in pids {
            self.drop_participant(&mut st, &pid).await;
        }
        self.rooms.lock().expect("rooms lock").remove(&room.id);
    }

    async fn room_updated(&self, room: &Room) {
        if let Some(state) = self.existing_room(room.id) {
            state.lock().await.config = room.config.clone();
        }
    }

    async fn whip_publish(
        &self,
        room: &Room,
        caller: Caller,
        offer: String,
    ) -> Result<MediaSession, ApiError> {
        self.whip(room, caller, offer).await
    }

    async fn whep_play(
        &self,
        room: &Room,
        stream: &str,
        caller: Caller,
        offer: String,
    ) -> Result<MediaSession, ApiError> {
        self.whep(room, stream, caller, offer).await
    }

    async fn whep_playable(&self, room: &Room, stream: &str) -> Result<(), ApiError> {
        let Some(state) = self.existing_room(room.id) else {
            return Ok(());
        };
        // Only "not yet" is answered before the token is taken; an unknown stream is left to
        // the request itself, after the role's permission (the role comes with the token).
        match state.lock().await.playable_stream(stream) {
            Err(e) if e.status == http::StatusCode::SERVICE_UNAVAILABLE => Err(e),
            _ => Ok(()),
        }
    }

    async fn end_media_session(
        &self,
        room: &Room,
        resource: &str,
        token_id: &str,
    ) -> Result<(), ApiError> {
        self.end_whip_whep(room, resource, token_id).await
    }

    async fn whep_answer(
        &self,
        room: &Room,
        resource: &str,
        token_id: &str,
        answer: String,
    ) -> Result<(), ApiError> {
        let transport = self
            .session_transport(room, resource, token_id, Some(Origin::Whep))
            .await?;
        // An m-line the answer rejects ends there; the stream's stats come from the data
        // plane, which no longer lists it, and the subscription stays fed by the same stream.
        self.media
            .answer(&transport, &answer)
            .await
            .map(|_ended| ())
            .map_err(media_error)
    }

    async fn trickle(
        &self,
        room: &Room,
        resource: &str,
        token_id: &str,
        candidates: Vec<String>,
    ) -> Result<(), ApiError> {
        let transport = self
            .session_transport(room, resource, token_id, None)
            .await?;
        for c in candidates {
            self.media
                .add_candidate(&transport, &c)
                .await
                .map_err(media_error)?;
        }
        Ok(())
    }
}
