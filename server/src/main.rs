//! `candor`: serves until Ctrl-C or SIGTERM, or manages API tokens (`candor token …`).

use anyhow::Context;
use clap::Parser;
use server::cli::{Cli, Command};
use server::config::Config;
use server::jobs::builtin_kinds;
use server::shutdown;
use server::startup::Application;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// jemalloc instead of glibc's malloc: the event writer's thread allocates and frees for
/// every event while the runtime's threads free what it made (the events they stream), and
/// glibc's arenas made them queue on each other's locks. Under 1,000 owners' jobs writing
/// 10,000 events a second its p99 publish-to-receive was 344 ms with glibc, 31 ms with
/// jemalloc, 42 ms with mimalloc; an idle stream costs about 3.5 KiB more with it
/// (bench/crowd.sh; BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Submit(args)) => client(server::terminal::submit(args).await),
        Some(Command::Follow(args)) => client(server::terminal::follow(args).await),
        Some(Command::Token(command)) => {
            // A token command's stdout is its answer (`TOKEN=$(candor token create)`).
            init_logs(true)?;
            server::cli::token(&Config::from_env(builtin_kinds().names())?, command).await
        }
        None | Some(Command::Serve) => {
            init_logs(false)?;
            serve(Config::from_env(builtin_kinds().names())?).await
        }
    }
}

/// Ends a terminal client's run with its exit code.
#[allow(clippy::print_stderr)] // the client's last word, to its terminal
fn client(outcome: anyhow::Result<i32>) -> ! {
    match outcome {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            eprintln!("candor: {err:#}");
            std::process::exit(server::terminal::EXIT_ERROR)
        }
    }
}

/// Logs through `tracing`: readable lines by default, one JSON object per line with
/// `CANDOR_LOG_FORMAT=json`; the level from `RUST_LOG`.
fn init_logs(to_stderr: bool) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    let json = match std::env::var("CANDOR_LOG_FORMAT").as_deref().map(str::trim) {
        Err(_) | Ok("" | "text") => false,
        Ok("json") => true,
        Ok(other) => {
            anyhow::bail!("CANDOR_LOG_FORMAT={other:?} is not valid: must be text or json")
        }
    };
    match (json, to_stderr) {
        (false, false) => logs.init(),
        (false, true) => logs.with_writer(std::io::stderr).init(),
        (true, false) => logs.json().init(),
        (true, true) => logs.json().with_writer(std::io::stderr).init(),
    }
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    // cargo-leptos passes the site's settings (address, output name) in LEPTOS_* variables.
    let leptos = leptos::config::get_configuration(None)
        .context("cannot read the LEPTOS_* settings")?
        .leptos_options;
    let listener = TcpListener::bind(leptos.site_addr)
        .await
        .with_context(|| format!("cannot listen on {}", leptos.site_addr))?;
    let app = Application::build(config, leptos, listener).await?;
    tracing::info!("Candor is up on {}://{}", app.scheme(), app.local_addr()?);

    let stop = app.stopper();
    tokio::spawn(async move {
        shutdown::signal().await;
        stop.cancel();
    });
    app.run_until_stopped().await
}
