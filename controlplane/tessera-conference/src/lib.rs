//! # tessera-conference
//!
//! The conference agent (spec §5.6), in-process: one controller per active room holding its
//! participants (with permissions copied from the room's roles), publications (forward streams
//! in OWT's portal format) and subscriptions, and driving the WebRTC data plane through
//! [`MediaControl`]. It answers the management API's runtime resources (participants, streams)
//! and the WHIP/WHEP endpoints through [`tessera_api::runtime::RoomRuntime`].
//!
//! Inputs: runtime requests, WHIP/WHEP offers, data-plane events. Outputs: answers, data-plane
//! commands. A room's state is created on first use and dropped when it has no participants
//! and no streams left.
//!
//! ```no_run
//! # async fn demo(media: std::sync::Arc<dyn tessera_schema::control::MediaControl>) {
//! let conference = tessera_conference::Conference::new(media);
//! # let _ = conference;
//! # }
//! ```

mod ids;
mod room;
mod runtime;
pub mod stream;

pub use ids::{participant_id, session_id};
pub use room::{Origin, Participant, Permission, Subscription};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tessera_schema::ObjectId;
use tessera_schema::control::{MediaControl, MediaEvent};
use tessera_schema::room::Room;

use crate::room::RoomState;

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

    async fn on_media_event(&self, ev: MediaEvent) {
        let transport = match &ev {
            MediaEvent::TransportReady { transport_id }
            | MediaEvent::TransportFailed { transport_id, .. }
            | MediaEvent::TransportClosed { transport_id } => transport_id.clone(),
            MediaEvent::VideoResolution { track_id, .. } => track_id
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
            MediaEvent::TransportReady { .. } => {
                tracing::info!(target: "tessera::room", room = %room_id, transport = %transport, "transport ready");
            }
            MediaEvent::TransportFailed { reason, .. } => {
                tracing::info!(target: "tessera::room", room = %room_id, transport = %transport, %reason, "transport failed");
                self.teardown_transport(&mut st, &transport).await;
            }
            MediaEvent::TransportClosed { .. } => {
                self.teardown_transport(&mut st, &transport).await;
            }
            MediaEvent::VideoResolution {
                track_id,
                width,
                height,
            } => st.set_resolution(&track_id, width, height),
        }
        self.drop_room_if_empty(room_id, &st);
    }

    /// Removes whatever a dead transport carried: its owner's WHIP/WHEP participant, the
    /// streams it published (and the WHEP subscriptions they fed), its subscriptions.
    async fn teardown_transport(&self, st: &mut RoomState, transport: &str) {
        self.unbind_transport(transport);
        let removed = st.remove_transport(transport);
        for t in removed.orphaned_transports {
            let _ = self.media.close_transport(&t).await;
            self.unbind_transport(&t);
        }
    }
}
