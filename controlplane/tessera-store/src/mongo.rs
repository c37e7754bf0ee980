//! The MongoDB store, in OWT's collections and document shapes (spec §4.1):
//!
//! | collection | document |
//! |---|---|
//! | `services` | `{_id: ObjectId, name, key, encrypted, rooms: [ObjectId], __v}` |
//! | `rooms` | the room document (§4.2) with `_id: ObjectId` |
//! | `tokens` | `{_id, user, role, room: ObjectId, service: ObjectId, creationDate: Date, origin, code, secure, host, webTransportUrl?, domain?, __v}` |
//! | `keys` | `{_id: 0, key: <128 hex>}` |
//!
//! Queries stay simple (equality, `$lt`, `$in`, `$push`, `$pull`) so that MongoDB-wire-compatible
//! servers used in tests behave like MongoDB.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{self, Bson, Document, doc, oid};
use mongodb::options::ClientOptions;
use mongodb::{Client, Collection, Database};
use serde_json::{Map, Value};
use tessera_schema::ObjectId;
use tessera_schema::records::{Origin, Service, TOKEN_LIFETIME_MS, TokenRecord, TokenTake};
use tessera_schema::room::Room;

use crate::{Page, Store, StoreError};

/// The MongoDB store.
#[derive(Clone, Debug)]
pub struct MongoStore {
    db: Database,
}

fn backend<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn corrupt<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn oid(id: ObjectId) -> oid::ObjectId {
    oid::ObjectId::from_bytes(id.bytes())
}

fn our_id(id: oid::ObjectId) -> ObjectId {
    ObjectId::from_bytes(id.bytes())
}

/// Hides the password of a connection string for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..s + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

/// BSON to the JSON our typed decoders read: ObjectIds become hex strings, dates milliseconds.
fn to_json(b: Bson) -> Value {
    match b {
        Bson::ObjectId(o) => Value::String(o.to_hex()),
        Bson::DateTime(d) => Value::from(d.timestamp_millis()),
        Bson::Int32(i) => Value::from(i),
        Bson::Int64(i) => Value::from(i),
        Bson::Double(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        Bson::String(s) => Value::String(s),
        Bson::Boolean(b) => Value::Bool(b),
        Bson::Null | Bson::Undefined => Value::Null,
        Bson::Array(a) => Value::Array(a.into_iter().map(to_json).collect()),
        Bson::Document(d) => Value::Object(
            d.into_iter()
                .map(|(k, v)| (k, to_json(v)))
                .collect::<Map<_, _>>(),
        ),
        other => other.into_relaxed_extjson(),
    }
}

fn doc_to_json(d: Document) -> Value {
    to_json(Bson::Document(d))
}

fn json_to_doc(v: &Value) -> Result<Document, StoreError> {
    match bson::to_bson(v).map_err(backend)? {
        Bson::Document(d) => Ok(d),
        _ => Err(StoreError::Backend("expected a document".into())),
    }
}

fn service_doc(s: &Service) -> Document {
    doc! {
        "_id": oid(s.id),
        "name": &s.name,
        "key": &s.key,
        "encrypted": s.encrypted,
        "rooms": s.rooms.iter().map(|r| Bson::ObjectId(oid(*r))).collect::<Vec<_>>(),
        "__v": s.v,
    }
}

fn decode_service(d: Document) -> Result<Service, StoreError> {
    serde_json::from_value(doc_to_json(d)).map_err(corrupt)
}

fn room_doc(r: &Room) -> Result<Document, StoreError> {
    let mut d = json_to_doc(&r.to_json())?;
    d.insert("_id", oid(r.id));
    Ok(d)
}

fn decode_room(d: Document) -> Result<Room, StoreError> {
    Room::from_stored(doc_to_json(d)).map_err(corrupt)
}

fn token_doc(id: ObjectId, t: &TokenRecord) -> Document {
    let mut d = doc! {
        "_id": oid(id),
        "user": &t.user,
        "role": &t.role,
        "room": oid(t.room),
        "service": oid(t.service),
        "creationDate": bson::DateTime::from_millis(t.creation_date),
        "origin": { "isp": &t.origin.isp, "region": &t.origin.region },
        "code": &t.code,
        "secure": t.secure,
        "host": &t.host,
        "__v": 0,
    };
    if let Some(u) = &t.web_transport_url {
        d.insert("webTransportUrl", u);
    }
    if let Some(dm) = &t.domain {
        d.insert("domain", dm);
    }
    d
}

fn decode_token(d: Document) -> Result<TokenRecord, StoreError> {
    let s = |k: &str| {
        d.get_str(k)
            .map(str::to_string)
            .map_err(|e| corrupt(format!("token.{k}: {e}")))
    };
    let id = |k: &str| {
        d.get_object_id(k)
            .map(our_id)
            .map_err(|e| corrupt(format!("token.{k}: {e}")))
    };
    let origin = d.get_document("origin").ok();
    let o = |k: &str| {
        origin
            .and_then(|o| o.get_str(k).ok())
            .unwrap_or(k)
            .to_string()
    };
    Ok(TokenRecord {
        user: s("user")?,
        role: s("role")?,
        room: id("room")?,
        service: id("service")?,
        creation_date: d
            .get_datetime("creationDate")
            .map_err(|e| corrupt(format!("token.creationDate: {e}")))?
            .timestamp_millis(),
        origin: Origin {
            isp: o("isp"),
            region: o("region"),
        },
        code: d.get_str("code").unwrap_or_default().to_string(),
        secure: d.get_bool("secure").unwrap_or(false),
        host: d.get_str("host").unwrap_or_default().to_string(),
        web_transport_url: d.get_str("webTransportUrl").ok().map(str::to_string),
        domain: d.get_str("domain").ok().map(str::to_string),
    })
}

impl MongoStore {
    /// Connects to `url` (`mongodb://host:port/db`; OWT's `localhost/owtdb` form is accepted
    /// too). The database is the URL's, or `owtdb`. Fails with [`StoreError::Unavailable`] and
    /// a one-line reason when the server cannot be reached within 5 seconds.
    pub async fn connect(url: &str) -> Result<MongoStore, StoreError> {
        let full = if url.contains("://") {
            url.to_string()
        } else {
            format!("mongodb://{url}")
        };
        let shown = redact(&full);
        let mut opts = ClientOptions::parse(&full)
            .await
            .map_err(|e| StoreError::Unavailable(format!("invalid MongoDB URL {shown}: {e}")))?;
        opts.server_selection_timeout = Some(Duration::from_secs(5));
        opts.connect_timeout = Some(Duration::from_secs(5));
        opts.app_name = Some("tessera".into());
        let name = opts
            .default_database
            .clone()
            .unwrap_or_else(|| "owtdb".into());
        let client = Client::with_options(opts)
            .map_err(|e| StoreError::Unavailable(format!("MongoDB client for {shown}: {e}")))?;
        let store = MongoStore {
            db: client.database(&name),
        };
        store
            .db
            .run_command(doc! { "ping": 1 })
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!(
                    "cannot reach MongoDB at {shown}: {}",
                    first_line(&e.to_string())
                ))
            })?;
        Ok(store)
    }

    fn coll(&self, name: &str) -> Collection<Document> {
        self.db.collection(name)
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

#[async_trait]
impl Store for MongoStore {
    fn backend(&self) -> &'static str {
        "mongodb"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.db
            .run_command(doc! { "ping": 1 })
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    async fn services(&self) -> Result<Vec<Service>, StoreError> {
        let docs: Vec<Document> = self
            .coll("services")
            .find(doc! {})
            .sort(doc! {"_id": 1})
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        docs.into_iter().map(decode_service).collect()
    }

    async fn service(&self, id: ObjectId) -> Result<Option<Service>, StoreError> {
        self.coll("services")
            .find_one(doc! {"_id": oid(id)})
            .await
            .map_err(backend)?
            .map(decode_service)
            .transpose()
    }

    async fn service_by_name(&self, name: &str) -> Result<Option<Service>, StoreError> {
        self.coll("services")
            .find_one(doc! {"name": name})
            .await
            .map_err(backend)?
            .map(decode_service)
            .transpose()
    }

    async fn create_service(&self, service: &Service) -> Result<(), StoreError> {
        if self.service_by_name(&service.name).await?.is_some() {
            return Err(StoreError::Conflict(format!(
                "a service named '{}' already exists",
                service.name
            )));
        }
        self.coll("services")
            .insert_one(service_doc(service))
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn delete_service(&self, id: ObjectId) -> Result<bool, StoreError> {
        let Some(svc) = self.service(id).await? else {
            return Ok(false);
        };
        let r = self
            .coll("services")
            .delete_one(doc! {"_id": oid(id)})
            .await
            .map_err(backend)?;
        if !svc.rooms.is_empty() {
            let ids: Vec<Bson> = svc.rooms.iter().map(|r| Bson::ObjectId(oid(*r))).collect();
            self.coll("rooms")
                .delete_many(doc! {"_id": {"$in": ids}})
                .await
                .map_err(backend)?;
        }
        Ok(r.deleted_count > 0)
    }

    async fn create_room(&self, service: ObjectId, room: &Room) -> Result<(), StoreError> {
        self.coll("rooms")
            .insert_one(room_doc(room)?)
            .await
            .map_err(backend)?;
        let r = self
            .coll("services")
            .update_one(
                doc! {"_id": oid(service)},
                doc! {"$push": {"rooms": oid(room.id)}},
            )
            .await
            .map_err(backend)?;
        if r.matched_count == 0 {
            self.coll("rooms")
                .delete_one(doc! {"_id": oid(room.id)})
                .await
                .map_err(backend)?;
            return Err(StoreError::Backend(format!(
                "service {service} does not exist"
            )));
        }
        Ok(())
    }

    async fn room(&self, id: ObjectId) -> Result<Option<Room>, StoreError> {
        self.coll("rooms")
            .find_one(doc! {"_id": oid(id)})
            .await
            .map_err(backend)?
            .map(decode_room)
            .transpose()
    }

    async fn rooms(&self, service: ObjectId, page: Option<Page>) -> Result<Vec<Room>, StoreError> {
        let Some(svc) = self.service(service).await? else {
            return Ok(Vec::new());
        };
        if svc.rooms.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Bson> = svc.rooms.iter().map(|r| Bson::ObjectId(oid(*r))).collect();
        let docs: Vec<Document> = self
            .coll("rooms")
            .find(doc! {"_id": {"$in": ids}})
            .sort(doc! {"_id": 1})
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        let mut rooms = docs
            .into_iter()
            .map(decode_room)
            .collect::<Result<Vec<_>, _>>()?;
        // Sort here too: paging must not depend on the server honouring `sort`.
        rooms.sort_by_key(|r| r.id);
        let (skip, take) = page.map_or((0, usize::MAX), Page::bounds);
        Ok(rooms.into_iter().skip(skip).take(take).collect())
    }

    async fn replace_room(&self, room: &Room) -> Result<bool, StoreError> {
        let r = self
            .coll("rooms")
            .replace_one(doc! {"_id": oid(room.id)}, room_doc(room)?)
            .await
            .map_err(backend)?;
        Ok(r.matched_count > 0)
    }

    async fn delete_room(&self, service: ObjectId, id: ObjectId) -> Result<bool, StoreError> {
        let r = self
            .coll("rooms")
            .delete_one(doc! {"_id": oid(id)})
            .await
            .map_err(backend)?;
        self.coll("services")
            .update_one(
                doc! {"_id": oid(service)},
                doc! {"$pull": {"rooms": oid(id)}},
            )
            .await
            .map_err(backend)?;
        Ok(r.deleted_count > 0)
    }

    async fn insert_token(&self, id: ObjectId, token: &TokenRecord) -> Result<(), StoreError> {
        self.coll("tokens")
            .insert_one(token_doc(id, token))
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn take_token(&self, id: ObjectId, now_ms: i64) -> Result<TokenTake, StoreError> {
        let taken = self
            .coll("tokens")
            .find_one_and_delete(doc! {"_id": oid(id)})
            .await
            .map_err(backend)?;
        let cutoff = bson::DateTime::from_millis(now_ms - TOKEN_LIFETIME_MS);
        self.coll("tokens")
            .delete_many(doc! {"creationDate": {"$lt": cutoff}})
            .await
            .map_err(backend)?;
        Ok(match taken.map(decode_token).transpose()? {
            None => TokenTake::Missing,
            Some(t) if now_ms - t.creation_date > TOKEN_LIFETIME_MS => TokenTake::Expired,
            Some(t) => TokenTake::Taken(Box::new(t)),
        })
    }

    async fn token_count(&self) -> Result<u64, StoreError> {
        self.coll("tokens")
            .count_documents(doc! {})
            .await
            .map_err(backend)
    }

    async fn token_key(&self) -> Result<String, StoreError> {
        let keys = self.coll("keys");
        if let Some(d) = keys.find_one(doc! {"_id": 0}).await.map_err(backend)? {
            return d
                .get_str("key")
                .map(str::to_string)
                .map_err(|e| corrupt(format!("keys._id=0: {e}")));
        }
        let key = tessera_auth::random_hex_key();
        if let Err(e) = keys.insert_one(doc! {"_id": 0, "key": &key}).await {
            // Another process created it first: use theirs.
            if let Some(d) = keys.find_one(doc! {"_id": 0}).await.map_err(backend)? {
                return d
                    .get_str("key")
                    .map(str::to_string)
                    .map_err(|e| corrupt(format!("keys._id=0: {e}")));
            }
            return Err(backend(e));
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("mongodb://u:secret@h:1/db"),
            "mongodb://u:***@h:1/db"
        );
        assert_eq!(redact("mongodb://h:1/db"), "mongodb://h:1/db");
    }

    #[test]
    fn bson_json_round_trip_keeps_ids_and_dates() {
        let id = ObjectId::new();
        let d = doc! {"_id": oid(id), "at": bson::DateTime::from_millis(5), "n": 3i32, "f": 1.5};
        let j = doc_to_json(d);
        assert_eq!(j["_id"], id.to_hex());
        assert_eq!(j["at"], 5);
        assert_eq!(j["n"], 3);
        assert_eq!(j["f"], 1.5);
    }
}
