//! What every request and response of the API goes through: Express-style path matching
//! (case-insensitive keywords, optional trailing slash), `OPTIONS` pre-flight answers, the body
//! limit, OWT's response headers, and per-route metrics.

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode, Uri, header};
use tower::ServiceBuilder;

use crate::AppState;
use crate::body::BodyLimit;

/// Which CORS headers responses carry.
#[derive(Clone, Copy, Debug)]
pub(crate) enum CorsMode {
    /// OWT's management API headers (`Access-Control-Allow-Origin: *`).
    Owt,
}

/// Path segments matched case-insensitively (everything else is an id and keeps its case).
const KEYWORDS: &[&str] = &[
    "v1",
    "v1.1",
    "rooms",
    "services",
    "tokens",
    "participants",
    "streams",
    "streaming-ins",
    "streaming-outs",
    "recordings",
    "sipcalls",
    "analytics",
    "stream-engine",
    "metrics",
    "createtoken",
    "whip",
    "whep",
];

/// Lowercases keyword segments and drops a trailing slash (`/V1/Rooms/` → `/v1/rooms`).
pub(crate) fn normalize_path(path: &str) -> String {
    let trimmed = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    let mut out = String::with_capacity(trimmed.len());
    for (i, seg) in trimmed.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        match KEYWORDS.iter().find(|k| k.eq_ignore_ascii_case(seg)) {
            Some(k) => out.push_str(k),
            None => out.push_str(seg),
        }
    }
    if out.is_empty() { "/".to_string() } else { out }
}

fn rewrite_uri(uri: &Uri) -> Option<Uri> {
    let path = uri.path();
    let normalized = normalize_path(path);
    if normalized == path {
        return None;
    }
    let pq = match uri.query() {
        Some(q) => format!("{normalized}?{q}"),
        None => normalized,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(pq.parse().ok()?);
    Uri::from_parts(parts).ok()
}

async fn outer(
    State(state): State<(AppState, CorsMode)>,
    mut req: Request,
    next: Next,
) -> Response {
    let (app, mode) = state;
    if let Some(uri) = rewrite_uri(req.uri()) {
        *req.uri_mut() = uri;
    }
    req.extensions_mut()
        .insert(BodyLimit(app.config().max_body_bytes));
    let mut resp = if req.method() == Method::OPTIONS {
        (StatusCode::OK, "OK").into_response()
    } else {
        next.run(req).await
    };
    add_headers(resp.headers_mut(), mode);
    resp
}

fn add_headers(h: &mut http::HeaderMap, mode: CorsMode) {
    match mode {
        CorsMode::Owt => {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("POST, GET, OPTIONS, DELETE, PATCH, PUT"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("origin, authorization, content-type, if-match"),
            );
            h.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("location, link, etag"),
            );
        }
    }
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=1024000; includeSubDomain"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

async fn observe(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_string();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let resp = next.run(req).await;
    let secs = start.elapsed().as_secs_f64();
    let status = resp.status().as_u16();
    app.inner
        .metrics
        .request(&route, method.as_str(), status, secs);
    tracing::debug!(target: "tessera::api", %method, %path, %route, status, ms = secs * 1000.0, "request");
    resp
}

/// A handler that panicked: the client gets OWT's internal-error body (500, code 2001) instead
/// of a dropped connection, and the panic is logged.
fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("a panic");
    tracing::error!(target: "tessera::api", panic = what, "a request handler panicked");
    crate::error::ApiError::internal("Internal error").into_response()
}

/// Wraps `routes` with the observation layer (after routing), a panic guard and the outer
/// layer (before).
pub(crate) fn wrap(routes: Router, state: AppState, mode: CorsMode) -> Router {
    let observed = routes
        .layer(from_fn_with_state(state.clone(), observe))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ));
    let svc = ServiceBuilder::new()
        .layer(from_fn_with_state((state, mode), outer))
        .service(observed);
    Router::new().fallback_service(svc)
}

#[cfg(test)]
mod tests {
    use super::normalize_path;

    /// A handler that panics, behind the layers every router gets (`wrap`), answers 500 with
    /// OWT's error body and OWT's headers; the server goes on serving.
    #[tokio::test]
    async fn a_panicking_handler_answers_500_with_the_error_body() {
        use axum::body::Body;
        use axum::routing::get;
        use tower::ServiceExt;
        let dir = tempfile::tempdir().unwrap();
        let store = tessera_store::EmbeddedStore::open(dir.path()).unwrap();
        let mut registry = prometheus_client::registry::Registry::default();
        let metrics = crate::ApiMetrics::register(&mut registry);
        let config = crate::ApiConfig {
            super_service_id: tessera_schema::ObjectId::new(),
            service_cipher_key: [7; 32],
            portal: crate::PortalAddress {
                host: "127.0.0.1:8080".into(),
                secure: false,
            },
            web_transport_url: None,
            max_body_bytes: 1 << 16,
            auth_failure_delay: std::time::Duration::ZERO,
        };
        let state = crate::AppState::new(
            std::sync::Arc::new(store),
            config,
            "key".into(),
            std::sync::Arc::new(crate::runtime::Unavailable),
            metrics,
            std::sync::Arc::new(registry),
        );
        let routes = axum::Router::new()
            .route(
                "/boom",
                get(|| async {
                    if true {
                        panic!("handler bug");
                    }
                    "never"
                }),
            )
            .route("/fine", get(|| async { "fine" }));
        let app = super::wrap(routes, state, super::CorsMode::Owt);
        let r = app
            .clone()
            .oneshot(http::Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(r.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(r.headers()["access-control-allow-origin"], "*");
        let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], 2001);
        let r = app
            .oneshot(http::Request::get("/fine").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(r.status(), http::StatusCode::OK);
    }

    #[test]
    fn keywords_are_case_insensitive_and_ids_keep_case() {
        assert_eq!(normalize_path("/V1/Rooms/"), "/v1/rooms");
        assert_eq!(
            normalize_path("/v1.1/ROOMS/5f1dAB/Participants/AbCdEf/"),
            "/v1.1/rooms/5f1dAB/participants/AbCdEf"
        );
        assert_eq!(normalize_path("/"), "/");
        assert_eq!(normalize_path("/services//"), "/services");
    }
}
