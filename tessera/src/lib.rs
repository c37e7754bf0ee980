//! # tessera (the binary's library)
//!
//! Command-line parsing, configuration and the standalone server, exposed as a library so that
//! integration tests can start a real server in-process. `main.rs` is a thin wrapper.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let config = tessera::config::Config::default();
//! let server = tessera::server::Server::start(config).await?;
//! println!("REST API on {}", server.rest_addr);
//! server.shutdown().await;
//! # Ok(()) }
//! ```

#[cfg(feature = "count-allocs")]
pub mod alloc_count;
pub mod allocator;
pub mod cli;
pub mod config;
pub mod server;
