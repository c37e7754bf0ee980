//! # tessera-portal
//!
//! The portal (spec §3): OWT client protocol 1.2 over Socket.IO — socketioxide speaks
//! Socket.IO v5 over Engine.IO v4 and accepts Engine.IO v3 clients, over long polling and
//! WebSocket, at `/socket.io/`, with CORS that reflects the page's origin with credentials.
//!
//! * Login (§3.4): token decoding, signature with the token key, host match, single use and
//!   three-minute expiry through the store; `userAgent` and `protocol` checks; the login result
//!   with the room's participants (the caller included), views and streams; a reconnection
//!   ticket for SDK types that reconnect.
//! * Reconnection (§3.5): `relogin` within the ticket's window keeps the participant id and
//!   replays buffered notifications; a dropped socket's participant leaves after
//!   `reconnection_timeout`.
//! * Requests (§3.6) are parsed by [`requests`] and handed to the conference agent; acks are
//!   `("ok", data)` or `("error", "<reason>")`. Notifications carry one argument.
//!
//! ```no_run
//! # async fn demo(portal: std::sync::Arc<tessera_portal::Portal>) -> std::io::Result<()> {
//! let app = portal.router();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

pub mod requests;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use http::{HeaderValue, Method};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use serde_json::{Value, json};
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::socket::DisconnectReason;
use socketioxide::{SocketIo, socket::Sid};
use tessera_auth::ticket::{Ticket, TicketError};
use tessera_auth::token::Token;
use tessera_conference::{Conference, JoinRequest, Notice, Notifier};
use tessera_schema::ObjectId;
use tessera_schema::records::TokenTake;
use tessera_store::Store;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use tracing::Instrument;

/// Portal settings.
#[derive(Clone, Debug)]
pub struct PortalConfig {
    /// `host:port` tokens must name (the address this portal is advertised at).
    pub host: String,
    /// Validity of reconnection tickets (OWT: 600 s).
    pub ticket_lifetime: Duration,
    /// How long a dropped client may take to `relogin` before it leaves (OWT: 60 s).
    pub reconnection_timeout: Duration,
    /// A socket that has not logged in after this long is closed (OWT: 3 minutes).
    pub login_timeout: Duration,
    /// Engine.IO ping interval.
    pub ping_interval: Duration,
    /// Engine.IO ping timeout.
    pub ping_timeout: Duration,
    /// Allowed CORS origins; `*` reflects any origin.
    pub cors_origins: Vec<String>,
}

impl Default for PortalConfig {
    fn default() -> Self {
        PortalConfig {
            host: "localhost:8080".into(),
            ticket_lifetime: Duration::from_secs(600),
            reconnection_timeout: Duration::from_secs(60),
            login_timeout: Duration::from_secs(180),
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            cors_origins: vec!["*".into()],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Initialized,
    Connecting,
    Connected,
}

#[derive(Debug)]
struct Conn {
    state: State,
    pid: Option<String>,
    /// A `login` or `relogin` was taken on this socket: from then on room requests are
    /// answered (`Illegal request` unless connected), also after a logout or a failed login.
    login_seen: bool,
}

#[derive(Debug)]
struct Part {
    room: ObjectId,
    sid: Option<Sid>,
    reconnect: bool,
    ticket_id: Option<String>,
    seq: u64,
    buffer: VecDeque<(u64, &'static str, Notice, Instant)>,
    /// Bumped on every relogin and disconnect, so a stale leave timer does nothing.
    generation: u64,
}

/// The portal.
#[derive(Debug)]
pub struct Portal {
    store: Arc<dyn Store>,
    conference: Arc<Conference>,
    token_key: String,
    secret: String,
    config: PortalConfig,
    io: OnceLock<SocketIo>,
    conns: Mutex<HashMap<Sid, Conn>>,
    parts: Mutex<HashMap<String, Part>>,
    metrics: PortalMetrics,
    weak: Weak<Portal>,
}

/// Notifications of one participant, routed to whatever socket it is on now.
#[derive(Debug)]
struct SocketNotifier {
    portal: Weak<Portal>,
    pid: String,
}

impl Notifier for SocketNotifier {
    fn notify(&self, event: &'static str, data: Notice) {
        if let Some(p) = self.portal.upgrade() {
            p.deliver(&self.pid, event, data);
        }
    }

    fn drop_client(&self) {
        if let Some(p) = self.portal.upgrade() {
            p.drop_participant(&self.pid);
        }
    }
}

const RECONNECTING_SDKS: &[&str] = &["Objective-C", "C++", "Android", "JavaScript"];

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn ok(ack: AckSender, data: Value) {
    let _ = ack.send(&("ok", data));
}

fn err(ack: AckSender, reason: impl AsRef<str>) {
    tracing::debug!(target: "tessera::portal", reason = reason.as_ref(), "request refused");
    if let Ok((event, metrics)) = REQUEST.try_with(|r| r.clone()) {
        metrics.errors.get_or_create(&EventLabel { event }).inc();
    }
    let _ = ack.send(&("error", reason.as_ref()));
}

tokio::task_local! {
    /// The event being handled and where to count its outcome.
    static REQUEST: (&'static str, PortalMetrics);
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabel {
    event: &'static str,
}

/// Request counters of the portal (`tessera_portal_requests_total{event}`,
/// `tessera_portal_request_errors_total{event}`).
#[derive(Clone, Debug, Default)]
struct PortalMetrics {
    requests: Family<EventLabel, Counter>,
    errors: Family<EventLabel, Counter>,
}

/// Scrape-time gauges read from the portal's tables.
#[derive(Debug)]
struct PortalGauges(Weak<Portal>);

impl Collector for PortalGauges {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let Some(p) = self.0.upgrade() else {
            return Ok(());
        };
        let sockets = p.conns.lock().expect("conns lock").len() as i64;
        let (joined, reconnecting) = {
            let parts = p.parts.lock().expect("parts lock");
            let away = parts.values().filter(|x| x.sid.is_none()).count() as i64;
            (parts.len() as i64 - away, away)
        };
        for (name, help, v) in [
            (
                "tessera_portal_sockets",
                "Socket.IO connections open",
                sockets,
            ),
            (
                "tessera_portal_participants",
                "Participants logged in through the portal and connected",
                joined,
            ),
            (
                "tessera_portal_participants_reconnecting",
                "Participants whose socket dropped, kept for the reconnection window",
                reconnecting,
            ),
        ] {
            let g = ConstGauge::new(v);
            g.encode(enc.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        Ok(())
    }
}

impl Portal {
    /// A portal over the store (tokens, rooms) and the conference agent. `token_key` is the
    /// store's token-signing key.
    pub fn new(
        store: Arc<dyn Store>,
        conference: Arc<Conference>,
        token_key: String,
        config: PortalConfig,
    ) -> Arc<Portal> {
        Arc::new_cyclic(|weak| Portal {
            store,
            conference,
            token_key,
            secret: tessera_auth::random_hex_key(),
            config,
            io: OnceLock::new(),
            conns: Mutex::new(HashMap::new()),
            parts: Mutex::new(HashMap::new()),
            metrics: PortalMetrics::default(),
            weak: weak.clone(),
        })
    }

    /// Registers the portal's metrics: requests and refused requests by event, open sockets,
    /// connected and reconnecting participants.
    pub fn register_metrics(self: &Arc<Portal>, registry: &mut Registry) {
        registry.register(
            "tessera_portal_requests",
            "Client requests received, by event",
            self.metrics.requests.clone(),
        );
        registry.register(
            "tessera_portal_request_errors",
            "Client requests answered with an error, by event",
            self.metrics.errors.clone(),
        );
        registry.register_collector(Box::new(PortalGauges(self.weak.clone())));
    }

    /// The span a request of `sid` runs in: the participant and room once logged in.
    fn request_span(&self, event: &'static str, sid: Sid) -> tracing::Span {
        let pid = self
            .conns
            .lock()
            .expect("conns lock")
            .get(&sid)
            .and_then(|c| c.pid.clone());
        let room = pid.as_ref().and_then(|pid| {
            self.parts
                .lock()
                .expect("parts lock")
                .get(pid)
                .map(|p| p.room)
        });
        let span = tracing::info_span!(
            "request",
            event,
            %sid,
            room = tracing::field::Empty,
            participant = tracing::field::Empty
        );
        if let Some(r) = room {
            span.record("room", tracing::field::display(r));
        }
        if let Some(p) = pid {
            span.record("participant", p.as_str());
        }
        span
    }

    /// Runs the handling of one request: counted, in its span, its errors counted.
    async fn handle<F: Future<Output = ()>>(&self, event: &'static str, sid: Sid, f: F) {
        self.metrics
            .requests
            .get_or_create(&EventLabel { event })
            .inc();
        let span = self.request_span(event, sid);
        REQUEST
            .scope((event, self.metrics.clone()), f.instrument(span))
            .await
    }

    /// The HTTP application serving `/socket.io/`.
    pub fn router(self: &Arc<Portal>) -> axum::Router {
        let (layer, io) = SocketIo::builder()
            .req_path("/socket.io/")
            .ping_interval(self.config.ping_interval)
            .ping_timeout(self.config.ping_timeout)
            .max_payload(1 << 20)
            .build_layer();
        // Handlers hold weak references: the portal owns the Socket.IO handle, which owns the
        // handlers.
        //
        // The event handlers are registered in a connect *middleware*, which socketioxide runs
        // before it sends the namespace CONNECT packet. Its connect handler runs on a task it
        // spawns after sending that packet, so a client that emits `login` as soon as it is
        // connected (as OWT's SDKs do) could reach the server before any handler existed, and
        // the login was dropped without an answer.
        let weak = self.weak.clone();
        let register = async move |s: SocketRef| {
            if let Some(p) = weak.upgrade() {
                p.on_connect(s)
            }
            Ok::<(), std::convert::Infallible>(())
        };
        io.ns(
            "/",
            socketioxide::handler::ConnectHandler::with(async |_: SocketRef| {}, register),
        );
        let _ = self.io.set(io);
        let cors = if self.config.cors_origins.iter().any(|o| o == "*") {
            CorsLayer::new().allow_origin(AllowOrigin::mirror_request())
        } else {
            let list: Vec<HeaderValue> = self
                .config
                .cors_origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect();
            CorsLayer::new().allow_origin(list)
        }
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers(AllowHeaders::mirror_request());
        axum::Router::new().layer(layer).layer(cors)
    }

    fn socket(&self, sid: Sid) -> Option<SocketRef> {
        self.io.get()?.get_socket(sid)
    }

    fn deliver(&self, pid: &str, event: &'static str, data: Notice) {
        let mut parts = self.parts.lock().expect("parts lock");
        let Some(p) = parts.get_mut(pid) else { return };
        p.seq += 1;
        let now = Instant::now();
        let keep = self.config.ping_interval + self.config.ping_timeout + Duration::from_secs(1);
        while p
            .buffer
            .front()
            .is_some_and(|(_, _, _, at)| now.saturating_duration_since(*at) > keep)
        {
            p.buffer.pop_front();
        }
        if p.buffer.len() >= 1024 {
            p.buffer.pop_front();
        }
        if let Some(sid) = p.sid
            && let Some(s) = self.socket(sid)
        {
            let _ = s.emit(event, &*data);
        }
        p.buffer.push_back((p.seq, event, data, now));
    }

    fn drop_participant(&self, pid: &str) {
        let part = self.parts.lock().expect("parts lock").remove(pid);
        if let Some(sid) = part.and_then(|p| p.sid) {
            if let Some(c) = self.conns.lock().expect("conns lock").get_mut(&sid) {
                c.state = State::Initialized;
                c.pid = None;
            }
            if let Some(s) = self.socket(sid) {
                let _ = s.emit("drop", &Value::Null);
                let _ = s.disconnect();
            }
        }
    }

    fn on_connect(self: &Arc<Portal>, s: SocketRef) {
        self.conns.lock().expect("conns lock").insert(
            s.id,
            Conn {
                state: State::Initialized,
                pid: None,
                login_seen: false,
            },
        );
        tracing::debug!(target: "tessera::portal", sid = %s.id, "socket connected");
        macro_rules! on {
            ($event:literal, $method:ident) => {{
                let w = self.weak.clone();
                s.on(
                    $event,
                    async move |s: SocketRef, TryData(data): TryData<Value>, ack: AckSender| {
                        if let Some(p) = w.upgrade() {
                            let sid = s.id;
                            p.clone()
                                .handle($event, sid, p.$method(s, data.unwrap_or(Value::Null), ack))
                                .await
                        }
                    },
                );
            }};
        }
        on!("login", login);
        on!("relogin", relogin);
        on!("publish", publish);
        on!("unpublish", unpublish);
        on!("subscribe", subscribe);
        on!("unsubscribe", unsubscribe);
        on!("soac", soac);
        on!("stream-control", stream_control);
        on!("subscription-control", subscription_control);
        on!("text", text);
        let w = self.weak.clone();
        s.on("logout", async move |s: SocketRef, ack: AckSender| {
            if let Some(p) = w.upgrade() {
                let sid = s.id;
                p.clone().handle("logout", sid, p.logout(s, ack)).await
            }
        });
        let w = self.weak.clone();
        s.on(
            "refreshReconnectionTicket",
            async move |s: SocketRef, ack: AckSender| {
                if let Some(p) = w.upgrade() {
                    let sid = s.id;
                    p.handle("refreshReconnectionTicket", sid, async {
                        p.refresh_ticket(s, ack)
                    })
                    .await
                }
            },
        );
        let w = self.weak.clone();
        s.on_disconnect(async move |s: SocketRef, reason: DisconnectReason| {
            if let Some(p) = w.upgrade() {
                p.on_disconnect(s.id, reason).await
            }
        });
        // A socket that never logs in is closed after a while.
        let (w, sid, limit) = (self.weak.clone(), s.id, self.config.login_timeout);
        tokio::spawn(async move {
            tokio::time::sleep(limit).await;
            let Some(p) = w.upgrade() else { return };
            let idle = p
                .conns
                .lock()
                .expect("conns lock")
                .get(&sid)
                .is_some_and(|c| c.state != State::Connected);
            if idle && let Some(s) = p.socket(sid) {
                tracing::info!(target: "tessera::portal", %sid, "closing a socket that did not log in");
                let _ = s.disconnect();
            }
        });
    }

    fn state(&self, sid: Sid) -> (State, Option<String>) {
        self.conns
            .lock()
            .expect("conns lock")
            .get(&sid)
            .map_or((State::Initialized, None), |c| (c.state, c.pid.clone()))
    }

    fn set_state(&self, sid: Sid, state: State, pid: Option<String>) {
        if let Some(c) = self.conns.lock().expect("conns lock").get_mut(&sid) {
            c.state = state;
            c.pid = pid;
            c.login_seen |= state != State::Initialized;
        }
    }

    fn login_seen(&self, sid: Sid) -> bool {
        self.conns
            .lock()
            .expect("conns lock")
            .get(&sid)
            .is_some_and(|c| c.login_seen)
    }

    fn issue_ticket(&self, pid: &str) -> String {
        let t = Ticket::issue(
            &self.secret,
            pid,
            now_ms(),
            self.config.ticket_lifetime.as_millis() as i64,
        );
        if let Some(p) = self.parts.lock().expect("parts lock").get_mut(pid) {
            p.ticket_id = Some(t.ticket_id.clone());
        }
        t.encode()
    }

    async fn login(self: Arc<Portal>, s: SocketRef, data: Value, ack: AckSender) {
        let sid = s.id;
        if self.state(sid).0 != State::Initialized {
            return err(ack, "Connection is in service");
        }
        let info = match requests::login(&data) {
            Ok(i) => i,
            Err(e) => return err(ack, e),
        };
        if info.sdk_version == "3.5" {
            err(ack, "Deprecated client version");
            let _ = s.disconnect();
            return;
        }
        if info.protocol.as_deref() != Some("1.2") {
            err(ack, "Unknown client protocol");
            let _ = s.disconnect();
            return;
        }
        self.set_state(sid, State::Connecting, None);
        match self.authenticate_and_join(&s, &info).await {
            Ok(result) => ok(ack, result),
            Err(e) => {
                tracing::info!(target: "tessera::portal", %sid, reason = %e, "login refused");
                self.set_state(sid, State::Initialized, None);
                err(ack, e)
            }
        }
    }

    async fn authenticate_and_join(
        self: &Arc<Portal>,
        s: &SocketRef,
        info: &requests::Login,
    ) -> Result<Value, String> {
        let token = Token::decode(&info.token).map_err(|_| "Invalid token".to_string())?;
        token
            .verify(&self.token_key)
            .map_err(|_| "Invalid token signature".to_string())?;
        if token.host != self.config.host {
            return Err("Invalid token host".into());
        }
        let id: ObjectId = token
            .token_id
            .parse()
            .map_err(|_| "Invalid token".to_string())?;
        let rec = match self
            .store
            .take_token(id, now_ms())
            .await
            .map_err(|e| format!("Joining room failed: {e}"))?
        {
            TokenTake::Taken(r) => r,
            TokenTake::Expired => return Err("Expired".into()),
            TokenTake::Missing => return Err("Invalid token".into()),
        };
        let room = self
            .store
            .room(rec.room)
            .await
            .map_err(|e| format!("Joining room failed: {e}"))?
            .ok_or("Joining room failed")?;
        let pid = s.id.to_string();
        let reconnect = RECONNECTING_SDKS.contains(&info.sdk_type.as_str());
        self.parts.lock().expect("parts lock").insert(
            pid.clone(),
            Part {
                room: room.id,
                sid: Some(s.id),
                reconnect,
                ticket_id: None,
                seq: 0,
                buffer: VecDeque::new(),
                generation: 0,
            },
        );
        let notifier = Arc::new(SocketNotifier {
            portal: self.weak.clone(),
            pid: pid.clone(),
        });
        let joined = self
            .conference
            .join(
                &room,
                JoinRequest {
                    id: pid.clone(),
                    user: rec.user.clone(),
                    role: rec.role.clone(),
                    notifier,
                },
            )
            .await;
        let mut result = match joined {
            Ok(r) => r,
            Err(e) => {
                self.parts.lock().expect("parts lock").remove(&pid);
                return Err(e);
            }
        };
        self.set_state(s.id, State::Connected, Some(pid.clone()));
        let mut out = serde_json::Map::new();
        out.insert("id".into(), json!(pid));
        out.insert("user".into(), json!(rec.user));
        out.insert("role".into(), json!(rec.role));
        out.insert("permission".into(), result["permission"].take());
        out.insert("room".into(), result["room"].take());
        if reconnect {
            out.insert("reconnectionTicket".into(), json!(self.issue_ticket(&pid)));
        }
        tracing::info!(target: "tessera::portal", participant = %pid, room = %room.id, "logged in");
        Ok(Value::Object(out))
    }

    async fn relogin(self: Arc<Portal>, s: SocketRef, data: Value, ack: AckSender) {
        if self.state(s.id).0 != State::Initialized {
            return err(ack, "Connection is in service");
        }
        let Some(text) = data.as_str() else {
            return err(ack, "Invalid reconnection ticket");
        };
        let refuse = |ack: AckSender, s: &SocketRef, e: &str| {
            err(ack, e);
            let _ = s.clone().disconnect();
        };
        let ticket = match Ticket::validate(text, &self.secret, now_ms()) {
            Ok(t) => t,
            Err(TicketError::Expired) => return refuse(ack, &s, "Ticket is expired"),
            Err(TicketError::Signature) => {
                return refuse(ack, &s, "Invalid reconnection ticket signature");
            }
            Err(TicketError::Malformed) => return refuse(ack, &s, "Invalid reconnection ticket"),
        };
        let pid = ticket.participant_id.clone();
        let (old_sid, room, messages) = {
            let mut parts = self.parts.lock().expect("parts lock");
            let Some(p) = parts.get_mut(&pid) else {
                return refuse(ack, &s, "Client does NOT exist");
            };
            if !p.reconnect {
                return refuse(ack, &s, "Reconnection is not allowed");
            }
            if p.ticket_id.as_deref() != Some(ticket.ticket_id.as_str()) {
                return refuse(ack, &s, "Participant ID is not matched");
            }
            let old = p.sid.replace(s.id);
            p.generation += 1;
            let messages: Vec<Value> = p
                .buffer
                .iter()
                .map(|(seq, e, d, _)| {
                    let d: &serde_json::value::RawValue = d;
                    json!({"event": e, "data": d, "seq": seq})
                })
                .collect();
            (old, p.room, messages)
        };
        if let Some(old) = old_sid.filter(|o| *o != s.id) {
            self.conns.lock().expect("conns lock").remove(&old);
            if let Some(os) = self.socket(old) {
                let _ = os.disconnect();
            }
        }
        self.set_state(s.id, State::Connected, Some(pid.clone()));
        tracing::debug!(target: "tessera::portal", participant = %pid, %room, "rebound to a new socket");
        let new_ticket = self.issue_ticket(&pid);
        tracing::info!(target: "tessera::portal", participant = %pid, "relogged in");
        ok(ack, json!({"ticket": new_ticket, "messages": messages}));
    }

    fn refresh_ticket(&self, s: SocketRef, ack: AckSender) {
        let (state, pid) = self.state(s.id);
        let Some(pid) = pid.filter(|_| state == State::Connected) else {
            return err(ack, "Illegal request");
        };
        let reconnect = self
            .parts
            .lock()
            .expect("parts lock")
            .get(&pid)
            .is_some_and(|p| p.reconnect);
        if !reconnect {
            return err(ack, "Reconnection is not enabled.");
        }
        ok(ack, json!(self.issue_ticket(&pid)));
    }

    async fn logout(self: Arc<Portal>, s: SocketRef, ack: AckSender) {
        let (state, pid) = self.state(s.id);
        let Some(pid) = pid.filter(|_| state == State::Connected) else {
            return err(ack, "Illegal request");
        };
        let part = self.parts.lock().expect("parts lock").remove(&pid);
        self.set_state(s.id, State::Initialized, None);
        if let Some(p) = part {
            self.conference.leave(p.room, &pid).await;
        }
        tracing::info!(target: "tessera::portal", participant = %pid, "logged out");
        ok(ack, Value::Null);
    }

    async fn on_disconnect(self: Arc<Portal>, sid: Sid, reason: DisconnectReason) {
        let conn = self.conns.lock().expect("conns lock").remove(&sid);
        let Some(Conn {
            state,
            pid: Some(pid),
            ..
        }) = conn
        else {
            return;
        };
        let (room, generation, reconnect) = {
            let mut parts = self.parts.lock().expect("parts lock");
            let Some(p) = parts.get_mut(&pid) else { return };
            if p.sid != Some(sid) {
                return;
            }
            p.sid = None;
            p.generation += 1;
            (
                p.room,
                p.generation,
                p.reconnect && state == State::Connected,
            )
        };
        tracing::info!(target: "tessera::portal", participant = %pid, ?reason, reconnect, "socket closed");
        if !reconnect {
            self.parts.lock().expect("parts lock").remove(&pid);
            self.conference.leave(room, &pid).await;
            return;
        }
        let w = self.weak.clone();
        let wait = self.config.reconnection_timeout;
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let Some(p) = w.upgrade() else { return };
            let gone = {
                let mut parts = p.parts.lock().expect("parts lock");
                match parts.get(&pid) {
                    Some(x) if x.generation == generation && x.sid.is_none() => {
                        parts.remove(&pid).is_some()
                    }
                    _ => false,
                }
            };
            if gone {
                tracing::info!(target: "tessera::portal", participant = %pid, "no relogin within the reconnection window; leaving");
                p.conference.leave(room, &pid).await;
            }
        });
    }

    /// The participant behind a socket for a room request. `None` with no ack at all before
    /// the first `login` (OWT attaches room handlers only at login); `Illegal request` while
    /// joining and after leaving (logout, failed login), as OWT's handlers check the state.
    fn joined(&self, s: &SocketRef, ack: AckSender) -> Option<(String, ObjectId, AckSender)> {
        let (state, pid) = self.state(s.id);
        match state {
            State::Initialized => {
                if self.login_seen(s.id) {
                    err(ack, "Illegal request");
                }
                None
            }
            State::Connecting => {
                err(ack, "Illegal request");
                None
            }
            State::Connected => {
                let pid = pid?;
                let room = self
                    .parts
                    .lock()
                    .expect("parts lock")
                    .get(&pid)
                    .map(|p| p.room);
                match room {
                    Some(r) => Some((pid, r, ack)),
                    None => {
                        err(ack, "Illegal request");
                        None
                    }
                }
            }
        }
    }

    async fn publish(self: Arc<Portal>, s: SocketRef, data: Value, ack: AckSender) {
        let Some((pid, room, ack)) = self.joined(&s, ack) else {
            return;
        };
        let req = match requests::publish(&data) {
            Ok(r) => r,
            Err(e) => return err(ack, e),
        };
        if req.quic {
            return err(ack, "QUIC transport is not supported");
        }
        let stream_id = tessera_conference::session_id();
        let transport = req.transport_id.unwrap_or_else(|| stream_id.clone());
        match self
            .conference
            .publish(
                room,
                &pid,
                &stream_id,
                &transport,
                req.tracks,
                req.attributes,
            )
            .await
        {
            Ok(()) => ok(ack, json!({"id": stream_id, "transportId": transport})),
            Err(e) => err(ack, e),
        }
    }

    async fn unpublish(self: Arc<Portal>, s: SocketRef, data: Value, ack: AckSender) {
        let Some((pid, room, ack)) = self.joined(&s, ack) else {
            return;
        };
        let id = match requests::id_only(&data, "stream") {
            Ok(i) => i,
            Err(e) => return err(ack, e),
        };
        match self.conference.unpublish(room, &pid, &id).await {
            Ok(()) => ok(ack, Value::Null),
            Err(e) => err(ack, e),
        }
    }

    async fn subscribe(self: Arc<Portal>, s: SocketRef, data: Value, ack: AckSender) {
        let Some((pid, room, ack)) = self.joined(&s, ack) else {
            return;
        };
        let req = match requests::subscribe(&data) {
            Ok(r) => r,
            Err(e) => return err(ack, e),
        };
        if req.quic {
            return err(ack, "QUIC transport is not supported");
        }
        let sub_id = tessera_conference::session_id();
        let transport = req.transport_id.unwrap_or_else(|| sub_id.clone());
        match self
            .conference
            .subscribe(room, &pid, &sub_id, &transport, req.tracks)
            .await
        {
            Ok(()) => ok(ack, json!({"id": sub_id, "transportId": transport})),
            Err(e) => err(ack, e),
        }
    }

    async fn unsubscribe(self: Arc<Portal>, s: SocketRef, data: Value, ack: AckSender) {
        let Some((pid, room, ack)) = self.joined(&s, ack) else {
            return;
        };
        let id = match requests::id_only(&data, "subscription") {
            Ok(i) => i,
            Err(e) => return err(ack, e),
        };
        match self.conference.unsubscribe(room, &pid, &id).await {
            Ok(()) => ok(ack, Value::Null),
            Err(e) => err(ack, e),
        }
    }

    async fn soac(self: Arc<Portal>, s: SocketRef, data: Value, ack: AckSender) {
        let Some((pid, room, ack)) = self.joined(&s, ack) else {
            return;
        };
        let req = match requests::soac(&data) {
            Ok(r) => r,
            Err(e) => return err(ack, e),
        };
        match self
            .conference
            .signaling(room, &pid, &req.id, req.signaling)
            .await
        {
            Ok(()) => ok(ack, Value::Null),
            Err(e) => err(ack, e),
        }
    }

    async fn stream_control(self: Arc<Portal>, s: SocketRef, data: Value, ack: AckSender) {
        let Some((pid, room, ack)) = self.joined(&s, ack) else {
            return;
        };
        let req = match requests::control(&data, "stream") {
            Ok(r) => r,
            Err(e) => return err(ack, e),
        };
        match self
            .conference
            .stream_control(room, &pid, &req.id, &req.operation, &req.data)
            .await
        {
            Ok(v) => ok(ack, v),
            Err(e) => err(ack, e),
        }
    }

    async fn subscription_control(self: Arc<Portal>, s: SocketRef, data: Value, ack: AckSender) {
        let Some((pid, room, ack)) = self.joined(&s, ack) else {
            return;
        };
        let req = match requests::control(&data, "subscription") {
            Ok(r) => r,
            Err(e) => return err(ack, e),
        };
        match self
            .conference
            .subscription_control(room, &pid, &req.id, &req.operation, &req.data)
            .await
        {
            Ok(()) => ok(ack, Value::Null),
            Err(e) => err(ack, e),
        }
    }

    async fn text(self: Arc<Portal>, s: SocketRef, data: Value, ack: AckSender) {
        let Some((pid, room, ack)) = self.joined(&s, ack) else {
            return;
        };
        let req = match requests::text(&data) {
            Ok(r) => r,
            Err(e) => return err(ack, e),
        };
        match self.conference.text(room, &pid, &req.to, req.message).await {
            Ok(()) => ok(ack, Value::Null),
            Err(e) => err(ack, e),
        }
    }
}
