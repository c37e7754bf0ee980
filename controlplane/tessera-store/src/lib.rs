//! # tessera-store
//!
//! Everything Tessera persists — services, rooms, tokens, the token key — behind one trait,
//! [`Store`], with two real implementations:
//!
//! * [`EmbeddedStore`]: a [redb](https://docs.rs/redb) database file under the data directory.
//!   ACID and crash-safe (copy-on-write B-trees, checksummed commits). The default: a new user
//!   needs no database server.
//! * [`MongoStore`]: MongoDB through the official `mongodb` driver, with OWT's collection names
//!   and document shapes (`services`, `rooms`, `tokens`, `keys`), so an existing OWT database
//!   can be pointed at. This crate is the only user of `mongodb`.
//!
//! Inputs are typed records from `tessera-schema`; both backends pass the same test suite
//! (`tests/suite.rs`). Time is passed in (`now_ms`), never read here.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tessera_store::StoreError> {
//! use tessera_store::{EmbeddedStore, Store};
//! let store = EmbeddedStore::open(std::path::Path::new("./tessera-data"))?;
//! let key = store.token_key().await?;
//! assert_eq!(key.len(), 128);
//! # Ok(()) }
//! ```

mod embedded;
mod mongo;

pub use embedded::EmbeddedStore;
pub use mongo::MongoStore;

use async_trait::async_trait;
use tessera_schema::ObjectId;
use tessera_schema::records::{Service, TokenRecord, TokenTake};
use tessera_schema::room::Room;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint was violated (service name).
    #[error("{0}")]
    Conflict(String),
    /// The database could not be opened or reached.
    #[error("{0}")]
    Unavailable(String),
    /// The backend failed an operation.
    #[error("storage backend error: {0}")]
    Backend(String),
    /// A stored document cannot be decoded.
    #[error("stored document is corrupt: {0}")]
    Corrupt(String),
}

/// Paging of room lists: `per_page` rooms starting at page `page` (1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    /// 1-based page number.
    pub page: u64,
    /// Rooms per page (> 0).
    pub per_page: u64,
}

impl Page {
    fn bounds(self) -> (usize, usize) {
        let skip = self.page.saturating_sub(1).saturating_mul(self.per_page);
        (
            usize::try_from(skip).unwrap_or(usize::MAX),
            usize::try_from(self.per_page).unwrap_or(usize::MAX),
        )
    }
}

/// Persistent state of the control plane.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// `"embedded"` or `"mongodb"`, for logs and metrics.
    fn backend(&self) -> &'static str;

    /// Checks the backend answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// All services, sorted by id.
    async fn services(&self) -> Result<Vec<Service>, StoreError>;
    /// One service.
    async fn service(&self, id: ObjectId) -> Result<Option<Service>, StoreError>;
    /// The service with this unique name.
    async fn service_by_name(&self, name: &str) -> Result<Option<Service>, StoreError>;
    /// Inserts a service; [`StoreError::Conflict`] if the name is taken.
    async fn create_service(&self, service: &Service) -> Result<(), StoreError>;
    /// Deletes a service and the rooms it owns; `false` if there was none.
    async fn delete_service(&self, id: ObjectId) -> Result<bool, StoreError>;

    /// Inserts a room and records it in its service's room list.
    async fn create_room(&self, service: ObjectId, room: &Room) -> Result<(), StoreError>;
    /// One room.
    async fn room(&self, id: ObjectId) -> Result<Option<Room>, StoreError>;
    /// The rooms of a service, sorted by id, optionally one page of them.
    async fn rooms(&self, service: ObjectId, page: Option<Page>) -> Result<Vec<Room>, StoreError>;
    /// Replaces a stored room; `false` if there was none.
    async fn replace_room(&self, room: &Room) -> Result<bool, StoreError>;
    /// Deletes a room and removes it from its service; `false` if there was none.
    async fn delete_room(&self, service: ObjectId, id: ObjectId) -> Result<bool, StoreError>;

    /// Stores a new token under `id`.
    async fn insert_token(&self, id: ObjectId, token: &TokenRecord) -> Result<(), StoreError>;
    /// Consumes a token (single use) at time `now_ms`, purging every expired token.
    async fn take_token(&self, id: ObjectId, now_ms: i64) -> Result<TokenTake, StoreError>;
    /// Number of stored tokens (expired ones included until purged).
    async fn token_count(&self) -> Result<u64, StoreError>;

    /// The token-signing key (collection `keys`, `_id: 0`), created on first use.
    async fn token_key(&self) -> Result<String, StoreError>;
}
