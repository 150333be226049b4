//! Putting Candor together: open the store, end what a previous process left running,
//! start the runner, serve HTTP; and take it apart again in order on shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use leptos::config::LeptosOptions;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::events::{Bus, Recorder};
use crate::http::{AppState, router};
use crate::identity::{Identities, Sessions, session};
use crate::jobs::{Kinds, Runner, RunnerConfig, Services, recover_interrupted};
use crate::limits::connections::connections_that_fit;
use crate::limits::{CreationRate, LimitedListener, StreamPermits};
use crate::orders::OrdersTable;
use crate::retention::Sweeper;
use crate::store::{SqliteStore, Store};
use crate::uploads::Uploads;

pub struct Application {
    listener: TcpListener,
    max_connections: usize,
    state: AppState,
    sweeper: Sweeper,
    stop: CancellationToken,
}

impl Application {
    /// Opens the data directory and gets everything ready to serve on `listener`.
    pub async fn build(
        config: Config,
        leptos: LeptosOptions,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        tokio::fs::create_dir_all(config.artifacts_dir())
            .await
            .with_context(|| {
                format!(
                    "cannot create the data directory {}",
                    config.data_dir.display()
                )
            })?;
        let sqlite = SqliteStore::open(&config.database_path())
            .await
            .with_context(|| {
                format!(
                    "cannot open the database {}",
                    config.database_path().display()
                )
            })?;
        let kinds = Kinds::builtin().configured(&config.time_limits, config.upload_max_bytes);
        let services = Services {
            orders: OrdersTable::new(sqlite.pool(), sqlite.write_turns()),
            uploads: Uploads::new(config.uploads_dir()),
        };
        let store: Arc<dyn Store> = Arc::new(sqlite);
        let bus = Bus::new(config.bus_capacity);
        let recorder = Recorder::new(store.clone(), bus.clone());
        // Nothing runs yet: what an import or an upload left half-done is a leftover.
        let abandoned = services.orders.abandon_unfinished().await?;
        if abandoned > 0 {
            tracing::warn!(
                abandoned,
                "removed imports that a stopped process left unfinished"
            );
        }
        services.uploads.remove_partials().await?;
        let interrupted = recover_interrupted(store.as_ref(), &recorder, &kinds).await?;
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "ended jobs that were running when the last process stopped"
            );
        }
        let runner = Runner::new(
            recorder.clone(),
            kinds.clone(),
            services.clone(),
            RunnerConfig {
                workers: config.workers,
                progress_interval: config.progress_interval,
                artifacts_dir: config.artifacts_dir(),
                shutdown_grace: config.shutdown_grace,
            },
        );
        let key =
            session::load_or_create_key(config.session_key.as_deref(), &config.session_key_path())?;
        let identities = Identities::new(Sessions::new(key), store.clone());
        let limits = config.limits;
        let max_connections = connections_that_fit(limits.max_connections);
        let sweeper = Sweeper {
            store: store.clone(),
            recorder: recorder.clone(),
            artifacts_dir: config.artifacts_dir(),
            uploads: services.uploads.clone(),
            kinds: kinds.clone(),
            retention: config.retention,
            interval: config.sweep_interval,
        };
        let state = AppState {
            store,
            recorder,
            bus,
            runner,
            artifacts_dir: config.artifacts_dir().into(),
            kinds,
            uploads: services.uploads,
            upload_max_bytes: config.upload_max_bytes,
            keep_alive: config.keep_alive,
            silent_after: config.silent_after,
            identities,
            secure_cookies: config.secure_cookies,
            allowed_origins: config.allowed_origins.clone().into(),
            limits,
            creation_rate: CreationRate::per_minute(limits.owner_jobs_per_minute),
            streams: StreamPermits::new(
                limits.max_streams.min(max_connections),
                limits.owner_max_streams,
            ),
            draining: CancellationToken::new(),
            closing: CancellationToken::new(),
            leptos,
        };
        Ok(Self {
            listener,
            max_connections,
            state,
            sweeper,
            stop: CancellationToken::new(),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Cancel this token to shut the application down gracefully.
    pub fn stopper(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Serves until the stopper is cancelled, then shuts down in order: refuse new jobs,
    /// let running ones finish within the grace period (ending the rest as
    /// interrupted), close the streams, stop serving.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Self {
            listener,
            max_connections,
            state,
            sweeper,
            stop,
        } = self;
        let runner = tokio::spawn(state.runner.clone().run(state.draining.clone()));
        let sweeping = tokio::spawn(sweeper.run(state.draining.clone()));
        tokio::spawn(forget_idle_rates(
            state.creation_rate.clone(),
            state.closing.clone(),
        ));
        let draining = state.draining.clone();
        let closing = state.closing.clone();
        let app = router(state);
        tracing::info!(address = %listener.local_addr()?, max_connections, "serving");
        let listener = LimitedListener::new(listener, max_connections);
        // `into_make_service` turns the routes into services once; serving the `Router`
        // itself would do that again for every connection (about 28 KiB each, held for
        // as long as an event stream stays open).
        let serve = axum::serve(listener, app.into_make_service())
            .with_graceful_shutdown(closing.clone().cancelled_owned());
        let sequence = async move {
            stop.cancelled().await;
            tracing::info!("shutting down: no new jobs; waiting for running ones");
            draining.cancel();
            if let Err(err) = runner.await {
                tracing::error!(error = %err, "the job runner failed");
            }
            let _ = sweeping.await;
            closing.cancel();
        };
        let (served, ()) = tokio::join!(serve.into_future(), sequence);
        served.context("the HTTP server failed")?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Forgets the creation rate of owners who have not started a job for a while.
async fn forget_idle_rates(rate: CreationRate, closing: CancellationToken) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = every.tick() => rate.forget_idle(),
            () = closing.cancelled() => return,
        }
    }
}
