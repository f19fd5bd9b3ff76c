//! Entry point: parse the command line, set up logging, load config and key, start the actors
//! and serve HTTP (and the agent-check port) until SIGTERM/SIGINT, then drain (`balancer::shutdown`).

use std::process::ExitCode;

use actix_web::{App, HttpServer};
use anyhow::Context as _;
use clap::Parser;
use tracing::{error, info, warn};

use serverless_executor::balancer::{agent, shutdown};
use serverless_executor::chain::ecdsa::address_of;
use serverless_executor::cli::{Cli, Command};
use serverless_executor::config::{Config, LogFormat};
use serverless_executor::devkit::args::{CodeCommand, JobCommand};
use serverless_executor::http::listeners;
use serverless_executor::sandbox::launcher::{self, SandboxArgs};
use serverless_executor::sandbox::protect;
use serverless_executor::secrets::SecretKey;
use serverless_executor::{devkit, http, system, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::SandboxExec(args)) = &cli.command {
        // No runtime, no logging setup: this process becomes workerd within microseconds.
        return sandbox_exec(args);
    }
    actix_main(cli)
}

/// The launcher has no logger: it writes one line to its stderr, which the node captures.
fn sandbox_exec(args: &SandboxArgs) -> ExitCode {
    use std::io::Write as _;
    let error = launcher::run(args);
    let _ = writeln!(
        std::io::stderr(),
        "sandbox-exec: {error}: {}",
        error_chain(&error)
    );
    ExitCode::from(launcher::LAUNCH_FAILED)
}

fn error_chain(error: &dyn std::error::Error) -> String {
    error
        .source()
        .map(|source| source.to_string())
        .unwrap_or_default()
}

#[actix_web::main]
async fn actix_main(cli: Cli) -> ExitCode {
    match cli.command {
        // The node sets up logging once its config (`log_format`) is read: `run`.
        None | Some(Command::SandboxExec(_)) => {}
        Some(Command::Keygen { .. }) => telemetry::init(LogFormat::Text),
        Some(_) => telemetry::init_for_tool("warn"),
    }
    let result = match cli.command {
        Some(Command::Keygen { ref out }) => keygen(out).map(|()| 0),
        Some(Command::SandboxExec(_)) | None => run(&cli).await.map(|()| 0),
        Some(ref kit) => devkit(kit).await,
    };
    match result {
        Ok(status) => ExitCode::from(status),
        Err(error) => {
            error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The developer kit's subcommands: their own exit statuses (`devkit::exit`). Their errors
/// already name their cause in one line, so it is logged without the source chain.
async fn devkit(command: &Command) -> anyhow::Result<u8> {
    let result = match command {
        Command::Run(args) => devkit::local_run::run(args).await,
        Command::Code(CodeCommand::Upload(args)) => devkit::upload::upload(args).await,
        Command::Job(JobCommand::Create(args)) => devkit::job::create(args).await,
        Command::Job(JobCommand::Watch(args)) => devkit::watch::watch(args).await,
        Command::Verify(args) => devkit::verify::verify(args).await,
        Command::Keygen { .. } | Command::SandboxExec(_) => Ok(devkit::exit::TOOL_FAILED),
    };
    Ok(result.unwrap_or_else(|error| {
        error!("{error}");
        devkit::exit::TOOL_FAILED
    }))
}

fn keygen(out: &std::path::Path) -> anyhow::Result<()> {
    let key = SecretKey::generate_file(out)?;
    let address = address_of(key.signing_key().verifying_key());
    info!(path = %out.display(), enclave_address = %address, "Enclave key written.");
    Ok(())
}

async fn run(cli: &Cli) -> anyhow::Result<()> {
    let config = Config::load(&cli.config_file);
    // A config that does not load is reported in the default format.
    telemetry::init(
        config
            .as_ref()
            .map_or(LogFormat::Text, |config| config.observability.log_format),
    );
    // Before the key is in memory: no core dump, no same-uid ptrace, OOM-killed after jobs.
    let oom_score = protect::harden_node().context("protecting the node process")?;
    let config = config?;
    let key = SecretKey::load(&config.enclave_signer_file)
        .with_context(|| "loading the enclave key (config key `enclave_signer_file`)")?;
    protect::warn_if_key_exposed(&config.enclave_signer_file);
    if let Some(error) = oom_score {
        warn!(%error, "Jobs still go first (their score is 1000).");
    }
    let bound = Listeners::bind(&config, cli.port)?;
    let handles = system::start(&config, key).await?;
    info!(
        enclave_address = %handles.identity.address,
        bind = %config.http_bind_address,
        port = cli.port,
        "Node started."
    );
    let probe = handles.http.readiness.clone();
    let agent_task = match bound.agent {
        Some(listener) => {
            let listener = tokio::net::TcpListener::from_std(listener)
                .context("serving the agent-check port (config key `lb_agent_port`)")?;
            Some(actix_web::rt::spawn(agent::serve(listener, probe.clone())))
        }
        None => None,
    };
    let routes = http::configure(
        handles.http.clone(),
        config.admin.body_limit_bytes,
        bound.metrics.is_none(),
    );
    let server = HttpServer::new(move || App::new().configure(routes.clone()))
        .disable_signals()
        .listen(bound.http)
        .context("serving HTTP")?
        .run();
    // A separate metrics listener keeps answering through the drain; it stops after it.
    let metrics_server = match bound.metrics {
        None => None,
        Some(listener) => {
            let address = listener.local_addr().ok();
            let routes = http::configure_metrics_only(handles.http.clone());
            let server = HttpServer::new(move || App::new().configure(routes.clone()))
                .workers(1)
                .disable_signals()
                .listen(listener)
                .context("serving the metrics listener")?
                .run();
            info!(address = ?address, "Metrics served on their own listener.");
            let handle = server.handle();
            Some((handle, actix_web::rt::spawn(server)))
        }
    };
    let ended = shutdown::serve(server, &probe, config.balancer).await?;
    if let Some(task) = agent_task {
        task.abort();
    }
    if let Some((handle, task)) = metrics_server {
        handle.stop(true).await;
        if let Ok(Err(error)) = task.await {
            warn!(%error, "The metrics listener failed.");
        }
    }
    system::shut_down(&handles).await;
    if ended == shutdown::Ended::Forced {
        anyhow::bail!("node stopped before its work in flight finished (shutdown forced)");
    }
    info!("Node stopped.");
    Ok(())
}

/// The node's listening sockets, all bound before any actor starts (`http::listeners`).
struct Listeners {
    http: std::net::TcpListener,
    metrics: Option<std::net::TcpListener>,
    agent: Option<std::net::TcpListener>,
}

impl Listeners {
    fn bind(config: &Config, port: u16) -> Result<Self, listeners::BindError> {
        let on_node_address = |port| std::net::SocketAddr::from((config.http_bind_address, port));
        Ok(Self {
            http: listeners::bind(
                on_node_address(port),
                "the HTTP server (config key `http_bind_address`, flag `--port`)",
            )?,
            metrics: config
                .observability
                .metrics_bind_address
                .map(|address| {
                    listeners::bind(
                        address,
                        "the metrics listener (config key `metrics_bind_address`)",
                    )
                })
                .transpose()?,
            agent: config
                .balancer
                .agent_port
                .map(|port| {
                    listeners::bind(
                        on_node_address(port),
                        "the agent-check port (config key `lb_agent_port`)",
                    )
                })
                .transpose()?,
        })
    }
}
