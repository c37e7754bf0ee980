//! Command-line flags. Every flag overrides the configuration key named in its help.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Parser;
use figment::Figment;
use figment::providers::Serialized;

use crate::config::LogFormat;

/// Tessera: an OWT-compatible media server (SFU + MCU).
///
/// Without a sub-command, tessera runs standalone: every control-plane role in one process, the
/// embedded store under --data-dir (or MongoDB with --mongodb), OWT's management REST API on
/// --rest-port and the sample-app demo endpoint on --demo-port. On first start it creates the
/// super service and writes its id and key to <data-dir>/service.json.
///
/// Configuration is layered: built-in defaults, then the TOML file given with --config, then
/// environment variables TESSERA_<KEY> (nested keys joined by "__", e.g. TESSERA_REST__PORT=3100,
/// TESSERA_DATA_DIR=/var/lib/tessera), then these flags. `tessera --print-config` shows the
/// result.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about, long_about)]
pub struct Cli {
    /// TOML configuration file (keys as printed by --print-config).
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Data directory for the embedded store and service.json [config: data_dir; default ./tessera-data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Use MongoDB at URL instead of the embedded store, e.g. mongodb://127.0.0.1:27017/owtdb;
    /// an existing OWT database works as is [config: mongodb].
    #[arg(long, value_name = "URL")]
    pub mongodb: Option<String>,

    /// Listen address of every server socket (REST, portal, demo) [config: rest.bind, portal.bind, demo.bind; default 0.0.0.0].
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<IpAddr>,

    /// Port of the management REST API and /metrics [config: rest.port; default 3000].
    #[arg(long, value_name = "PORT")]
    pub rest_port: Option<u16>,

    /// Port of the portal (Socket.IO signaling) that tokens point clients to [config: portal.port; default 8080].
    #[arg(long, value_name = "PORT")]
    pub portal_port: Option<u16>,

    /// Host name or IP clients use to reach the portal; written into tokens [config: portal.hostname; default localhost].
    #[arg(long, value_name = "HOST")]
    pub portal_hostname: Option<String>,

    /// Port of the sample-app demo endpoint (POST /tokens) [config: demo.port; default 3001].
    #[arg(long, value_name = "PORT")]
    pub demo_port: Option<u16>,

    /// Do not serve the demo endpoint nor create the demo room [config: demo.enabled = false].
    #[arg(long)]
    pub no_demo: bool,

    /// Log filter, e.g. info, debug or info,tessera::api=debug [config: log.level; default info; RUST_LOG is ignored].
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,

    /// Log line format [config: log.format; default text].
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,

    /// Data-plane shards, one pinned executor and UDP port each; 0 = one per core [config: webrtc.cores; default 0].
    #[arg(long, value_name = "N")]
    pub cores: Option<usize>,

    /// First UDP port of the data plane (shard i uses PORT+i); 0 = ephemeral ports [config: webrtc.udp_port; default 0].
    #[arg(long, value_name = "PORT")]
    pub udp_port: Option<u16>,

    /// Address to advertise as an ICE host candidate (repeat for several); default: loopback and every local interface address [config: webrtc.public_ips].
    #[arg(long = "public-ip", value_name = "IP")]
    pub public_ip: Vec<IpAddr>,

    /// Subscribers of a stream stay on its core until that core carries N transports more than the least-loaded one; later ones go to the least-loaded core, which gets the stream relayed (0 = always spread) [config: webrtc.relay_slack; default 8].
    #[arg(long, value_name = "N")]
    pub relay_slack: Option<usize>,

    /// The loop that drives each data-plane shard: "uring" (Tessera's own io_uring loop, one wait per wake-up, no allocation) or "glommio" (a glommio executor; costs more per wake-up, see docs/BENCHMARKS.md) [config: webrtc.runtime; default uring].
    #[arg(long, value_name = "LOOP", value_parser = ["uring", "glommio"])]
    pub runtime: Option<String>,

    /// Send every datagram as its own message: no UDP GSO for bursts to one peer (GSO roughly halves the sender's cost per datagram of a burst; the kernel falls back by itself where a route cannot offload it) [config: webrtc.udp_gso = false; default true].
    #[arg(long)]
    pub no_udp_gso: bool,

    /// Print the merged configuration as TOML and exit.
    #[arg(long)]
    pub print_config: bool,
}

impl Cli {
    /// The flags given, as configuration overrides.
    pub fn overrides(&self) -> Figment {
        let mut f = Figment::new();
        macro_rules! set {
            ($key:expr, $v:expr) => {
                if let Some(v) = &$v {
                    f = f.merge(Serialized::default($key, v));
                }
            };
        }
        set!("data_dir", self.data_dir);
        set!("mongodb", self.mongodb);
        set!("rest.bind", self.bind);
        set!("portal.bind", self.bind);
        set!("demo.bind", self.bind);
        set!("rest.port", self.rest_port);
        set!("portal.port", self.portal_port);
        set!("portal.hostname", self.portal_hostname);
        set!("demo.port", self.demo_port);
        set!("log.level", self.log_level);
        set!("log.format", self.log_format);
        set!("webrtc.cores", self.cores);
        set!("webrtc.udp_port", self.udp_port);
        set!("webrtc.relay_slack", self.relay_slack);
        set!("webrtc.runtime", self.runtime);
        if !self.public_ip.is_empty() {
            f = f.merge(Serialized::default("webrtc.public_ips", &self.public_ip));
        }
        if let Some(b) = self.bind {
            f = f.merge(Serialized::default("webrtc.bind", b));
        }
        if self.no_demo {
            f = f.merge(Serialized::default("demo.enabled", false));
        }
        if self.no_udp_gso {
            f = f.merge(Serialized::default("webrtc.udp_gso", false));
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn help_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_override_configuration() {
        let cli = Cli::parse_from([
            "tessera",
            "--rest-port",
            "4000",
            "--bind",
            "127.0.0.1",
            "--no-demo",
            "--log-format",
            "json",
        ]);
        let c = Config::load(None, &cli.overrides()).unwrap();
        assert_eq!(c.rest.port, 4000);
        assert_eq!(c.portal.bind.to_string(), "127.0.0.1");
        assert!(!c.demo.enabled);
        assert_eq!(c.log.format, LogFormat::Json);
    }
}
