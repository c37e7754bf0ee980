//! Handlers of the management API (spec §2.3–§2.9).

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use http::{Method, StatusCode, Uri, header};
use serde_json::Value;
use tessera_auth::{cipher, token::Token};
use tessera_schema::records::{Origin, Service, TokenRecord};
use tessera_schema::room::{Room, RoomConfig, RoomError};
use tessera_schema::{ObjectId, is_valid_path_id};
use tessera_store::Page;

use crate::AppState;
use crate::auth::Authenticated;
use crate::body::JsonBody;
use crate::error::ApiError;
use crate::runtime::{ApiVersion, Resource, RuntimeReply, RuntimeRequest};

pub(crate) fn router(state: AppState) -> Router {
    let mut r = Router::new()
        .route("/metrics", get(metrics))
        .route("/services", get(list_services).post(create_service))
        .route("/services/{id}", get(get_service).delete(delete_service))
        .route("/v1.1/stream-engine", any(stream_engine))
        .route("/v1.1/stream-engine/{*rest}", any(stream_engine));
    for v in ["/v1", "/v1.1"] {
        r = r
            .route(&format!("{v}/rooms"), get(list_rooms).post(create_room))
            .route(
                &format!("{v}/rooms/{{room}}"),
                get(get_room)
                    .put(put_room)
                    .patch(patch_room)
                    .delete(delete_room),
            )
            .route(&format!("{v}/rooms/{{room}}/tokens"), post(create_token))
            .route(
                &format!("{v}/rooms/{{room}}/{{resource}}"),
                any(runtime_collection),
            )
            .route(
                &format!("{v}/rooms/{{room}}/{{resource}}/{{id}}"),
                any(runtime_item),
            )
            .route(
                &format!("{v}/rooms/{{room}}/streams/{{id}}/stats"),
                get(stream_stats),
            );
    }
    r.merge(crate::whip::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found()
}

async fn metrics(State(st): State<AppState>) -> Response {
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &st.inner.registry) {
        return ApiError::internal(format!("metrics encoding failed: {e}")).into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

fn json(v: Value) -> Response {
    axum::Json(v).into_response()
}

fn text(s: impl Into<String>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        s.into(),
    )
        .into_response()
}

// ---- services (§2.3) ----

fn service_json(s: &Service) -> Value {
    serde_json::to_value(s).expect("services serialise")
}

fn require_super(auth: &Authenticated) -> Result<(), ApiError> {
    if auth.is_super {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "Permission denied: only the super service may do this",
        ))
    }
}

fn parse_service_id(id: &str) -> Result<ObjectId, ApiError> {
    if !is_valid_path_id(id) {
        return Err(ApiError::bad_request("Invalid service id"));
    }
    id.parse().map_err(|_| ApiError::service_not_found())
}

async fn list_services(
    State(st): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    require_super(&auth)?;
    let list: Vec<Value> = st
        .store()
        .services()
        .await?
        .iter()
        .map(service_json)
        .collect();
    Ok(json(Value::Array(list)))
}

async fn create_service(
    State(st): State<AppState>,
    auth: Authenticated,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    require_super(&auth)?;
    let (Some(Value::String(name)), Some(Value::String(key))) = (body.get("name"), body.get("key"))
    else {
        return Err(ApiError::bad_request(
            "Service name and key do not have string type",
        ));
    };
    if name.is_empty() || key.is_empty() {
        return Err(ApiError::bad_request(
            "Service name and key must not be empty",
        ));
    }
    let service = Service {
        id: ObjectId::new(),
        name: name.clone(),
        key: cipher::encrypt(&st.config().service_cipher_key, key),
        encrypted: true,
        rooms: vec![],
        v: 0,
    };
    st.store().create_service(&service).await?;
    tracing::info!(target: "tessera::api", service = %service.id, name = %service.name, "service created");
    Ok(json(service_json(&service)))
}

async fn get_service(
    State(st): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_service_id(&id)?;
    if !auth.is_super && auth.service.id != id {
        return Err(ApiError::forbidden(
            "Permission denied: a service may only read itself",
        ));
    }
    let s = st
        .store()
        .service(id)
        .await?
        .ok_or_else(ApiError::service_not_found)?;
    Ok(json(service_json(&s)))
}

async fn delete_service(
    State(st): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require_super(&auth)?;
    let id = parse_service_id(&id)?;
    if id == st.config().super_service_id {
        return Err(ApiError::forbidden(
            "Super service not permitted to be deleted",
        ));
    }
    let Some(service) = st.store().service(id).await? else {
        return Err(ApiError::service_not_found());
    };
    for room in st.store().rooms(id, None).await? {
        st.inner.runtime.room_deleted(&room).await;
    }
    st.store().delete_service(service.id).await?;
    tracing::info!(target: "tessera::api", service = %id, "service deleted");
    Ok(text("Service deleted"))
}

// ---- rooms (§2.4) ----

fn room_error(e: RoomError) -> ApiError {
    ApiError::bad_request(e.to_string())
}

fn version_of(uri: &Uri) -> ApiVersion {
    if uri.path().starts_with("/v1.1/") {
        ApiVersion::V1_1
    } else {
        ApiVersion::V1
    }
}

/// The room `id` if it belongs to the caller's service; `404 Room not found` otherwise.
async fn owned_room(st: &AppState, auth: &Authenticated, id: &str) -> Result<Room, ApiError> {
    if !is_valid_path_id(id) {
        return Err(ApiError::bad_request("Invalid room id"));
    }
    let id: ObjectId = id.parse().map_err(|_| ApiError::room_not_found())?;
    if !auth.service.rooms.contains(&id) {
        return Err(ApiError::room_not_found());
    }
    st.store()
        .room(id)
        .await?
        .ok_or_else(ApiError::room_not_found)
}

#[derive(serde::Deserialize)]
struct Paging {
    page: Option<String>,
    per_page: Option<String>,
}

async fn list_rooms(
    State(st): State<AppState>,
    auth: Authenticated,
    Query(q): Query<Paging>,
) -> Result<Response, ApiError> {
    let num = |v: &Option<String>, name: &str| -> Result<Option<u64>, ApiError> {
        v.as_deref()
            .map(|s| {
                s.parse::<u64>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "Invalid {name}: expected a non-negative integer"
                    ))
                })
            })
            .transpose()
    };
    let per_page = num(&q.per_page, "per_page")?.unwrap_or(0);
    let page = num(&q.page, "page")?.unwrap_or(1).max(1);
    let paging = (per_page > 0).then_some(Page { page, per_page });
    let rooms = st.store().rooms(auth.service.id, paging).await?;
    Ok(json(Value::Array(
        rooms.iter().map(Room::to_json).collect(),
    )))
}

async fn create_room(
    State(st): State<AppState>,
    auth: Authenticated,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let config = RoomConfig::from_create(&body).map_err(room_error)?;
    let room = Room {
        id: ObjectId::new(),
        config,
        v: 0,
    };
    st.store().create_room(auth.service.id, &room).await?;
    tracing::info!(target: "tessera::room", room = %room.id, name = %room.config.name, service = %auth.service.id, "room created");
    Ok(json(room.to_json()))
}

async fn get_room(
    State(st): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(json(owned_room(&st, &auth, &id).await?.to_json()))
}

async fn save_room(
    st: &AppState,
    mut room: Room,
    config: RoomConfig,
) -> Result<Response, ApiError> {
    room.config = config;
    if !st.store().replace_room(&room).await? {
        return Err(ApiError::room_not_found());
    }
    st.inner.runtime.room_updated(&room).await;
    tracing::info!(target: "tessera::room", room = %room.id, "room updated");
    Ok(json(room.to_json()))
}

async fn put_room(
    State(st): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let room = owned_room(&st, &auth, &id).await?;
    let config = room.config.updated(&body).map_err(room_error)?;
    save_room(&st, room, config).await
}

async fn patch_room(
    State(st): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let room = owned_room(&st, &auth, &id).await?;
    let config = room.config.patched(&body).map_err(room_error)?;
    save_room(&st, room, config).await
}

async fn delete_room(
    State(st): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let room = owned_room(&st, &auth, &id).await?;
    st.inner.runtime.room_deleted(&room).await;
    st.store().delete_room(auth.service.id, room.id).await?;
    tracing::info!(target: "tessera::room", room = %room.id, "room deleted");
    Ok(text("Room deleted"))
}

// ---- tokens (§2.9) ----

async fn create_token(
    State(st): State<AppState>,
    auth: Authenticated,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let room = owned_room(&st, &auth, &id).await?;
    let token = issue_token(&st, &auth, &room, &body).await?;
    Ok(text(token))
}

/// Mints a token for `room` (spec §2.9): validates user and role, stores the record, signs.
pub(crate) async fn issue_token(
    st: &AppState,
    auth: &Authenticated,
    room: &Room,
    body: &Value,
) -> Result<String, ApiError> {
    let field = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
    // A user and role signed into the MAuth header take precedence over the body.
    let (user, role) = match (&auth.user, &auth.role) {
        (Some(u), Some(r)) => (Some(u.clone()), Some(r.clone())),
        _ => (field("user"), field("role")),
    };
    let (Some(user), Some(role)) = (user.filter(|u| !u.is_empty()), role) else {
        return Err(ApiError::bad_request("Name or role not valid"));
    };
    if !room.config.roles.iter().any(|r| r.role == role) {
        return Err(ApiError::bad_request("Name or role not valid"));
    }
    let origin = match body.get("preference") {
        None | Some(Value::Null) => Origin::default(),
        Some(p) => {
            let s = |k: &str, d: &str| match p.get(k) {
                None | Some(Value::Null) => Ok(d.to_string()),
                Some(Value::String(v)) => Ok(v.clone()),
                Some(_) => Err(ApiError::bad_request(format!(
                    "Invalid preference.{k}: expected a string"
                ))),
            };
            Origin {
                isp: s("isp", "isp")?,
                region: s("region", "region")?,
            }
        }
    };
    let domain = match body.get("domain") {
        None | Some(Value::Null) => None,
        Some(Value::String(d)) => Some(d.clone()),
        Some(_) => return Err(ApiError::bad_request("Invalid domain: expected a string")),
    };
    let portal = &st.config().portal;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let record = TokenRecord {
        user,
        role,
        room: room.id,
        service: auth.service.id,
        creation_date: now_ms,
        origin,
        code: rand::random_range(0..100_000_000_000u64).to_string(),
        secure: portal.secure,
        host: portal.host.clone(),
        web_transport_url: st.config().web_transport_url.clone(),
        domain,
    };
    let id = ObjectId::with_timestamp((now_ms / 1000) as u32);
    st.store().insert_token(id, &record).await?;
    st.inner.metrics.token_issued();
    let token = Token::new(
        st.token_key(),
        id.to_hex(),
        record.host,
        record.secure,
        record.web_transport_url,
    );
    tracing::debug!(target: "tessera::api", room = %room.id, token = %id, "token issued");
    Ok(token.encode())
}

// ---- runtime sub-resources (§2.5–§2.8) ----

async fn runtime_collection(
    State(st): State<AppState>,
    auth: Authenticated,
    method: Method,
    uri: Uri,
    Path((room, resource)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let r = Target {
        room,
        resource,
        id: None,
        stats: false,
    };
    runtime(st, auth, method, uri, r, body).await
}

async fn runtime_item(
    State(st): State<AppState>,
    auth: Authenticated,
    method: Method,
    uri: Uri,
    Path((room, resource, id)): Path<(String, String, String)>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let r = Target {
        room,
        resource,
        id: Some(id),
        stats: false,
    };
    runtime(st, auth, method, uri, r, body).await
}

/// `GET /rooms/{room}/streams/{id}/stats`: a Tessera extension, not in OWT.
async fn stream_stats(
    State(st): State<AppState>,
    auth: Authenticated,
    uri: Uri,
    Path((room, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let r = Target {
        room,
        resource: "streams".into(),
        id: Some(id),
        stats: true,
    };
    runtime(st, auth, Method::GET, uri, r, Value::Null).await
}

/// What a runtime request names.
struct Target {
    room: String,
    resource: String,
    id: Option<String>,
    stats: bool,
}

async fn runtime(
    st: AppState,
    auth: Authenticated,
    method: Method,
    uri: Uri,
    target: Target,
    body: Value,
) -> Result<Response, ApiError> {
    let Target {
        room,
        resource,
        id,
        stats,
    } = target;
    let Some(resource) = Resource::from_segment(&resource) else {
        return Err(ApiError::not_found());
    };
    let allowed = match (id.is_some(), &method) {
        (false, m) => {
            *m == Method::GET
                || (*m == Method::POST
                    && resource != Resource::Participants
                    && resource != Resource::Streams)
        }
        (true, m) => *m == Method::GET || *m == Method::PATCH || *m == Method::DELETE,
    };
    if !allowed {
        return Err(ApiError::not_found());
    }
    if let Some(id) = &id
        && !is_valid_path_id(id)
    {
        return Err(ApiError::bad_request(format!(
            "Invalid {} id",
            resource.segment()
        )));
    }
    let room = owned_room(&st, &auth, &room).await?;
    let req = RuntimeRequest {
        version: version_of(&uri),
        resource,
        id,
        method,
        body,
        stats,
    };
    match st.inner.runtime.handle(&room, req).await? {
        RuntimeReply::Json(v) => Ok(json(v)),
        RuntimeReply::Empty => Ok(StatusCode::OK.into_response()),
    }
}

async fn stream_engine(_auth: Authenticated) -> ApiError {
    ApiError::not_implemented(
        "Not implemented: the experimental stream-engine API of OWT 5.1 is not supported",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_helper_sets_content_type() {
        let r = json(serde_json::json!({"a": 1}));
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    }
}
