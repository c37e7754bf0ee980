//! The embedded store: one redb file, `<data-dir>/tessera.redb`.
//!
//! Tables hold JSON documents keyed by the 24-hex id. Because an ObjectId starts with its
//! creation second, hex keys sort by time, so purging expired tokens is a range delete.
//! Service, room and key writes are committed durably (fsync); token writes skip the fsync
//! (`Durability::None`) and become durable with the next durable commit: a crash can lose
//! tokens minted in the last moments, never corrupt the database. Clients simply fetch a new
//! token; everything else survives.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
};
use tessera_schema::ObjectId;
use tessera_schema::records::{Service, TOKEN_LIFETIME_MS, TokenRecord, TokenTake};
use tessera_schema::room::Room;

use crate::{Page, Store, StoreError};

const SERVICES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("services");
const ROOMS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("rooms");
const TOKENS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("tokens");
const META: TableDefinition<'_, &str, &str> = TableDefinition::new("meta");

/// Every this many token inserts, expired tokens are purged in a durable commit.
const PURGE_EVERY: u64 = 1024;

/// The embedded (redb) store.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    inserts: Arc<AtomicU64>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore").finish_non_exhaustive()
    }
}

fn backend<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn corrupt<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn decode_service(bytes: &[u8]) -> Result<Service, StoreError> {
    serde_json::from_slice(bytes).map_err(corrupt)
}

fn decode_room(bytes: &[u8]) -> Result<Room, StoreError> {
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(corrupt)?;
    Room::from_stored(v).map_err(corrupt)
}

fn json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("records serialise")
}

/// The first key (24 hex) of ids created at `secs` or later.
fn key_floor(secs: u32) -> String {
    format!("{secs:08x}0000000000000000")
}

impl EmbeddedStore {
    /// Opens (or creates) `<dir>/tessera.redb`, creating `dir` if needed.
    pub fn open(dir: &Path) -> Result<EmbeddedStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join("tessera.redb");
        let db = Database::create(&path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Unavailable(format!(
                "{} is already open in another process (is another tessera running with this --data-dir?)",
                path.display()
            )),
            e => StoreError::Unavailable(format!("cannot open {}: {e}", path.display())),
        })?;
        let store = EmbeddedStore {
            db: Arc::new(db),
            inserts: Arc::new(AtomicU64::new(0)),
        };
        store.write(Durability::Immediate, |tx| {
            tx.open_table(SERVICES)?;
            tx.open_table(ROOMS)?;
            tx.open_table(TOKENS)?;
            tx.open_table(META)?;
            Ok(())
        })?;
        Ok(store)
    }

    fn write<T>(
        &self,
        durability: Durability,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut tx = self.db.begin_write().map_err(backend)?;
        tx.set_durability(durability).map_err(backend)?;
        let out = f(&tx)?;
        tx.commit().map_err(backend)?;
        Ok(out)
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&redb::ReadTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        f(&tx)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(EmbeddedStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || f(this))
            .await
            .map_err(backend)?
    }

    fn purge_expired(tx: &redb::WriteTransaction, now_ms: i64) -> Result<(), StoreError> {
        let cutoff_secs = ((now_ms - TOKEN_LIFETIME_MS).max(0) / 1000) as u32;
        let floor = key_floor(cutoff_secs);
        let mut t = tx.open_table(TOKENS).map_err(backend)?;
        t.retain_in::<&str, _>(..floor.as_str(), |_, _| false)
            .map_err(backend)?;
        Ok(())
    }
}

impl From<redb::TableError> for StoreError {
    fn from(e: redb::TableError) -> Self {
        backend(e)
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    fn backend(&self) -> &'static str {
        "embedded"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.blocking(|s| s.read(|tx| tx.open_table(META).map(|_| ()).map_err(backend)))
            .await
    }

    async fn services(&self) -> Result<Vec<Service>, StoreError> {
        self.blocking(|s| {
            s.read(|tx| {
                let t = tx.open_table(SERVICES).map_err(backend)?;
                let mut out = Vec::new();
                for item in t.iter().map_err(backend)? {
                    let (_, v) = item.map_err(backend)?;
                    out.push(decode_service(v.value())?);
                }
                Ok(out)
            })
        })
        .await
    }

    async fn service(&self, id: ObjectId) -> Result<Option<Service>, StoreError> {
        self.blocking(move |s| {
            s.read(|tx| {
                let t = tx.open_table(SERVICES).map_err(backend)?;
                t.get(id.to_hex().as_str())
                    .map_err(backend)?
                    .map(|v| decode_service(v.value()))
                    .transpose()
            })
        })
        .await
    }

    async fn service_by_name(&self, name: &str) -> Result<Option<Service>, StoreError> {
        let name = name.to_string();
        Ok(self.services().await?.into_iter().find(|s| s.name == name))
    }

    async fn create_service(&self, service: &Service) -> Result<(), StoreError> {
        let service = service.clone();
        self.blocking(move |s| {
            s.write(Durability::Immediate, |tx| {
                let mut t = tx.open_table(SERVICES).map_err(backend)?;
                for item in t.iter().map_err(backend)? {
                    let (_, v) = item.map_err(backend)?;
                    if decode_service(v.value())?.name == service.name {
                        return Err(StoreError::Conflict(format!(
                            "a service named '{}' already exists",
                            service.name
                        )));
                    }
                }
                t.insert(service.id.to_hex().as_str(), json(&service).as_slice())
                    .map_err(backend)?;
                Ok(())
            })
        })
        .await
    }

    async fn delete_service(&self, id: ObjectId) -> Result<bool, StoreError> {
        self.blocking(move |s| {
            s.write(Durability::Immediate, |tx| {
                let mut t = tx.open_table(SERVICES).map_err(backend)?;
                let Some(old) = t.remove(id.to_hex().as_str()).map_err(backend)? else {
                    return Ok(false);
                };
                let service = decode_service(old.value())?;
                drop(old);
                let mut rooms = tx.open_table(ROOMS).map_err(backend)?;
                for r in &service.rooms {
                    rooms.remove(r.to_hex().as_str()).map_err(backend)?;
                }
                Ok(true)
            })
        })
        .await
    }

    async fn create_room(&self, service: ObjectId, room: &Room) -> Result<(), StoreError> {
        let room = room.clone();
        self.blocking(move |s| {
            s.write(Durability::Immediate, |tx| {
                let mut services = tx.open_table(SERVICES).map_err(backend)?;
                let key = service.to_hex();
                let mut svc = match services.get(key.as_str()).map_err(backend)? {
                    Some(v) => decode_service(v.value())?,
                    None => {
                        return Err(StoreError::Backend(format!(
                            "service {service} does not exist"
                        )));
                    }
                };
                svc.rooms.push(room.id);
                services
                    .insert(key.as_str(), json(&svc).as_slice())
                    .map_err(backend)?;
                let mut rooms = tx.open_table(ROOMS).map_err(backend)?;
                rooms
                    .insert(room.id.to_hex().as_str(), json(&room.to_json()).as_slice())
                    .map_err(backend)?;
                Ok(())
            })
        })
        .await
    }

    async fn room(&self, id: ObjectId) -> Result<Option<Room>, StoreError> {
        self.blocking(move |s| {
            s.read(|tx| {
                let t = tx.open_table(ROOMS).map_err(backend)?;
                t.get(id.to_hex().as_str())
                    .map_err(backend)?
                    .map(|v| decode_room(v.value()))
                    .transpose()
            })
        })
        .await
    }

    async fn rooms(&self, service: ObjectId, page: Option<Page>) -> Result<Vec<Room>, StoreError> {
        self.blocking(move |s| {
            s.read(|tx| {
                let services = tx.open_table(SERVICES).map_err(backend)?;
                let Some(svc) = services.get(service.to_hex().as_str()).map_err(backend)? else {
                    return Ok(Vec::new());
                };
                let mut ids = decode_service(svc.value())?.rooms;
                ids.sort();
                ids.dedup();
                let (skip, take) = page.map_or((0, usize::MAX), Page::bounds);
                let rooms = tx.open_table(ROOMS).map_err(backend)?;
                let mut out = Vec::new();
                for id in ids {
                    if let Some(v) = rooms.get(id.to_hex().as_str()).map_err(backend)? {
                        out.push(decode_room(v.value())?);
                    }
                }
                Ok(out.into_iter().skip(skip).take(take).collect())
            })
        })
        .await
    }

    async fn replace_room(&self, room: &Room) -> Result<bool, StoreError> {
        let room = room.clone();
        self.blocking(move |s| {
            s.write(Durability::Immediate, |tx| {
                let mut t = tx.open_table(ROOMS).map_err(backend)?;
                let key = room.id.to_hex();
                if t.get(key.as_str()).map_err(backend)?.is_none() {
                    return Ok(false);
                }
                t.insert(key.as_str(), json(&room.to_json()).as_slice())
                    .map_err(backend)?;
                Ok(true)
            })
        })
        .await
    }

    async fn delete_room(&self, service: ObjectId, id: ObjectId) -> Result<bool, StoreError> {
        self.blocking(move |s| {
            s.write(Durability::Immediate, |tx| {
                let mut services = tx.open_table(SERVICES).map_err(backend)?;
                let key = service.to_hex();
                let svc = services
                    .get(key.as_str())
                    .map_err(backend)?
                    .map(|v| decode_service(v.value()))
                    .transpose()?;
                if let Some(mut svc) = svc {
                    svc.rooms.retain(|r| *r != id);
                    services
                        .insert(key.as_str(), json(&svc).as_slice())
                        .map_err(backend)?;
                }
                let mut rooms = tx.open_table(ROOMS).map_err(backend)?;
                Ok(rooms
                    .remove(id.to_hex().as_str())
                    .map_err(backend)?
                    .is_some())
            })
        })
        .await
    }

    async fn insert_token(&self, id: ObjectId, token: &TokenRecord) -> Result<(), StoreError> {
        let bytes = json(token);
        let now = token.creation_date;
        let n = self.inserts.fetch_add(1, Ordering::Relaxed);
        self.blocking(move |s| {
            let purge = n % PURGE_EVERY == PURGE_EVERY - 1;
            let durability = if purge {
                Durability::Immediate
            } else {
                Durability::None
            };
            s.write(durability, |tx| {
                if purge {
                    Self::purge_expired(tx, now)?;
                }
                let mut t = tx.open_table(TOKENS).map_err(backend)?;
                t.insert(id.to_hex().as_str(), bytes.as_slice())
                    .map_err(backend)?;
                Ok(())
            })
        })
        .await
    }

    async fn take_token(&self, id: ObjectId, now_ms: i64) -> Result<TokenTake, StoreError> {
        self.blocking(move |s| {
            s.write(Durability::None, |tx| {
                let taken = {
                    let mut t = tx.open_table(TOKENS).map_err(backend)?;
                    let removed = t.remove(id.to_hex().as_str()).map_err(backend)?;
                    removed
                        .map(|v| serde_json::from_slice::<TokenRecord>(v.value()).map_err(corrupt))
                        .transpose()?
                };
                Self::purge_expired(tx, now_ms)?;
                Ok(match taken {
                    None => TokenTake::Missing,
                    Some(t) if now_ms - t.creation_date > TOKEN_LIFETIME_MS => TokenTake::Expired,
                    Some(t) => TokenTake::Taken(Box::new(t)),
                })
            })
        })
        .await
    }

    async fn token_count(&self) -> Result<u64, StoreError> {
        self.blocking(|s| {
            s.read(|tx| {
                tx.open_table(TOKENS)
                    .map_err(backend)?
                    .len()
                    .map_err(backend)
            })
        })
        .await
    }

    async fn token_key(&self) -> Result<String, StoreError> {
        self.blocking(|s| {
            s.write(Durability::Immediate, |tx| {
                let mut t = tx.open_table(META).map_err(backend)?;
                if let Some(k) = t.get("token_key").map_err(backend)? {
                    return Ok(k.value().to_string());
                }
                let key = tessera_auth::random_hex_key();
                t.insert("token_key", key.as_str()).map_err(backend)?;
                Ok(key)
            })
        })
        .await
    }
}
