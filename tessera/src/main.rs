//! `tessera`: see `tessera --help`.

use std::process::ExitCode;

use clap::Parser;
use tessera::cli::Cli;
use tessera::config::{Config, LogFormat};
use tessera::server::Server;

fn init_tracing(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::new(&config.log.level);
    use std::io::IsTerminal as _;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match config.log.format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Installs the SIGTERM and SIGINT handlers now, and returns what waits for either. Installed
/// before the banner says the server is up, so a signal sent right after it stops the server
/// gracefully instead of killing it.
fn stop_signals() -> impl Future<Output = &'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("install the SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install the SIGINT handler");
    async move {
        tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        }
    }
}

#[allow(clippy::print_stdout)]
fn banner(server: &Server, config: &Config) {
    let host = |addr: std::net::SocketAddr| {
        if addr.ip().is_unspecified() {
            format!("http://localhost:{}", addr.port())
        } else {
            format!("http://{addr}")
        }
    };
    println!(
        "Tessera {} is running (store: {}).",
        env!("CARGO_PKG_VERSION"),
        server.backend
    );
    println!(
        "  Management REST API: {}/v1/rooms   (metrics: {}/metrics)",
        host(server.rest_addr),
        host(server.rest_addr)
    );
    println!("  Super service id:    {}", server.super_service.id);
    println!("  Super service key:   {}", server.super_service.key);
    println!("  Credentials file:    {}", server.service_file.display());
    if let (Some(demo), Some(room)) = (server.demo_addr, server.sample_room) {
        println!(
            "  Demo endpoint:       POST {}/tokens  {{\"room\":\"\",\"user\":\"alice\",\"role\":\"presenter\"}}",
            host(demo)
        );
        println!(
            "  Demo room:           {} ({})",
            room, config.demo.room_name
        );
    }
    println!(
        "  WHIP publish:        POST {}/whip/<roomId>   (Authorization: Bearer <token>)",
        host(server.rest_addr)
    );
    println!(
        "  WHEP play:           POST {}/whep/<roomId>/<streamId>",
        host(server.rest_addr)
    );
    println!(
        "  Media (UDP):         {}",
        server
            .media_addrs
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  Portal (Socket.IO):  {}   (OWT clients connect here; tokens name it)",
        host(server.portal_addr)
    );
    println!("Stop with Ctrl-C.");
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref(), &cli.overrides()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if cli.print_config {
        #[allow(clippy::print_stdout)]
        {
            print!("{}", config.to_toml());
        }
        return ExitCode::SUCCESS;
    }
    init_tracing(&config);
    tracing::debug!(target: "tessera", allocator = tessera::allocator::NAME, "heap allocator");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("tessera-ctl")
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the control runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let server = match Server::start(config.clone()).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        let stop = stop_signals();
        banner(&server, &config);
        let sig = stop.await;
        tracing::info!(target: "tessera", signal = sig, "shutting down");
        server.shutdown().await;
        ExitCode::SUCCESS
    })
}
