//! # tessera-conference
//!
//! The conference agent (spec §5.6), in-process: one controller per active room holding its
//! participants (with permissions copied from the room's roles), publications (forward streams
//! in OWT's portal format), subscriptions and portal clients' transports, and driving the
//! WebRTC data plane through [`MediaControl`].
//!
//! * Portal clients (OWT protocol 1.2) join, publish, subscribe and signal through
//!   [`Conference::join`] and the methods in `clients.rs`; their notifications leave through the
//!   [`Notifier`] they registered.
//! * WHIP/WHEP sessions and the management API's runtime resources go through
//!   [`tessera_api::runtime::RoomRuntime`].
//! * Data-plane events (transport ready/failed) drive `progress` notifications and clean-up.
//!
//! A room's state is created on first use and dropped when no participant, stream or
//! subscription is left.
//!
//! ```no_run
//! # async fn demo(media: std::sync::Arc<dyn tessera_schema::control::MediaControl>) {
//! let conference = tessera_conference::Conference::new(media);
//! # let _ = conference;
//! # }
//! ```

mod clients;
mod ids;
mod room;
mod runtime;
pub mod stream;

pub use clients::{JoinRequest, Signaling, SubscribeTrack};
pub use ids::{participant_id, session_id};
pub use room::{Notice, Notifier, Origin, Participant, Permission, Subscription, notice};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::json;
use tessera_schema::ObjectId;
use tessera_schema::control::{MediaControl, MediaEvent};
use tessera_schema::room::Room;

use crate::room::{Ended, RoomState};

/// The conference agent.
#[derive(Debug)]
pub struct Conference {
    media: Arc<dyn MediaControl>,
    rooms: Mutex<HashMap<ObjectId, Arc<tokio::sync::Mutex<RoomState>>>>,
    /// transport id → room, for data-plane events.
    transports: Mutex<HashMap<String, ObjectId>>,
}

impl Conference {
    /// Creates the agent and starts following data-plane events (needs a tokio runtime).
    pub fn new(media: Arc<dyn MediaControl>) -> Arc<Conference> {
        let c = Arc::new(Conference {
            media,
            rooms: Mutex::new(HashMap::new()),
            transports: Mutex::new(HashMap::new()),
        });
        let weak = Arc::downgrade(&c);
        let mut events = c.media.events();
        tokio::spawn(async move {
            loop {
                let ev = match events.recv().await {
                    Ok(ev) => ev,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(target: "tessera::room", missed = n, "conference lagged behind data-plane events");
                        continue;
                    }
                    Err(_) => break,
                };
                let Some(c) = weak.upgrade() else { break };
                c.on_media_event(ev).await;
            }
        });
        c
    }

    fn room_state(&self, room: &Room) -> Arc<tokio::sync::Mutex<RoomState>> {
        let mut rooms = self.rooms.lock().expect("rooms lock");
        rooms
            .entry(room.id)
            .or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(RoomState::new(room.config.clone())))
            })
            .clone()
    }

    fn existing_room(&self, id: ObjectId) -> Option<Arc<tokio::sync::Mutex<RoomState>>> {
        self.rooms.lock().expect("rooms lock").get(&id).cloned()
    }

    fn drop_room_if_empty(&self, id: ObjectId, state: &RoomState) {
        if state.is_empty() {
            self.rooms.lock().expect("rooms lock").remove(&id);
            tracing::info!(target: "tessera::room", room = %id, "room controller released");
        }
    }

    fn bind_transport(&self, transport: &str, room: ObjectId) {
        self.transports
            .lock()
            .expect("transports lock")
            .insert(transport.to_string(), room);
    }

    fn unbind_transport(&self, transport: &str) {
        self.transports
            .lock()
            .expect("transports lock")
            .remove(transport);
    }

    /// Participants currently in a room (for tests and introspection).
    pub async fn participant_ids(&self, room: ObjectId) -> Vec<String> {
        match self.existing_room(room) {
            Some(s) => s
                .lock()
                .await
                .participants
                .iter()
                .map(|p| p.id.clone())
                .collect(),
            None => Vec::new(),
        }
    }

    async fn on_media_event(&self, ev: MediaEvent) {
        let transport = match &ev {
            MediaEvent::TransportReady { transport_id }
            | MediaEvent::TransportFailed { transport_id, .. }
            | MediaEvent::TransportClosed { transport_id } => transport_id.clone(),
            MediaEvent::VideoResolution { track_id, .. } => track_id
                .split(':')
                .next()
                .unwrap_or_default()
                .rsplit_once('-')
                .map(|(t, _)| t.to_string())
                .unwrap_or_default(),
        };
        let room_id = self
            .transports
            .lock()
            .expect("transports lock")
            .get(&transport)
            .copied();
        let Some(room_id) = room_id else { return };
        let Some(state) = self.existing_room(room_id) else {
            return;
        };
        let mut st = state.lock().await;
        match ev {
            MediaEvent::TransportReady { .. } => self.transport_ready(&mut st, &transport),
            MediaEvent::TransportFailed { reason, .. } => {
                tracing::info!(target: "tessera::room", room = %room_id, transport = %transport, %reason, "transport failed");
                self.transport_gone(&mut st, &transport, Some(&reason))
                    .await;
            }
            MediaEvent::TransportClosed { .. } => {
                self.transport_gone(&mut st, &transport, None).await
            }
            MediaEvent::VideoResolution {
                track_id,
                width,
                height,
            } => {
                st.set_resolution(&track_id, width, height);
                let base = track_id.split(':').next().unwrap_or_default();
                let stream = st
                    .streams
                    .iter()
                    .find(|s| s.tracks.iter().any(|t| t.id == base))
                    .cloned();
                if let Some(s) = stream.filter(|s| s.ready) {
                    st.stream_event(json!({"id": s.id, "status": "update", "data": {"field": ".", "value": s.portal_info()}}));
                }
            }
        }
        self.drop_room_if_empty(room_id, &st);
    }

    /// ICE and DTLS came up on a transport: its sessions become ready (OWT §3.8, §3.10).
    fn transport_ready(&self, st: &mut RoomState, transport: &str) {
        let Some(t) = st.transports.iter_mut().find(|t| t.id == transport) else {
            tracing::info!(target: "tessera::room", %transport, "transport ready");
            return;
        };
        t.ready = true;
        let owner = t.owner.clone();
        st.notify(
            &owner,
            "progress",
            json!({"id": transport, "status": "ready"}),
        );
        self.activate_sessions(st, transport);
    }

    /// Reports every not-yet-ready session of a ready transport, announcing publications.
    fn activate_sessions(&self, st: &mut RoomState, transport: &str) {
        let Some(t) = st.transports.iter().find(|t| t.id == transport) else {
            return;
        };
        if !t.ready {
            return;
        }
        let owner = t.owner.clone();
        let new_streams: Vec<usize> = st
            .streams
            .iter()
            .enumerate()
            .filter(|(_, s)| s.transport == transport && !s.ready)
            .map(|(i, _)| i)
            .collect();
        for i in new_streams {
            st.streams[i].ready = true;
            let s = st.streams[i].clone();
            st.notify(
                &owner,
                "progress",
                json!({"id": transport, "sessionId": s.id, "status": "ready"}),
            );
            st.stream_event(json!({"id": s.id, "status": "add", "data": s.portal_info()}));
            tracing::info!(target: "tessera::room", stream = %s.id, owner = %owner, "publication ready");
        }
        let subs: Vec<usize> = st
            .subscriptions
            .iter()
            .enumerate()
            .filter(|(_, s)| s.transport == transport && !s.ready)
            .map(|(i, _)| i)
            .collect();
        for i in subs {
            st.subscriptions[i].ready = true;
            let id = st.subscriptions[i].id.clone();
            st.notify(
                &owner,
                "progress",
                json!({"id": transport, "sessionId": id, "status": "ready"}),
            );
        }
    }

    /// A transport died (`reason`) or was closed: end what it carried and tell who cares.
    async fn transport_gone(&self, st: &mut RoomState, transport: &str, reason: Option<&str>) {
        self.unbind_transport(transport);
        // WHIP/WHEP participants live and die with their transport.
        let whip_owner = st
            .participants
            .iter()
            .find(|p| p.origin != Origin::Portal && p.transport == transport)
            .map(|p| p.id.clone());
        let ended = st.end_transport(transport);
        self.finish(st, ended, reason).await;
        if let Some(pid) = whip_owner {
            self.remove_participant(st, &pid).await;
        }
    }

    /// Notifications and data-plane clean-up after sessions ended. `reason` is set when they
    /// ended by failure rather than at their owner's request.
    async fn finish(&self, st: &mut RoomState, ended: Ended, reason: Option<&str>) {
        for s in &ended.streams {
            if let Some(r) = reason {
                st.notify(
                    &s.owner,
                    "progress",
                    json!({"id": s.transport, "sessionId": s.id, "status": "error", "data": r}),
                );
            }
        }
        for sub in &ended.subscriptions {
            if let Some(r) = reason {
                st.notify(
                    &sub.owner,
                    "progress",
                    json!({"id": sub.transport, "sessionId": sub.id, "status": "error", "data": r}),
                );
            }
        }
        // Subscribers hear `Source stream loss` before everyone hears the removal (OWT's order).
        self.end_fed(st, ended.fed).await;
        for s in ended.streams.iter().filter(|s| s.ready) {
            st.stream_event(json!({"id": s.id, "status": "remove"}));
        }
    }

    /// Subscriptions whose source stream is gone: WHEP players are closed, portal clients get
    /// `Source stream loss` (OWT §3.6 unpublish).
    async fn end_fed(&self, st: &mut RoomState, fed: Vec<Subscription>) {
        for sub in fed {
            let owner = st.participant(&sub.owner).cloned();
            match owner {
                Some(p) if p.origin == Origin::Whep => {
                    let _ = self.media.close_transport(&p.transport).await;
                    self.unbind_transport(&p.transport);
                    let _ = st.end_transport(&p.transport);
                    self.remove_participant(st, &p.id).await;
                }
                Some(_) => {
                    let _ = self.media.end_session(&sub.transport, &sub.id).await;
                    st.notify(&sub.owner, "progress", json!({"id": sub.transport, "sessionId": sub.id, "status": "error", "data": "Source stream loss"}));
                }
                None => {}
            }
        }
    }

    /// Removes a participant: its transports are closed, its publications and subscriptions
    /// end, the room hears `participant leave`.
    fn remove_participant<'a>(
        &'a self,
        st: &'a mut RoomState,
        pid: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            let Some(pos) = st.participants.iter().position(|p| p.id == pid) else {
                return;
            };
            let p = st.participants.remove(pos);
            let mut transports: Vec<String> = st
                .transports
                .iter()
                .filter(|t| t.owner == pid)
                .map(|t| t.id.clone())
                .collect();
            if p.origin != Origin::Portal && !p.transport.is_empty() {
                transports.push(p.transport.clone());
            }
            for t in transports {
                let _ = self.media.close_transport(&t).await;
                self.unbind_transport(&t);
                let ended = st.end_transport(&t);
                self.finish(st, ended, None).await;
            }
            st.participant_event(json!({"action": "leave", "data": pid}), None);
            tracing::info!(target: "tessera::room", participant = %pid, "participant left");
        })
    }
}
