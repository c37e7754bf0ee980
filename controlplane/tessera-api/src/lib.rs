//! # tessera-api
//!
//! OWT's management REST API (`owt-compat-spec.md` §2) and the sample-app demo endpoint
//! (§2.11), as axum routers over a [`tessera_store::Store`].
//!
//! * Input: HTTP requests signed with MAuth (§2.2); paths are case-insensitive and accept a
//!   trailing slash, as Express routed them.
//! * Output: OWT's JSON documents, or `{"error":{"code","message"}}` with the status of the
//!   error class (§2.1). Every response carries OWT's CORS and security headers.
//! * State: the store, the token key, the portal address advertised in tokens, and a
//!   [`runtime::RoomRuntime`] that answers the live sub-resources (participants, streams...).
//!
//! ```no_run
//! # async fn demo(state: tessera_api::AppState) -> std::io::Result<()> {
//! let app = tessera_api::rest_app(state);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await
//! # }
//! ```

pub mod body;
pub mod demo;
pub mod error;
pub mod metrics;
mod middleware;
mod routes;
pub mod runtime;
mod whip;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use prometheus_client::registry::Registry;
use tessera_schema::ObjectId;
use tessera_store::Store;

pub use auth::{Authenticated, service_key};
pub use error::ApiError;
pub use metrics::ApiMetrics;

mod auth;

/// Where clients reach the portal; what tokens advertise (spec §2.9 step 3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortalAddress {
    /// `host:port` (or the via-host without its scheme).
    pub host: String,
    /// Whether clients use TLS.
    pub secure: bool,
}

impl PortalAddress {
    /// From a via-host URL such as `https://public.example:443` (env `owt_via_host` in OWT).
    pub fn from_via_host(via: &str) -> PortalAddress {
        let secure = via.starts_with("https");
        let host = via
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        PortalAddress { host, secure }
    }
}

/// API settings, validated before start-up.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// The super service (may manage `/services`).
    pub super_service_id: ObjectId,
    /// AES-256 key of OWT's secret cipher (OWT's default unless an `spk` is configured).
    pub service_cipher_key: [u8; 32],
    /// Portal address put into tokens.
    pub portal: PortalAddress,
    /// WebTransport URL put into tokens, when enabled.
    pub web_transport_url: Option<String>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Upper bound of the random delay before a 401 (OWT: one second).
    pub auth_failure_delay: Duration,
}

/// Shared state of the API routers.
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    config: ApiConfig,
    token_key: String,
    runtime: Arc<dyn runtime::RoomRuntime>,
    metrics: ApiMetrics,
    registry: Arc<Registry>,
}

impl AppState {
    /// Assembles the state. `token_key` is the store's token key (see [`Store::token_key`]);
    /// `registry` is what `GET /metrics` exports (the API's own metrics must be registered in
    /// it, see [`ApiMetrics::register`]).
    pub fn new(
        store: Arc<dyn Store>,
        config: ApiConfig,
        token_key: String,
        runtime: Arc<dyn runtime::RoomRuntime>,
        metrics: ApiMetrics,
        registry: Arc<Registry>,
    ) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                store,
                config,
                token_key,
                runtime,
                metrics,
                registry,
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The configuration.
    pub fn config(&self) -> &ApiConfig {
        &self.inner.config
    }

    /// The token-signing key.
    pub fn token_key(&self) -> &str {
        &self.inner.token_key
    }
}

/// The management API on the REST port: routes, `/metrics`, path normalisation, OWT's headers.
pub fn rest_app(state: AppState) -> Router {
    let routes = routes::router(state.clone());
    middleware::wrap(routes, state, middleware::CorsMode::Owt)
}

/// The demo endpoint of OWT's sample app (spec §2.11) for the standalone server.
pub fn demo_app(state: AppState, sample_room: ObjectId) -> Router {
    let routes = demo::router(state.clone(), sample_room);
    middleware::wrap(routes, state, middleware::CorsMode::Owt)
}
