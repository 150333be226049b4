//! The `candor` command line: `candor` (or `candor serve`) runs the server;
//! `candor token create|list|revoke` manages API tokens in the data directory's
//! database (the server may be running meanwhile); `candor submit` and `candor follow`
//! are the terminal client ([`crate::terminal`]).

use std::io::Write;

use anyhow::Context;
use chrono::Utc;
use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::identity::tokens;
use crate::owner::Owner;
use crate::store::Store;

#[derive(Debug, Parser)]
#[command(
    name = "candor",
    version,
    about = "Runs background jobs and streams their progress to browsers",
    after_help = "Settings come from CANDOR_* environment variables (see the README); \
                  CANDOR_DATA_DIR says where the data lives (default ./data)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve Candor (what `candor` does without a command).
    Serve,
    /// API tokens for scripts and terminals (`Authorization: Bearer <token>`).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Start a job on a running Candor; with --follow, follow it to its end.
    ///
    /// Prints the job's id; when it completes, its result's URL (or the saved file).
    /// Exits 0 when it completed, 1 when it failed, 3 when it was cancelled, 4 when
    /// Candor could not be reached or refused.
    Submit(crate::terminal::SubmitArgs),
    /// Follow a job on a running Candor to its end, with a progress bar.
    ///
    /// Exits as `submit --follow` does.
    Follow(crate::terminal::FollowArgs),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it. It is shown only this once; only its hash is kept.
    Create {
        /// Act for this existing owner (see `candor token list`) instead of a new one.
        #[arg(long)]
        owner: Option<String>,
        /// A note to recognise the token by in `candor token list`.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List the tokens (never the tokens themselves): id, owner, label, dates.
    List,
    /// Revoke a token by its id: requests with it are refused from now on.
    Revoke {
        /// The token's id, as `candor token list` shows it.
        id: String,
    },
}

/// Runs a token command against the database in the configured data directory.
pub async fn token(config: &Config, command: TokenCommand) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            config.data_dir.display()
        )
    })?;
    let store = crate::startup::open_store(config).await?;
    let store = store.as_ref();
    match command {
        TokenCommand::Create { owner, label } => create_token(store, owner, &label).await,
        TokenCommand::List => list_tokens(store).await,
        TokenCommand::Revoke { id } => {
            anyhow::ensure!(
                store.revoke_token(id.trim(), Utc::now()).await?,
                "no active token with id {id:?} (see `candor token list`)"
            );
            writeln!(std::io::stdout().lock(), "revoked token {id}")?;
            Ok(())
        }
    }
}

/// `candor token create`: the token alone on stdout (`TOKEN=$(candor token create)`), the
/// rest on stderr.
async fn create_token(store: &dyn Store, owner: Option<String>, label: &str) -> anyhow::Result<()> {
    let owner = owner.map(|o| checked_owner(&o)).transpose()?;
    let label = label.trim();
    anyhow::ensure!(
        label.chars().count() <= 200,
        "--label: at most 200 characters"
    );
    let new = tokens::create(store, owner, label).await?;
    writeln!(std::io::stdout().lock(), "{}", new.token)?;
    writeln!(
        std::io::stderr().lock(),
        "token {} for owner {}: keep it secret, it is not shown again",
        new.info.id,
        new.info.owner
    )?;
    Ok(())
}

/// `candor token list`: every token, newest first, as a table.
async fn list_tokens(store: &dyn Store) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<12}  {:<34}  {:<20}  {:<9}  label",
        "id", "owner", "created", "state"
    )?;
    for token in store.tokens().await? {
        let state = if token.revoked_at.is_some() {
            "revoked"
        } else {
            "active"
        };
        writeln!(
            out,
            "{:<12}  {:<34}  {:<20}  {:<9}  {}",
            token.id,
            token.owner,
            token.created_at.format("%Y-%m-%d %H:%M:%S"),
            state,
            token.label
        )?;
    }
    Ok(())
}

fn checked_owner(owner: &str) -> anyhow::Result<Owner> {
    let owner = owner.trim();
    anyhow::ensure!(
        !owner.is_empty() && owner.len() <= 100 && owner.bytes().all(|b| b.is_ascii_graphic()),
        "--owner: 1 to 100 printable ASCII characters, as `candor token list` shows owners"
    );
    Ok(Owner::new(owner))
}
