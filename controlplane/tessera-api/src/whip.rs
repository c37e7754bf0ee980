//! WHIP (RFC 9725) and WHEP ingest/egress endpoints on the REST port.
//!
//! * `POST /whip/{roomId}` with an `application/sdp` offer publishes; `201 Created` carries the
//!   answer and `Location: /whip/{roomId}/{streamId}` (the stream id as `GET
//!   /v1/rooms/{roomId}/streams` lists it).
//! * `POST /whep/{roomId}/{streamId}` plays that stream; `Location:
//!   /whep/{roomId}/{streamId}/{subscriptionId}`.
//! * A WHEP `POST` without a body asks the server to offer (as early WHEP drafts allowed; a
//!   Tessera extension now): `201 Created` carries our `application/sdp` offer (the stream's
//!   audio and video as mids 0 and 1, the tracks the role may subscribe), and the player sends
//!   its answer as `PATCH` on the location with `Content-Type: application/sdp` (`204`).
//! * `DELETE` on a location ends the session; `PATCH` with `application/trickle-ice-sdpfrag`
//!   adds trickled candidates.
//!
//! Authentication: `Authorization: Bearer <token>`, a token from `POST
//! /v1/rooms/{roomId}/tokens` (single use, three minutes, for that room); its role's publish or
//! subscribe permissions apply. DELETE and PATCH must present the same token (its signature is
//! checked; it was consumed by the POST). A `401` carries `WWW-Authenticate: Bearer`.
//!
//! A stream is playable once its publisher has connected: a WHEP `POST` before that is
//! answered `503` with `Retry-After` (the WHIP answer already named the stream), and its
//! token is not taken, so the retry can use it.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use tessera_auth::token::Token;
use tessera_schema::ObjectId;
use tessera_schema::records::TokenTake;
use tessera_schema::room::Room;

use crate::AppState;
use crate::error::ApiError;
use crate::runtime::Caller;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/whip/{room}", post(whip_post))
        .route(
            "/whip/{room}/{stream}",
            delete(whip_delete).patch(whip_patch),
        )
        .route("/whep/{room}/{stream}", post(whep_post))
        .route(
            "/whep/{room}/{stream}/{session}",
            delete(whep_delete).patch(whep_patch),
        )
        .layer(axum::middleware::map_response(bearer_challenge))
}

/// A 401 from these endpoints names the scheme they take (RFC 6750 §3).
async fn bearer_challenge(mut r: Response) -> Response {
    if r.status() == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"tessera\""),
        );
    }
    r
}

fn unauthorized(msg: &str) -> ApiError {
    let mut e = ApiError::unauthorized();
    e.message = msg.to_string();
    e
}

fn bearer(headers: &HeaderMap, token_key: &str) -> Result<Token, ApiError> {
    let v = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauthorized("Missing Authorization: Bearer <token>"))?;
    let t = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))
        .ok_or_else(|| unauthorized("Authorization must be Bearer <token>"))?;
    let token = Token::decode(t.trim()).map_err(|_| unauthorized("Invalid token"))?;
    token
        .verify(token_key)
        .map_err(|_| unauthorized("Invalid token signature"))?;
    Ok(token)
}

async fn room_of(st: &AppState, room: &str) -> Result<Room, ApiError> {
    let id: ObjectId = room.parse().map_err(|_| ApiError::room_not_found())?;
    st.store()
        .room(id)
        .await?
        .ok_or_else(ApiError::room_not_found)
}

/// Consumes the bearer token of a POST: it must be fresh, unused and for this room.
async fn caller(st: &AppState, headers: &HeaderMap, room: &Room) -> Result<Caller, ApiError> {
    let token = bearer(headers, st.token_key())?;
    let id: ObjectId = token
        .token_id
        .parse()
        .map_err(|_| unauthorized("Invalid token"))?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let rec = match st.store().take_token(id, now_ms).await? {
        TokenTake::Taken(r) => r,
        TokenTake::Expired => return Err(unauthorized("Expired")),
        TokenTake::Missing => return Err(unauthorized("Invalid token")),
    };
    if rec.room != room.id {
        return Err(ApiError::forbidden("The token is for another room"));
    }
    Ok(Caller {
        user: rec.user,
        role: rec.role,
        token_id: token.token_id,
    })
}

fn require_sdp(headers: &HeaderMap) -> Result<(), ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/sdp")
    {
        Ok(())
    } else {
        Err(ApiError::unsupported_media_type(ct))
    }
}

fn body_text(body: &Bytes, limit: usize) -> Result<String, ApiError> {
    if body.len() > limit {
        return Err(ApiError::too_large(limit));
    }
    String::from_utf8(body.to_vec()).map_err(|_| ApiError::bad_request("The SDP is not UTF-8"))
}

fn created(answer: String, location: String) -> Response {
    let mut r = (StatusCode::CREATED, answer).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/sdp"),
    );
    if let Ok(v) = HeaderValue::from_str(&location) {
        h.insert(header::LOCATION, v);
    }
    r
}

async fn whip_post(
    State(st): State<AppState>,
    Path(room): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_sdp(&headers)?;
    let room = room_of(&st, &room).await?;
    let caller = caller(&st, &headers, &room).await?;
    let offer = body_text(&body, st.config().max_body_bytes)?;
    let s = st.inner.runtime.whip_publish(&room, caller, offer).await?;
    Ok(created(s.answer, s.location))
}

async fn whep_post(
    State(st): State<AppState>,
    Path((room, stream)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    // No body: the server offers (see the module comment).
    if !body.is_empty() {
        require_sdp(&headers)?;
    }
    let room = room_of(&st, &room).await?;
    // A stream that is not playable yet is answered (503, Retry-After) after the token's
    // signature is checked but before the token is taken, so the player can retry with it.
    bearer(&headers, st.token_key())?;
    st.inner.runtime.whep_playable(&room, &stream).await?;
    let caller = caller(&st, &headers, &room).await?;
    let offer = body_text(&body, st.config().max_body_bytes)?;
    if !body.is_empty() && offer.trim().is_empty() {
        return Err(ApiError::bad_request("Invalid SDP: the offer is empty"));
    }
    let s = st
        .inner
        .runtime
        .whep_play(&room, &stream, caller, offer)
        .await?;
    Ok(created(s.answer, s.location))
}

async fn end(
    st: AppState,
    room: String,
    resource: String,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = bearer(&headers, st.token_key())?;
    let room = room_of(&st, &room).await?;
    st.inner
        .runtime
        .end_media_session(&room, &resource, &token.token_id)
        .await?;
    Ok(StatusCode::OK.into_response())
}

async fn whip_delete(
    State(st): State<AppState>,
    Path((room, stream)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    end(st, room, stream, headers).await
}

async fn whep_delete(
    State(st): State<AppState>,
    Path((room, _stream, session)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    end(st, room, session, headers).await
}

async fn trickle(
    st: AppState,
    room: String,
    resource: String,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let token = bearer(&headers, st.token_key())?;
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/trickle-ice-sdpfrag") {
        return Err(ApiError::unsupported_media_type(ct));
    }
    let room = room_of(&st, &room).await?;
    let text = body_text(&body, st.config().max_body_bytes)?;
    let candidates: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("a="))
        .filter(|l| l.starts_with("candidate:"))
        .map(str::to_string)
        .collect();
    st.inner
        .runtime
        .trickle(&room, &resource, &token.token_id, candidates)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn whip_patch(
    State(st): State<AppState>,
    Path((room, stream)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    trickle(st, room, stream, headers, body).await
}

async fn whep_patch(
    State(st): State<AppState>,
    Path((room, _stream, session)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    // `application/sdp`: the answer to a server offer; otherwise trickled candidates.
    if require_sdp(&headers).is_err() {
        return trickle(st, room, session, headers, body).await;
    }
    let token = bearer(&headers, st.token_key())?;
    let room = room_of(&st, &room).await?;
    let answer = body_text(&body, st.config().max_body_bytes)?;
    st.inner
        .runtime
        .whep_answer(&room, &session, &token.token_id, answer)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
