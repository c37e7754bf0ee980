//! The demo endpoint of OWT's sample app (spec §2.11), served on `--demo-port` by the
//! standalone server so that OWT's samples and the Python helper `create_token_from_owt_demo`
//! work unchanged:
//!
//! * `POST /tokens` with `{room, user, role}` → a token (text). An empty `room` means the room
//!   named `sampleRoom`, which the server creates at start-up.
//! * `POST /createToken` (legacy) with `{room, username, role}`.
//!
//! Tokens are minted for the super service, which owns the sample room. Errors answer `401`
//! with the reason as text, as the sample app did.

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{StatusCode, header};
use serde_json::Value;
use tessera_schema::ObjectId;

use crate::AppState;
use crate::auth::Authenticated;
use crate::body::JsonBody;
use crate::error::ApiError;

#[derive(Clone, Debug)]
struct Demo {
    app: AppState,
    sample_room: ObjectId,
}

pub(crate) fn router(app: AppState, sample_room: ObjectId) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/tokens", post(tokens))
        .route("/createtoken", post(create_token_legacy))
        .fallback(|| async { ApiError::not_found() })
        .with_state(Demo { app, sample_room })
}

async fn index(State(d): State<Demo>) -> Response {
    let body = format!(
        "Tessera demo endpoint.\nPOST /tokens with {{\"room\": \"\", \"user\": \"alice\", \"role\": \"presenter\"}} returns a token for room {} (sampleRoom).\n",
        d.sample_room
    );
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

async fn tokens(State(d): State<Demo>, JsonBody(body): JsonBody) -> Response {
    mint(&d, &body, "user").await
}

async fn create_token_legacy(State(d): State<Demo>, JsonBody(body): JsonBody) -> Response {
    mint(&d, &body, "username").await
}

async fn mint(d: &Demo, body: &Value, user_key: &str) -> Response {
    match try_mint(d, body, user_key).await {
        Ok(token) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], token).into_response(),
        Err(e) => (StatusCode::UNAUTHORIZED, e.message).into_response(),
    }
}

async fn try_mint(d: &Demo, body: &Value, user_key: &str) -> Result<String, ApiError> {
    let st = &d.app;
    let room_id = match body.get("room").and_then(Value::as_str) {
        Some(r) if !r.is_empty() => r
            .parse::<ObjectId>()
            .map_err(|_| ApiError::room_not_found())?,
        _ => d.sample_room,
    };
    let service = st
        .store()
        .service(st.config().super_service_id)
        .await?
        .ok_or_else(ApiError::service_not_found)?;
    if !service.rooms.contains(&room_id) {
        return Err(ApiError::room_not_found());
    }
    let room = st
        .store()
        .room(room_id)
        .await?
        .ok_or_else(ApiError::room_not_found)?;
    let auth = Authenticated {
        service,
        is_super: true,
        user: None,
        role: None,
    };
    let mut req = serde_json::Map::new();
    req.insert(
        "user".into(),
        body.get(user_key).cloned().unwrap_or(Value::Null),
    );
    req.insert(
        "role".into(),
        body.get("role").cloned().unwrap_or(Value::Null),
    );
    crate::routes::issue_token(st, &auth, &room, &Value::Object(req)).await
}
