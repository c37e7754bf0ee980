//! What portal clients (OWT client protocol 1.2, spec §3) do in a room: join and leave,
//! publish and subscribe on transports, signal SDP, control streams and subscriptions, send
//! text. Errors are the plain strings OWT clients receive (§3.12).

use std::sync::Arc;

use serde_json::{Value, json};
use tessera_schema::ObjectId;
use tessera_schema::control::{
    OfferRequest, PublishSpec, PublishTrackSpec, SubscribeSpec, SubscribeTrackSpec, TrackFormat,
    TrackKind,
};
use tessera_schema::room::Room;

use crate::Conference;
use crate::room::{
    Notifier, Origin, Participant, PendingOp, RoomState, SubSource, Subscription, TransportInfo,
};
use crate::runtime::add_participant;
use crate::stream::{Stream, Track};

/// A client joining a room.
#[derive(Debug)]
pub struct JoinRequest {
    /// Participant id (the Socket.IO socket id).
    pub id: String,
    /// User from the token.
    pub user: String,
    /// Role from the token.
    pub role: String,
    /// Where its notifications go.
    pub notifier: Arc<dyn Notifier>,
}

/// The `signaling` part of a `soac` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signaling {
    /// An SDP offer.
    Offer(String),
    /// A trickled ICE candidate line.
    Candidate(String),
    /// Candidates the client no longer uses (accepted, nothing to do with full ICE).
    RemovedCandidates,
    /// An answer (allowed by OWT's validation, never used).
    Answer,
}

/// One track of a `subscribe` request.
#[derive(Clone, Debug, PartialEq)]
pub struct SubscribeTrack {
    /// Kind.
    pub kind: TrackKind,
    /// The client's m-line.
    pub mid: String,
    /// Stream id or track id.
    pub from: String,
    /// Requested format, if any.
    pub format: Option<Value>,
    /// Requested parameters, if any.
    pub parameters: Option<Value>,
}

const NOT_JOINED: &str = "Participant has NOT joined";

impl Conference {
    fn room_of(&self, id: ObjectId) -> Result<Arc<tokio::sync::Mutex<RoomState>>, String> {
        self.existing_room(id).ok_or_else(|| NOT_JOINED.to_string())
    }

    /// Adds a portal client to a room (spec §3.4 steps 4–6). Returns the `permission` and
    /// `room` parts of the login result.
    pub async fn join(&self, room: &Room, req: JoinRequest) -> Result<Value, String> {
        let state = self.room_state(room);
        let mut st = state.lock().await;
        st.config = room.config.clone();
        let result = (|| {
            if st.participant(&req.id).is_some() {
                return Err("Participant already in room".to_string());
            }
            if st.config.participant_limit > 0
                && st.participants.len() as i64 >= st.config.participant_limit
            {
                return Err("Room is full".to_string());
            }
            st.permission_of(&req.role)
                .ok_or_else(|| "Invalid role".to_string())
        })();
        let perm = match result {
            Ok(p) => p,
            Err(e) => {
                self.drop_room_if_empty(room.id, &st);
                return Err(e);
            }
        };
        add_participant(
            &mut st,
            Participant {
                id: req.id.clone(),
                user: req.user,
                role: req.role,
                permission: perm,
                origin: Origin::Portal,
                resource: String::new(),
                transport: String::new(),
                token_id: String::new(),
                notifier: Some(req.notifier),
            },
        );
        let me = st.participant(&req.id).expect("just added");
        let permission = me.detail()["permission"].clone();
        let participants: Vec<Value> = st
            .participants
            .iter()
            .map(|p| json!({"id": p.id, "user": p.user, "role": p.role}))
            .collect();
        let streams: Vec<Value> = st
            .streams
            .iter()
            .filter(|s| s.ready)
            .map(Stream::portal_info)
            .collect();
        let views: Vec<&str> = st.config.views.iter().map(|v| v.label.as_str()).collect();
        tracing::info!(target: "tessera::room", room = %room.id, participant = %req.id, "participant joined");
        Ok(
            json!({"permission": permission, "room": {"id": room.id.to_hex(), "views": views, "participants": participants, "streams": streams}}),
        )
    }

    /// Replaces where a participant's notifications go (relogin on a new socket).
    pub async fn rebind(
        &self,
        room: ObjectId,
        pid: &str,
        notifier: Arc<dyn Notifier>,
    ) -> Result<(), String> {
        let state = self.room_of(room)?;
        let mut st = state.lock().await;
        let p = st
            .participants
            .iter_mut()
            .find(|p| p.id == pid)
            .ok_or("Client does NOT exist")?;
        p.notifier = Some(notifier);
        Ok(())
    }

    /// The participant leaves (logout, or its connection is gone for good).
    pub async fn leave(&self, room: ObjectId, pid: &str) {
        let Some(state) = self.existing_room(room) else {
            return;
        };
        let mut st = state.lock().await;
        self.remove_participant(&mut st, pid).await;
        self.drop_room_if_empty(room, &st);
    }

    fn transport_for(st: &mut RoomState, pid: &str, transport: &str) -> Result<usize, String> {
        match st.transports.iter().position(|t| t.id == transport) {
            Some(i) if st.transports[i].owner == pid => Ok(i),
            Some(_) => Err(format!("Transport {transport} does NOT exist")),
            None => {
                st.transports.push(TransportInfo {
                    id: transport.to_string(),
                    owner: pid.to_string(),
                    ready: false,
                    pending: Vec::new(),
                });
                Ok(st.transports.len() - 1)
            }
        }
    }

    /// `publish` (spec §3.6): records the publication as pending on its transport until the
    /// client's offer arrives.
    pub async fn publish(
        &self,
        room: ObjectId,
        pid: &str,
        stream_id: &str,
        transport: &str,
        tracks: Vec<PublishTrackSpec>,
        attributes: Value,
    ) -> Result<(), String> {
        let state = self.room_of(room)?;
        let mut st = state.lock().await;
        let p = st.participant(pid).cloned().ok_or(NOT_JOINED)?;
        for t in &tracks {
            let allowed = if t.kind == TrackKind::Audio {
                p.permission.publish.audio
            } else {
                p.permission.publish.video
            };
            if !allowed {
                return Err("unauthorized".into());
            }
        }
        let limit = st.config.input_limit;
        if limit >= 0 && st.streams.len() as i64 >= limit {
            return Err("Too many inputs".into());
        }
        if st.stream(stream_id).is_some() {
            return Err("Stream exists".into());
        }
        if tracks.iter().any(|t| t.kind == TrackKind::Audio) && st.config.media_in.audio.is_empty()
        {
            return Err("Audio is forbiden".into());
        }
        if tracks.iter().any(|t| t.kind == TrackKind::Video) && st.config.media_in.video.is_empty()
        {
            return Err("Video is forbiden".into());
        }
        let i = Self::transport_for(&mut st, pid, transport)?;
        let spec = PublishSpec {
            stream_id: stream_id.to_string(),
            tracks,
            accept_audio: st.config.media_in.audio.clone(),
            accept_video: st.config.media_in.video.clone(),
        };
        st.transports[i]
            .pending
            .push(PendingOp::Publish(spec, attributes));
        self.bind_transport(transport, room);
        Ok(())
    }

    /// `unpublish`: ends the publication; its subscribers get `Source stream loss`.
    pub async fn unpublish(
        &self,
        room: ObjectId,
        pid: &str,
        stream_id: &str,
    ) -> Result<(), String> {
        let state = self.room_of(room)?;
        let mut st = state.lock().await;
        st.participant(pid).ok_or(NOT_JOINED)?;
        // A publication still waiting for its offer is simply forgotten.
        for t in st.transports.iter_mut().filter(|t| t.owner == pid) {
            let before = t.pending.len();
            t.pending
                .retain(|op| !matches!(op, PendingOp::Publish(s, _) if s.stream_id == stream_id));
            if t.pending.len() != before {
                return Ok(());
            }
        }
        let stream = st
            .stream(stream_id)
            .cloned()
            .ok_or("Stream does NOT exist")?;
        let _ = self.media.end_session(&stream.transport, stream_id).await;
        // OWT's order: subscribers hear `Source stream loss`, then everyone hears the removal.
        if let Some((s, fed)) = st.end_stream(stream_id) {
            self.end_fed(&mut st, fed).await;
            if s.ready {
                st.stream_event(json!({"id": s.id, "status": "remove"}));
            }
        }
        Ok(())
    }

    /// `subscribe` (spec §3.6): validates against the source and records the subscription as
    /// pending on its transport.
    pub async fn subscribe(
        &self,
        room: ObjectId,
        pid: &str,
        sub_id: &str,
        transport: &str,
        tracks: Vec<SubscribeTrack>,
    ) -> Result<(), String> {
        let state = self.room_of(room)?;
        let mut st = state.lock().await;
        let p = st.participant(pid).cloned().ok_or(NOT_JOINED)?;
        for t in &tracks {
            let allowed = if t.kind == TrackKind::Audio {
                p.permission.subscribe.audio
            } else {
                p.permission.subscribe.video
            };
            if !allowed {
                return Err("unauthorized".into());
            }
        }
        if st.subscriptions.iter().any(|s| s.id == sub_id)
            || st.transports.iter().any(|t| {
                t.pending.iter().any(
                    |op| matches!(op, PendingOp::Subscribe(s, _) if s.subscription_id == sub_id),
                )
            })
        {
            return Err("Subscription exists".into());
        }
        let mut specs = Vec::new();
        let mut sources = Vec::new();
        for t in &tracks {
            let kind = t.kind.as_str();
            let unsatisfied = |why: &str| format!("Target {kind} stream does NOT satisfy:{why}");
            let (stream, track) = resolve(&st, &t.from, t.kind)
                .ok_or_else(|| unsatisfied(&format!("Requested {kind} stream")))?;
            if let Some(f) = &t.format {
                let want: Option<TrackFormat> = serde_json::from_value(f.clone()).ok();
                if want.as_ref() != Some(&track.format) && !same_format(f, &track.format) {
                    return Err(unsatisfied("Format is not acceptable"));
                }
            }
            if let Some(params) = &t.parameters {
                check_parameters(params, track).map_err(unsatisfied)?;
            }
            let from = if t.from.contains(':') || t.from == track.id {
                t.from.clone()
            } else {
                track.id.clone()
            };
            match sources.iter().find(|s: &&SubSource| s.kind == t.kind) {
                None => sources.push(SubSource {
                    kind: t.kind,
                    stream,
                    from: from.clone(),
                }),
                // One source per kind: the subscription ends with it and switches as one.
                Some(s) if s.stream != stream => {
                    return Err(format!(
                        "Invalid subscription: every {kind} track must come from one stream"
                    ));
                }
                Some(_) => {}
            }
            specs.push(SubscribeTrackSpec {
                mid: t.mid.clone(),
                kind: t.kind,
                from,
            });
        }
        if sources.is_empty() {
            return Err("Invalid subscription".into());
        }
        let i = Self::transport_for(&mut st, pid, transport)?;
        st.transports[i].pending.push(PendingOp::Subscribe(
            SubscribeSpec {
                subscription_id: sub_id.to_string(),
                tracks: specs,
            },
            sources,
        ));
        self.bind_transport(transport, room);
        Ok(())
    }

    /// `unsubscribe`.
    pub async fn unsubscribe(&self, room: ObjectId, pid: &str, sub_id: &str) -> Result<(), String> {
        let state = self.room_of(room)?;
        let mut st = state.lock().await;
        st.participant(pid).ok_or(NOT_JOINED)?;
        for t in st.transports.iter_mut().filter(|t| t.owner == pid) {
            let before = t.pending.len();
            t.pending.retain(
                |op| !matches!(op, PendingOp::Subscribe(s, _) if s.subscription_id == sub_id),
            );
            if t.pending.len() != before {
                return Ok(());
            }
        }
        let pos = st
            .subscriptions
            .iter()
            .position(|s| s.id == sub_id && s.owner == pid)
            .ok_or("Subscription does NOT exist")?;
        let sub = st.subscriptions.remove(pos);
        let _ = self.media.end_session(&sub.transport, &sub.id).await;
        Ok(())
    }

    /// `soac` (spec §3.6): offers go to the data plane with the transport's pending operations;
    /// the answer and the sessions' readiness come back as `progress` notifications.
    pub async fn signaling(
        &self,
        room: ObjectId,
        pid: &str,
        transport: &str,
        sig: Signaling,
    ) -> Result<(), String> {
        let state = self.room_of(room)?;
        let mut st = state.lock().await;
        st.participant(pid).ok_or(NOT_JOINED)?;
        let i = st
            .transports
            .iter()
            .position(|t| t.id == transport && t.owner == pid)
            .ok_or_else(|| format!("Transport {transport} does NOT exist"))?;
        match sig {
            Signaling::Candidate(c) => {
                let _ = self.media.add_candidate(transport, &c).await;
                Ok(())
            }
            Signaling::RemovedCandidates | Signaling::Answer => Ok(()),
            Signaling::Offer(sdp) => {
                let pending = std::mem::take(&mut st.transports[i].pending);
                let mut publish = Vec::new();
                let mut subscribe = Vec::new();
                for op in &pending {
                    match op {
                        PendingOp::Publish(spec, _) => publish.push(spec.clone()),
                        PendingOp::Subscribe(spec, _) => subscribe.push(spec.clone()),
                    }
                }
                let req = OfferRequest {
                    transport_id: transport.to_string(),
                    room_id: room.to_hex(),
                    owner: pid.to_string(),
                    sdp,
                    publish,
                    subscribe,
                };
                self.bind_transport(transport, room);
                let answer = match self.media.offer(req).await {
                    Ok(a) => a,
                    Err(e) => {
                        let reason = e.to_string();
                        for op in &pending {
                            let session = match op {
                                PendingOp::Publish(s, _) => s.stream_id.clone(),
                                PendingOp::Subscribe(s, _) => s.subscription_id.clone(),
                            };
                            st.notify(pid, "progress", json!({"id": transport, "sessionId": session, "status": "error", "data": reason}));
                        }
                        return Ok(());
                    }
                };
                st.notify(pid, "progress", json!({"id": transport, "status": "soac", "data": {"type": "answer", "sdp": answer.sdp}}));
                for op in pending {
                    match op {
                        PendingOp::Publish(spec, attributes) => {
                            let tracks: Vec<Track> = answer
                                .published
                                .iter()
                                .filter(|t| t.stream_id == spec.stream_id)
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
                                id: spec.stream_id.clone(),
                                owner: pid.to_string(),
                                kind: "webrtc",
                                transport: transport.to_string(),
                                tracks,
                                attributes,
                                in_views: vec![],
                                ready: false,
                            });
                        }
                        PendingOp::Subscribe(spec, sources) => {
                            if sources.iter().any(|s| st.stream(&s.stream).is_none()) {
                                st.notify(pid, "progress", json!({"id": transport, "sessionId": spec.subscription_id, "status": "error", "data": "Target audio/video stream early released"}));
                                let _ = self
                                    .media
                                    .end_session(transport, &spec.subscription_id)
                                    .await;
                                continue;
                            }
                            st.subscriptions.push(Subscription {
                                id: spec.subscription_id.clone(),
                                owner: pid.to_string(),
                                transport: transport.to_string(),
                                sources,
                                ready: false,
                            });
                        }
                    }
                }
                self.activate_sessions(&mut st, transport);
                Ok(())
            }
        }
    }

    /// `stream-control` (spec §3.6).
    pub async fn stream_control(
        &self,
        room: ObjectId,
        pid: &str,
        stream_id: &str,
        operation: &str,
        data: &Value,
    ) -> Result<Value, String> {
        let state = self.room_of(room)?;
        let mut st = state.lock().await;
        let p = st.participant(pid).cloned().ok_or(NOT_JOINED)?;
        let stream = st
            .stream(stream_id)
            .cloned()
            .ok_or("Stream does NOT exist")?;
        if stream.owner != pid && p.role != "admin" {
            return Err("unauthorized".into());
        }
        match operation {
            "pause" | "play" => {
                let kinds: &[TrackKind] = match data.as_str() {
                    Some("audio") => &[TrackKind::Audio],
                    Some("video") => &[TrackKind::Video],
                    Some("av") => &[TrackKind::Audio, TrackKind::Video],
                    _ => return Err("Invalid stream control operation".into()),
                };
                let mut done = false;
                for k in kinds {
                    if stream.tracks.iter().any(|t| t.kind == *k) {
                        self.set_stream_kind_active(&mut st, stream_id, *k, operation == "play")
                            .await?;
                        done = true;
                    }
                }
                if !done {
                    return Err("Stream does NOT contain valid track to mute/unmute".into());
                }
                Ok(json!("ok"))
            }
            "mix" | "unmix" | "get-region" | "set-region" => {
                Err("Mixing is not available: this server has no video/audio mixer yet".into())
            }
            _ => Err("Invalid stream control operation".into()),
        }
    }

    /// `subscription-control` (spec §3.6): pause and play; updates that ask for the source's own
    /// parameters (no transcoding) and may switch a kind's source to another stream.
    pub async fn subscription_control(
        &self,
        room: ObjectId,
        pid: &str,
        sub_id: &str,
        operation: &str,
        data: &Value,
    ) -> Result<(), String> {
        let state = self.room_of(room)?;
        let mut st = state.lock().await;
        let p = st.participant(pid).cloned().ok_or(NOT_JOINED)?;
        let sub = st
            .subscriptions
            .iter()
            .find(|s| s.id == sub_id)
            .cloned()
            .ok_or("Subscription does NOT exist")?;
        if sub.owner != pid && p.role != "admin" {
            return Err("unauthorized".into());
        }
        match operation {
            "pause" | "play" => {
                let kind = match data.as_str() {
                    Some("audio") => Some(TrackKind::Audio),
                    Some("video") => Some(TrackKind::Video),
                    Some("av") => None,
                    _ => return Err("Invalid subscription control operation".into()),
                };
                self.media
                    .set_subscription_active(&sub.transport, sub_id, kind, operation == "play")
                    .await
                    .map_err(|e| e.to_string())
            }
            "update" => {
                // Without transcoding, parameters must describe the (new) source itself. A
                // `from` naming another stream switches that kind's source in the data plane,
                // without renegotiation; the new source must have the same format. The room
                // stays locked until the data plane has answered, so no unpublish or other
                // update interleaves with the switch.
                const FAILED: &str = "Update subscription failed";
                let mut switches: Vec<SubSource> = Vec::new();
                for kind in [TrackKind::Audio, TrackKind::Video] {
                    let Some(u) = data.get(kind.as_str()) else {
                        continue;
                    };
                    let old = sub.sources.iter().find(|s| s.kind == kind);
                    let current = old
                        .and_then(|o| st.stream(&o.stream))
                        .and_then(|s| s.tracks.iter().find(|t| t.kind == kind));
                    let track = match u.get("from") {
                        None => current,
                        Some(Value::String(f)) => {
                            let (stream, track) = resolve(&st, f, kind).ok_or(FAILED)?;
                            let from = if f.contains(':') || *f == track.id {
                                f.clone()
                            } else {
                                track.id.clone()
                            };
                            if old.is_some_and(|o| o.from != from) {
                                let allowed = if kind == TrackKind::Audio {
                                    p.permission.subscribe.audio
                                } else {
                                    p.permission.subscribe.video
                                };
                                if !allowed {
                                    return Err("unauthorized".into());
                                }
                                if current.is_some_and(|c| c.format != track.format) {
                                    return Err(FAILED.into());
                                }
                                switches.push(SubSource { kind, stream, from });
                            } else if old.is_none() {
                                // The subscription has no m-line of this kind.
                                return Err(FAILED.into());
                            }
                            Some(track)
                        }
                        Some(_) => return Err(FAILED.into()),
                    };
                    if let Some(params) = u.get("parameters") {
                        let track = track.ok_or(FAILED)?;
                        check_parameters(params, track).map_err(|w| w.to_string())?;
                    }
                }
                for (i, to) in switches.iter().enumerate() {
                    if let Err(e) = self
                        .media
                        .switch_source(&sub.transport, sub_id, to.kind, &to.from)
                        .await
                    {
                        tracing::info!(target: "tessera::conference", subscription = sub_id, error = %e, "source switch refused");
                        // Put back what this update already switched.
                        for done in &switches[..i] {
                            if let Some(o) = sub.sources.iter().find(|s| s.kind == done.kind) {
                                let _ = self
                                    .media
                                    .switch_source(&sub.transport, sub_id, o.kind, &o.from)
                                    .await;
                            }
                        }
                        return Err(FAILED.into());
                    }
                }
                if let Some(s) = st.subscriptions.iter_mut().find(|s| s.id == sub_id) {
                    for to in switches {
                        if let Some(o) = s.sources.iter_mut().find(|o| o.kind == to.kind) {
                            *o = to;
                        }
                    }
                }
                Ok(())
            }
            _ => Err("Invalid subscription control operation".into()),
        }
    }

    /// `text`: to one participant or to `all` (echoed to the sender too).
    pub async fn text(
        &self,
        room: ObjectId,
        pid: &str,
        to: &str,
        message: Value,
    ) -> Result<(), String> {
        let state = self.room_of(room)?;
        let st = state.lock().await;
        st.participant(pid).ok_or(NOT_JOINED)?;
        if to == "all" {
            st.broadcast(
                "text",
                &json!({"from": pid, "to": "all", "message": message}),
                None,
            );
            return Ok(());
        }
        if st.participant(to).is_none() {
            return Err(format!("Target participant does NOT exist: {to}"));
        }
        st.notify(
            to,
            "text",
            json!({"from": pid, "to": "me", "message": message}),
        );
        Ok(())
    }
}

/// The stream and track a `from` names: a stream id (its track of `kind`) or a track id.
fn resolve<'a>(st: &'a RoomState, from: &str, kind: TrackKind) -> Option<(String, &'a Track)> {
    for s in st.streams.iter().filter(|s| s.ready) {
        if s.id == from {
            return s
                .tracks
                .iter()
                .find(|t| t.kind == kind)
                .map(|t| (s.id.clone(), t));
        }
        if let Some((t, _)) = s.track(from)
            && t.kind == kind
        {
            return Some((s.id.clone(), t));
        }
    }
    None
}

/// Loose format equality: codec (and sample rate / channels / profile when given).
fn same_format(want: &Value, have: &TrackFormat) -> bool {
    let have = serde_json::to_value(have).unwrap_or(Value::Null);
    let Some(obj) = want.as_object() else {
        return false;
    };
    obj.iter().all(|(k, v)| have.get(k) == Some(v))
}

/// Without transcoding, requested parameters must describe the source itself.
fn check_parameters(params: &Value, track: &Track) -> Result<(), &'static str> {
    if let Some(r) = params.get("resolution") {
        let (w, h) = (
            r.get("width").and_then(Value::as_u64),
            r.get("height").and_then(Value::as_u64),
        );
        // Without transcoding: a size the source (or one of its simulcast layers) has, or any
        // while none is known yet.
        let mut known = track.resolutions().peekable();
        if known.peek().is_some()
            && !known.any(|(tw, th)| Some(u64::from(tw)) == w && Some(u64::from(th)) == h)
        {
            return Err("Resolution is not acceptable");
        }
    }
    if let Some(b) = params.get("bitrate")
        && !matches!(b.as_str(), Some("x1" | "x1.0"))
    {
        return Err("Bitrate is not acceptable");
    }
    if params.get("framerate").is_some() {
        return Err("Framerate is not acceptable");
    }
    if params.get("keyFrameInterval").is_some() {
        return Err("KeyFrameInterval is not acceptable");
    }
    Ok(())
}
