//! The standalone server: every control-plane role in one process, on the embedded store
//! unless `--mongodb` is given.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use tessera_api::{ApiConfig, ApiMetrics, AppState, PortalAddress};
use tessera_node::{MediaNode, NodeConfig, NodeMetrics};
use tessera_schema::ObjectId;
use tessera_schema::records::Service;
use tessera_schema::room::{Room, RoomConfig};
use tessera_store::{EmbeddedStore, MongoStore, Store};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;

/// Name of the super service (as OWT's `initdb.js` names it).
pub const SUPER_SERVICE_NAME: &str = "superService";

/// `<data-dir>/service.json`: the super service's credentials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceFile {
    /// Service id.
    pub id: String,
    /// Service key (plain text).
    pub key: String,
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    /// Where the REST API listens.
    pub rest_addr: SocketAddr,
    /// Where the demo endpoint listens, when enabled.
    pub demo_addr: Option<SocketAddr>,
    /// The super service.
    pub super_service: ServiceFile,
    /// Path of `service.json`.
    pub service_file: PathBuf,
    /// The demo room.
    pub sample_room: Option<ObjectId>,
    /// Store backend name.
    pub backend: &'static str,
    /// The token-signing key (tests verify token signatures with it).
    pub token_key: String,
    /// The store (tests reach records the API does not expose, e.g. to age a token).
    pub store: Arc<dyn Store>,
    /// The data plane's UDP addresses, one per shard.
    pub media_addrs: Vec<SocketAddr>,
    /// Where the portal (Socket.IO) listens.
    pub portal_addr: SocketAddr,
    /// The portal (its Socket.IO handlers hold only weak references to it).
    portal: Arc<tessera_portal::Portal>,
    media: Arc<MediaNode>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

async fn bind(addr: SocketAddr, what: &str, flag: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            format!("port {} is already in use (another tessera or OWT running?); choose another with {flag}", addr.port())
        } else {
            e.to_string()
        };
        anyhow!("cannot listen on {addr} for the {what}: {hint}")
    })
}

async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match &config.mongodb {
        Some(url) => Arc::new(MongoStore::connect(url).await.map_err(|e| anyhow!("{e}"))?),
        None => {
            Arc::new(EmbeddedStore::open(&config.data_dir.join("db")).map_err(|e| anyhow!("{e}"))?)
        }
    })
}

/// Finds or creates the super service and returns it with its plain-text key.
async fn ensure_super_service(
    store: &dyn Store,
    config: &Config,
) -> anyhow::Result<(Service, String)> {
    let cipher_key = config.cipher_key();
    let service = match &config.rest.super_service_id {
        Some(id) => {
            let id: ObjectId = id.parse().expect("validated");
            store.service(id).await?.ok_or_else(|| {
                anyhow!("rest.super_service_id {id} names no service in the database")
            })?
        }
        None => match store.service_by_name(SUPER_SERVICE_NAME).await? {
            Some(s) => s,
            None => {
                let key = tessera_auth::random_service_key();
                let s = Service {
                    id: ObjectId::new(),
                    name: SUPER_SERVICE_NAME.into(),
                    key: tessera_auth::cipher::encrypt(&cipher_key, &key),
                    encrypted: true,
                    rooms: vec![],
                    v: 0,
                };
                store.create_service(&s).await?;
                tracing::info!(target: "tessera::api", service = %s.id, "super service created");
                s
            }
        },
    };
    let key = tessera_api::service_key(&service, &cipher_key)
        .map_err(|e| anyhow!("cannot read the super service's key: {e} (set rest.service_cipher_key to the key the database was written with)"))?;
    Ok((service, key))
}

async fn ensure_sample_room(
    store: &dyn Store,
    service: ObjectId,
    name: &str,
) -> anyhow::Result<ObjectId> {
    if let Some(r) = store
        .rooms(service, None)
        .await?
        .into_iter()
        .find(|r| r.config.name == name)
    {
        return Ok(r.id);
    }
    let room = Room {
        id: ObjectId::new(),
        config: RoomConfig::with_defaults(name),
        v: 0,
    };
    store.create_room(service, &room).await?;
    tracing::info!(target: "tessera::room", room = %room.id, name, "demo room created");
    Ok(room.id)
}

fn write_service_file(path: &Path, sf: &ServiceFile) -> anyhow::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(sf)?)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

impl Server {
    /// Binds every listener, opens the store, prepares the super service, the token key and the
    /// demo room, and starts serving. Fails with a one-line reason (port taken, database
    /// unreachable, data directory unusable).
    pub async fn start(config: Config) -> anyhow::Result<Server> {
        // Listeners first: a taken port is the most common start-up failure.
        let rest_listener = bind(
            SocketAddr::new(config.rest.bind, config.rest.port),
            "REST API",
            "--rest-port",
        )
        .await?;
        let portal_listener = bind(
            SocketAddr::new(config.portal.bind, config.portal.port),
            "portal",
            "--portal-port",
        )
        .await?;
        let portal_addr = portal_listener.local_addr()?;
        let demo_listener = if config.demo.enabled {
            Some(
                bind(
                    SocketAddr::new(config.demo.bind, config.demo.port),
                    "demo endpoint",
                    "--demo-port",
                )
                .await?,
            )
        } else {
            None
        };
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            anyhow!(
                "cannot create the data directory {}: {e}",
                config.data_dir.display()
            )
        })?;

        let store = open_store(&config).await?;
        let (service, key) = ensure_super_service(store.as_ref(), &config).await?;
        let token_key = store.token_key().await?;
        let sample_room = if config.demo.enabled {
            Some(ensure_sample_room(store.as_ref(), service.id, &config.demo.room_name).await?)
        } else {
            None
        };
        let super_service = ServiceFile {
            id: service.id.to_hex(),
            key,
        };
        let service_file = config.data_dir.join("service.json");
        write_service_file(&service_file, &super_service)?;

        let mut registry = Registry::default();
        let metrics = ApiMetrics::register(&mut registry);
        let node_metrics = NodeMetrics::default();
        node_metrics.register(&mut registry);
        #[cfg(feature = "count-allocs")]
        crate::alloc_count::register(&mut registry);
        let public_ips = if config.webrtc.public_ips.is_empty() {
            local_addresses(config.webrtc.bind)
        } else {
            config.webrtc.public_ips.clone()
        };
        let node_config = NodeConfig {
            cores: config.webrtc.cores,
            pin: config.webrtc.pin,
            bind: config.webrtc.bind,
            port: config.webrtc.udp_port,
            public_ips,
            relay_slack: config.webrtc.relay_slack,
            runtime: config.webrtc.runtime,
            udp_gso: config.webrtc.udp_gso,
        };
        let media = Arc::new(
            MediaNode::start_with_metrics(node_config, node_metrics)
                .map_err(|e| anyhow!("cannot start the WebRTC data plane: {e}"))?,
        );
        let media_addrs = media.shard_addrs();
        let conference = tessera_conference::Conference::new(media.clone());
        let portal = match &config.portal.via_host {
            Some(via) => PortalAddress::from_via_host(via),
            None => PortalAddress {
                host: format!("{}:{}", config.portal.hostname, portal_addr.port()),
                secure: config.portal.secure,
            },
        };
        let portal_service = tessera_portal::Portal::new(
            store.clone(),
            conference.clone(),
            token_key.clone(),
            tessera_portal::PortalConfig {
                host: portal.host.clone(),
                ticket_lifetime: Duration::from_secs(config.portal.reconnection_ticket_lifetime),
                reconnection_timeout: Duration::from_secs(config.portal.reconnection_timeout),
                cors_origins: config.portal.cors.clone(),
                ..tessera_portal::PortalConfig::default()
            },
        );
        portal_service.register_metrics(&mut registry);
        let api_config = ApiConfig {
            super_service_id: service.id,
            service_cipher_key: config.cipher_key(),
            portal,
            web_transport_url: None,
            max_body_bytes: config.rest.max_body_bytes,
            auth_failure_delay: Duration::from_millis(config.rest.auth_failure_delay_ms),
        };
        let state = AppState::new(
            store.clone(),
            api_config,
            token_key.clone(),
            conference,
            metrics,
            Arc::new(registry),
        );

        let (shutdown, rx) = watch::channel(false);
        let rest_addr = rest_listener.local_addr()?;
        let mut tasks = vec![serve(
            rest_listener,
            tessera_api::rest_app(state.clone()),
            rx.clone(),
        )];
        tasks.push(serve(portal_listener, portal_service.router(), rx.clone()));
        let mut demo_addr = None;
        if let (Some(l), Some(room)) = (demo_listener, sample_room) {
            demo_addr = Some(l.local_addr()?);
            tasks.push(serve(l, tessera_api::demo_app(state, room), rx));
        }
        tracing::info!(target: "tessera", %rest_addr, ?demo_addr, store = store.backend(), "tessera started");
        Ok(Server {
            rest_addr,
            demo_addr,
            super_service,
            service_file,
            sample_room,
            backend: store.backend(),
            token_key,
            store: store.clone(),
            media_addrs,
            portal_addr,
            portal: portal_service,
            media,
            shutdown,
            tasks,
        })
    }

    /// Stops accepting, lets requests in flight finish (up to 10 s), then returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            if tokio::time::timeout(Duration::from_secs(10), t)
                .await
                .is_err()
            {
                tracing::warn!(target: "tessera", "a listener did not finish within 10 s");
            }
        }
        drop(self.portal);
        self.media.stop();
        tracing::info!(target: "tessera", "tessera stopped");
    }
}

/// Host-candidate addresses when none are configured: the bind address if it is specific,
/// else loopback and every IPv4 address of the local interfaces.
fn local_addresses(bind: std::net::IpAddr) -> Vec<std::net::IpAddr> {
    if !bind.is_unspecified() {
        return vec![bind];
    }
    let mut ips = vec![std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)];
    if let Ok(ifs) = if_addrs::get_if_addrs() {
        for i in ifs {
            let ip = i.ip();
            if ip.is_ipv4() && !ip.is_loopback() && !ips.contains(&ip) {
                ips.push(ip);
            }
        }
    }
    ips
}

fn serve(
    listener: TcpListener,
    app: axum::Router,
    mut rx: watch::Receiver<bool>,
) -> JoinHandle<std::io::Result<()>> {
    use axum::serve::ListenerExt;
    // Small writes go out at once: with Nagle's algorithm a Socket.IO notification written
    // right after another one (a `progress` answer, then `ready`) waited for the client's
    // delayed ACK, about 40 ms on Linux.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on a connection");
        }
    });
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.wait_for(|stop| *stop).await;
            })
            .await
    })
}
