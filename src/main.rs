//! Entry point: parse the command line, set up logging, load config and key, start the actors
//! and serve HTTP until SIGINT/SIGTERM.

use std::process::ExitCode;

use actix_web::{App, HttpServer};
use anyhow::Context as _;
use clap::Parser;
use tracing::{error, info};

use serverless_executor::chain::ecdsa::address_of;
use serverless_executor::cli::{Cli, Command};
use serverless_executor::config::Config;
use serverless_executor::secrets::SecretKey;
use serverless_executor::{http, system, telemetry};

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init();
    let result = match cli.command {
        Some(Command::Keygen { ref out }) => keygen(out),
        None => run(&cli).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

fn keygen(out: &std::path::Path) -> anyhow::Result<()> {
    let key = SecretKey::generate_file(out)?;
    let address = address_of(key.signing_key().verifying_key());
    info!(path = %out.display(), enclave_address = %address, "Enclave key written.");
    Ok(())
}

async fn run(cli: &Cli) -> anyhow::Result<()> {
    let config = Config::load(&cli.config_file)?;
    let key = SecretKey::load(&config.enclave_signer_file)
        .with_context(|| "loading the enclave key (config key `enclave_signer_file`)")?;
    let handles = system::start(&config, key)?;
    info!(
        enclave_address = %handles.identity.address,
        bind = %config.http_bind_address,
        port = cli.port,
        "Node started."
    );
    let routes = http::configure(handles.http.clone(), config.admin.body_limit_bytes);
    HttpServer::new(move || App::new().configure(routes.clone()))
        .bind((config.http_bind_address, cli.port))
        .with_context(|| {
            format!(
                "binding the HTTP server to {}:{}",
                config.http_bind_address, cli.port
            )
        })?
        .run()
        .await
        .context("HTTP server failed")?;
    handles.signer_arbiter.stop();
    info!("Node stopped.");
    Ok(())
}
