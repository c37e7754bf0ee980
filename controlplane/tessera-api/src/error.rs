//! The REST error model (spec §2.1): every error is `{"error":{"code":<int>,"message":<str>}}`
//! with the HTTP status of its class.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

/// An error answered to a REST client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// OWT error code (1001–1005, 1101, 1102, 1201, 1301, 2001).
    pub code: u16,
    /// Human-readable reason.
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: u16, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 404, code 1001: no such resource (unknown path).
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, 1001, "Resource not found")
    }
    /// 404, code 1002.
    pub fn service_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, 1002, "Service not found")
    }
    /// 404, code 1003.
    pub fn room_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, 1003, "Room not found")
    }
    /// 404, code 1004.
    pub fn stream_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, 1004, "Stream not found")
    }
    /// 503, code 1004: the stream exists but cannot be played yet (its publisher has not
    /// connected); answered with `Retry-After`.
    pub fn stream_not_ready() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            1004,
            "Stream not ready: its publisher has not connected yet; retry shortly",
        )
    }
    /// 404, code 1005.
    pub fn participant_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, 1005, "Participant not found")
    }
    /// 404 with a resource-specific message and code 1001.
    pub fn not_found_msg(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, 1001, message)
    }
    /// 401, code 1101, with OWT's message.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            1101,
            "WWW-Authenticate: MAuth realm=\"http://marte3.dit.upm.es\"",
        )
    }
    /// 403, code 1102.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, 1102, message)
    }
    /// 400, code 1201.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, 1201, message)
    }
    /// 409, code 1201: the request conflicts with stored state (e.g. a duplicate service name).
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, 1201, message)
    }
    /// 413, code 1201.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            1201,
            format!("Request body is larger than {limit} bytes"),
        )
    }
    /// 415, code 1201.
    pub fn unsupported_media_type(ct: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            1201,
            format!("Unsupported content type '{ct}' (use application/json)"),
        )
    }
    /// 500, code 1301: the cluster failed the operation.
    pub fn operation_failed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, 1301, message)
    }
    /// 501, code 1301: the feature is not part of this build yet.
    pub fn not_implemented(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_IMPLEMENTED, 1301, message)
    }
    /// 503, code 1301: a backend is unreachable (answered with `Retry-After`).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, 1301, message)
    }
    /// 500, code 2001: an unexpected failure.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, 2001, message)
    }
}

impl From<tessera_store::StoreError> for ApiError {
    fn from(e: tessera_store::StoreError) -> Self {
        use tessera_store::StoreError::*;
        match e {
            Conflict(m) => ApiError::conflict(m),
            Unavailable(m) => ApiError::unavailable(format!("Database unavailable: {m}")),
            Backend(m) | Corrupt(m) => {
                tracing::error!(target: "tessera::api", error = %m, "store failure");
                ApiError::internal(format!("StoreError {m}"))
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        let mut r = (self.status, Json(body)).into_response();
        // Every 503 is transient (a backend away, a stream not ready yet): say when to retry.
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static("1"),
            );
        }
        r
    }
}
