//! Configuration: built-in defaults, then a TOML file (`--config`), then `TESSERA_*`
//! environment variables (nested keys joined by `__`, e.g. `TESSERA_REST__PORT=3100`), then
//! command-line flags. The merged result is validated into [`Config`] before anything starts.

use std::net::IpAddr;
use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the embedded store and `service.json` live.
    pub data_dir: PathBuf,
    /// MongoDB URL; when set, MongoDB replaces the embedded store.
    pub mongodb: Option<String>,
    /// Management REST API.
    pub rest: RestConfig,
    /// Portal (Socket.IO signaling) address advertised in tokens.
    pub portal: PortalConfig,
    /// Sample-app demo endpoint.
    pub demo: DemoConfig,
    /// Logging.
    pub log: LogConfig,
    /// WebRTC data plane.
    pub webrtc: WebrtcConfig,
}

/// `[webrtc]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebrtcConfig {
    /// Data-plane shards (pinned executors); 0 = one per core.
    pub cores: usize,
    /// Pin shard i to CPU i.
    pub pin: bool,
    /// Address the UDP sockets bind to.
    pub bind: IpAddr,
    /// First UDP port (shard i uses port + i); 0 = ephemeral ports.
    pub udp_port: u16,
    /// Addresses advertised as ICE host candidates; empty = loopback and every local
    /// interface address.
    pub public_ips: Vec<IpAddr>,
    /// Transports a source's shard may carry beyond the least-loaded shard before new
    /// subscribers of that source go to the least-loaded shard (the source is relayed there).
    pub relay_slack: usize,
    /// The loop that drives each shard: "uring" (our own io_uring loop) or "glommio".
    #[serde(with = "runtime_name")]
    pub runtime: tessera_node::ShardRuntime,
    /// Send a burst of datagrams to one peer as one UDP GSO message (the kernel or the NIC
    /// splits it); off: one message per datagram.
    pub udp_gso: bool,
}

/// `webrtc.runtime` as its name.
mod runtime_name {
    use serde::{Deserialize, Deserializer, Serializer};
    use tessera_node::ShardRuntime;

    pub fn serialize<S: Serializer>(r: &ShardRuntime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(r.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ShardRuntime, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

impl Default for WebrtcConfig {
    fn default() -> Self {
        WebrtcConfig {
            cores: 0,
            pin: true,
            bind: ANY,
            udp_port: 0,
            public_ips: Vec::new(),
            relay_slack: tessera_node::DEFAULT_RELAY_SLACK,
            runtime: tessera_node::ShardRuntime::default(),
            udp_gso: true,
        }
    }
}

/// `[rest]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RestConfig {
    /// Address to listen on.
    pub bind: IpAddr,
    /// Port (OWT: 3000).
    pub port: u16,
    /// Largest accepted request body in bytes.
    pub max_body_bytes: usize,
    /// Upper bound of the random delay before answering 401 (OWT: 1000 ms; 0 disables).
    pub auth_failure_delay_ms: u64,
    /// Super service id; default: the service named `superService`, created on first start.
    pub super_service_id: Option<String>,
    /// Hex AES-256 key that service keys are encrypted with (OWT's `spk`); default: OWT's
    /// built-in key, so existing OWT databases work unchanged.
    pub service_cipher_key: Option<String>,
}

/// `[portal]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PortalConfig {
    /// Address to listen on.
    pub bind: IpAddr,
    /// Port (OWT: 8080).
    pub port: u16,
    /// Host name or IP clients use to reach the portal; goes into tokens with the port.
    pub hostname: String,
    /// Public URL in front of the portal (OWT's `owt_via_host`, e.g. `https://meet.example:443`);
    /// when set, tokens carry its host and `secure` follows its scheme.
    pub via_host: Option<String>,
    /// Whether clients reach the portal over TLS (without `via_host`).
    pub secure: bool,
    /// Validity of reconnection tickets, seconds (OWT: 600).
    pub reconnection_ticket_lifetime: u64,
    /// Seconds a dropped client may take to `relogin` before it leaves (OWT: 60).
    pub reconnection_timeout: u64,
    /// Allowed browser origins (CORS with credentials); `*` reflects any origin.
    pub cors: Vec<String>,
}

/// `[demo]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DemoConfig {
    /// Serve the demo endpoint.
    pub enabled: bool,
    /// Address to listen on.
    pub bind: IpAddr,
    /// Port (OWT's sample app: 3001).
    pub port: u16,
    /// Name of the room created for the demo.
    pub room_name: String,
}

/// `[log]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `tracing` filter, e.g. `info` or `info,tessera::api=debug`.
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

const ANY: IpAddr = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./tessera-data"),
            mongodb: None,
            rest: RestConfig::default(),
            portal: PortalConfig::default(),
            demo: DemoConfig::default(),
            log: LogConfig::default(),
            webrtc: WebrtcConfig::default(),
        }
    }
}

impl Default for RestConfig {
    fn default() -> Self {
        RestConfig {
            bind: ANY,
            port: 3000,
            max_body_bytes: 1 << 20,
            auth_failure_delay_ms: 1000,
            super_service_id: None,
            service_cipher_key: None,
        }
    }
}

impl Default for PortalConfig {
    fn default() -> Self {
        PortalConfig {
            bind: ANY,
            port: 8080,
            hostname: "localhost".into(),
            via_host: None,
            secure: false,
            reconnection_ticket_lifetime: 600,
            reconnection_timeout: 60,
            cors: vec!["*".into()],
        }
    }
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            enabled: true,
            bind: ANY,
            port: 3001,
            room_name: "sampleRoom".into(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// Top-level keys; other `TESSERA_*` variables (e.g. `TESSERA_SIMD`) are not configuration.
const TOP_LEVEL_KEYS: &[&str] = &[
    "data_dir", "mongodb", "rest", "portal", "demo", "log", "webrtc",
];

impl Config {
    /// Merges defaults, the optional TOML file, the environment and `overrides` (flags).
    pub fn load(file: Option<&std::path::Path>, overrides: &Figment) -> Result<Config, String> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(format!(
                    "configuration file {} does not exist",
                    path.display()
                ));
            }
            fig = fig.merge(Toml::file_exact(path));
        }
        // The filter runs after `split`: keys look like `PORTAL.PORT` here (lowercased later).
        let env = Env::prefixed("TESSERA_").split("__").filter(|k| {
            let top = k
                .as_str()
                .split('.')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            TOP_LEVEL_KEYS.contains(&top.as_str())
        });
        fig = fig.merge(env).merge(overrides.clone());
        let config: Config = fig.extract().map_err(|e| {
            let mut msg = format!("invalid configuration: {e}");
            if let Some(src) = e.metadata.as_ref().and_then(|m| m.source.as_ref()) {
                msg.push_str(&format!(" (from {src})"));
            }
            msg.replace('\n', " ")
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        if let Some(id) = &self.rest.super_service_id
            && id.parse::<tessera_schema::ObjectId>().is_err()
        {
            return Err(format!(
                "invalid configuration: rest.super_service_id '{id}' is not a 24-hex ObjectId"
            ));
        }
        if let Some(k) = &self.rest.service_cipher_key
            && (k.len() != 64 || hex::decode(k).is_err())
        {
            return Err("invalid configuration: rest.service_cipher_key must be 64 hex characters (32 bytes)".into());
        }
        if self.rest.max_body_bytes < 1024 {
            return Err("invalid configuration: rest.max_body_bytes must be at least 1024".into());
        }
        if self.portal.hostname.is_empty() {
            return Err("invalid configuration: portal.hostname must not be empty".into());
        }
        if self.demo.room_name.is_empty() {
            return Err("invalid configuration: demo.room_name must not be empty".into());
        }
        if let Some(url) = &self.mongodb
            && url.trim().is_empty()
        {
            return Err("invalid configuration: mongodb must be a URL such as mongodb://127.0.0.1:27017/owtdb".into());
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| format!("invalid configuration: log.level '{}': {e}", self.log.level))?;
        Ok(())
    }

    /// The service-key cipher key.
    pub fn cipher_key(&self) -> [u8; 32] {
        match &self.rest.service_cipher_key {
            Some(k) => {
                let mut out = [0u8; 32];
                hex::decode_to_slice(k, &mut out).expect("validated as 64 hex characters");
                out
            }
            None => tessera_auth::cipher::DEFAULT_KEY,
        }
    }

    /// The TOML form (for `--print-config`).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("the configuration serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_owts_ports() {
        let c = Config::load(None, &Figment::new()).unwrap();
        assert_eq!(
            (c.rest.port, c.portal.port, c.demo.port),
            (3000, 8080, 3001)
        );
        assert_eq!(c.cipher_key(), tessera_auth::cipher::DEFAULT_KEY);
    }

    #[test]
    fn file_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t.toml");
        std::fs::write(
            &f,
            "data_dir = \"/tmp/x\"\n[rest]\nport = 3100\n[portal]\nhostname = \"meet.example\"\n",
        )
        .unwrap();
        let flags = Figment::new().merge(Serialized::default("rest.port", 3200));
        let c = Config::load(Some(&f), &flags).unwrap();
        assert_eq!(c.rest.port, 3200);
        assert_eq!(c.portal.hostname, "meet.example");
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn bad_configs_are_one_line_errors() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t.toml");
        std::fs::write(&f, "[rest]\nport = \"x\"\n").unwrap();
        let e = Config::load(Some(&f), &Figment::new()).unwrap_err();
        assert!(e.contains("rest.port") && !e.contains('\n'), "{e}");
        std::fs::write(&f, "[rest]\nprot = 1\n").unwrap();
        let e = Config::load(Some(&f), &Figment::new()).unwrap_err();
        assert!(e.contains("prot"), "{e}");
        assert!(
            Config::load(Some(&dir.path().join("missing.toml")), &Figment::new())
                .unwrap_err()
                .contains("does not exist")
        );
        let flags = Figment::new().merge(Serialized::default("rest.super_service_id", "nope"));
        assert!(
            Config::load(None, &flags)
                .unwrap_err()
                .contains("super_service_id")
        );
    }
}
