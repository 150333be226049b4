//! Putting Candor together: open the store, end what a previous process left running,
//! start the runner, serve HTTP; and take it apart again in order on shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use leptos::config::LeptosOptions;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::artifacts::{Artifacts, ResultQuota};
use crate::config::{AdminAddr, Config};
use crate::events::{Announce, Bus, Follower, Recorder, follower};
use crate::http::{AllowedHosts, AppState, admin_router, router};
use crate::identity::{Identities, Sessions, session};
use crate::jobs::queue::{QueuePlaces, watch_queue};
use crate::jobs::runner::{follow_bus, keep_leases};
use crate::jobs::{
    Cause, Kinds, Runner, RunnerConfig, Services, builtin_kinds, recover_interrupted,
    rescue_lost_runs, watch_unheld_runs,
};
use crate::limits::connections::connections_that_fit;
use crate::limits::{ClientAddresses, CreationRate, LimitedListener, StreamPermits};
use crate::orders::OrdersTable;
use crate::retention::Sweeper;
use crate::serving::{self, Timeouts};
use crate::store::{PgSettings, PgStore, SqliteStore, Store};
use crate::tls::{self, TlsListener};
use crate::uploads::Uploads;

/// How often one process looks for jobs marked running that none of its runs holds.
const UNHELD_RUNS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

pub struct Application {
    listener: TcpListener,
    /// The admin address's listener (`/metrics`, health checks), unless it is off.
    admin: Option<TcpListener>,
    /// With a certificate: HTTPS (HTTP/2 and HTTP/1.1) instead of plain HTTP/1.1.
    tls: Option<Arc<rustls::ServerConfig>>,
    max_connections: usize,
    state: AppState,
    sweeper: Sweeper,
    /// With several nodes: how this node follows the shared log, and how often it renews
    /// its leases and looks for expired ones. (One process needs none of it: its claims
    /// last as long as it does, and what an earlier process left is ended at start-up.)
    cluster: Option<Cluster>,
    stop: CancellationToken,
}

/// This node's part in a cluster on PostgreSQL.
struct Cluster {
    pool: PgPool,
    follower: Arc<Follower>,
    lease_checks: std::time::Duration,
}

/// Where jobs, events and orders are kept: SQLite in the data directory, or a shared
/// PostgreSQL database.
struct Storage {
    store: Arc<dyn Store>,
    orders: OrdersTable,
    /// The shared database's pool, with several nodes.
    shared: Option<PgPool>,
}

/// The configured store alone (for the command-line tools).
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    Ok(Storage::open(config).await?.store)
}

impl Storage {
    async fn open(config: &Config) -> anyhow::Result<Self> {
        let Some(url) = &config.database_url else {
            let path = config.database_path();
            let sqlite = SqliteStore::open(&path)
                .await
                .with_context(|| format!("cannot open the database {}", path.display()))?;
            return Ok(Self {
                orders: OrdersTable::new(sqlite.database().clone()),
                store: Arc::new(sqlite),
                shared: None,
            });
        };
        let node = format!(
            "{}-{}",
            config.node_name,
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let pg = PgStore::open(&PgSettings {
            url: url.clone(),
            max_connections: config.database_max_connections,
            node: node.clone(),
            lease: config.lease,
        })
        .await
        .context("cannot open the PostgreSQL database named by CANDOR_DATABASE_URL")?;
        tracing::info!(node, lease = ?config.lease, "jobs are kept in PostgreSQL, shared with other nodes");
        Ok(Self {
            shared: Some(pg.pool()),
            orders: OrdersTable::new(pg.database().clone()),
            store: Arc::new(pg),
        })
    }

    /// The event writer: announcing on `bus` (one process), or through the shared log's
    /// follower (several nodes: every node's events reach this node's bus through the
    /// log); with what ends a run that is found lost, and this node's part in a cluster.
    async fn recorder(
        &self,
        bus: &Bus,
        config: &Config,
    ) -> anyhow::Result<(Recorder, Cause, Option<Cluster>)> {
        let store = self.store.clone();
        let Some(pool) = &self.shared else {
            let recorder = Recorder::new(store, Announce::Bus(bus.clone()));
            return Ok((recorder, Cause::Restart, None));
        };
        let follower = Follower::new(bus.clone(), store.last_event_id().await?);
        let cluster = Cluster {
            pool: pool.clone(),
            follower: follower.clone(),
            lease_checks: config.lease / 3,
        };
        let recorder = Recorder::new(store, Announce::Follower(follower));
        Ok((recorder, Cause::NodeLost, Some(cluster)))
    }
}

/// What every request and background task shares: the store, its event writer and bus,
/// the kinds and the data jobs work on; opened, with what a stopped process left behind
/// cleaned up and its jobs ended.
struct Core {
    store: Arc<dyn Store>,
    recorder: Recorder,
    bus: Bus,
    kinds: Kinds,
    services: Services,
    cluster: Option<Cluster>,
}

impl Core {
    async fn open(config: &Config) -> anyhow::Result<Self> {
        let kinds = builtin_kinds().configured(&config.time_limits, config.upload_max_bytes);
        let bus = Bus::new(config.bus_capacity);
        let storage = Storage::open(config).await?;
        let (recorder, cause, cluster) = storage.recorder(&bus, config).await?;
        let services = Services {
            orders: storage.orders,
            uploads: Uploads::new(config.uploads_dir()),
        };
        if cluster.is_none() {
            remove_leftovers(&services).await?;
        }
        let store = storage.store;
        let interrupted = recover_interrupted(store.as_ref(), &recorder, &kinds, cause).await?;
        if interrupted > 0 {
            tracing::warn!(interrupted, "ended jobs whose process had stopped");
        }
        Ok(Self {
            store,
            recorder,
            bus,
            kinds,
            services,
            cluster,
        })
    }
}

impl Application {
    /// Opens the data directory and gets everything ready to serve on `listener`. (Its
    /// length is the struct literals it fills; each step is a call of its own.)
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
        // Installed before anything is counted.
        crate::metrics::handle();
        let admin = bind_admin(config.admin).await?;
        let tls = match &config.tls {
            Some(files) => Some(tls::server_config(&files.cert, &files.key)?),
            None => None,
        };
        let Core {
            store,
            recorder,
            bus,
            kinds,
            services,
            cluster,
        } = Core::open(&config).await?;
        let artifacts = Artifacts::new(config.artifacts_dir());
        let runner = Runner::new(
            recorder.clone(),
            kinds.clone(),
            services.clone(),
            RunnerConfig {
                workers: config.workers,
                limits: kinds
                    .claim_limits()
                    .owner_max_running(config.limits.owner_max_running),
                progress_interval: config.progress_interval,
                results: ResultQuota::new(
                    recorder.store().clone(),
                    artifacts.clone(),
                    config.limits.owner_max_result_bytes,
                ),
                shutdown_grace: config.shutdown_grace,
            },
        );
        let sweeper = Sweeper {
            store: store.clone(),
            recorder: recorder.clone(),
            artifacts: artifacts.clone(),
            uploads: services.uploads.clone(),
            kinds: kinds.clone(),
            retention: config.retention,
            interval: config.sweep_interval,
        };
        let max_connections = connections_that_fit(config.limits.max_connections);
        let state = AppState {
            store: store.clone(),
            recorder,
            bus,
            runner,
            artifacts,
            kinds,
            uploads: services.uploads,
            upload_max_bytes: config.upload_max_bytes,
            keep_alive: config.keep_alive,
            silent_after: config.silent_after,
            identities: identities(&config, store)?,
            // Served over HTTPS only: the cookie need never travel in the clear.
            secure_cookies: config.secure_cookies || tls.is_some(),
            allowed_origins: config.allowed_origins.clone().into(),
            allowed_hosts: AllowedHosts::new(config.public_url.as_ref(), listener.local_addr()?),
            limits: config.limits,
            creation_rate: CreationRate::per_minute(config.limits.owner_jobs_per_minute),
            addresses: ClientAddresses::new(
                config.trusted_proxies.clone(),
                config.limits.address_identities_per_minute,
                config.limits.address_jobs_per_minute,
            ),
            streams: StreamPermits::new(
                config.limits.max_streams.min(max_connections),
                config.limits.owner_max_streams,
                config.limits.address_max_streams,
            ),
            queue: QueuePlaces::default(),
            draining: CancellationToken::new(),
            closing: CancellationToken::new(),
            leptos,
        };
        Ok(Self {
            listener,
            admin,
            tls,
            max_connections,
            state,
            sweeper,
            cluster,
            stop: CancellationToken::new(),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// `https` with a certificate, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// Where `/metrics` and the health checks are served, unless that is off.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
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
            admin,
            tls,
            max_connections,
            state,
            sweeper,
            cluster,
            stop,
        } = self;
        let follower_stop = CancellationToken::new();
        match cluster {
            Some(cluster) => cluster.start(&state, &follower_stop),
            // One process: a job marked running that none of its runs holds is ended.
            None => {
                tokio::spawn(watch_unheld_runs(
                    state.store.clone(),
                    state.runner.clone(),
                    state.recorder.clone(),
                    state.kinds.clone(),
                    UNHELD_RUNS_EVERY,
                    state.draining.clone(),
                ));
            }
        }
        let runner = tokio::spawn(state.runner.clone().run(state.draining.clone()));
        tokio::spawn(follow_bus(
            state.runner.clone(),
            state.bus.subscribe(),
            state.closing.clone(),
        ));
        let sweeping = tokio::spawn(sweeper.run(state.draining.clone()));
        tokio::spawn(watch_queue(
            state.store.clone(),
            state.bus.clone(),
            state.queue.clone(),
            state.closing.clone(),
        ));
        tokio::spawn(forget_idle_rates(
            state.creation_rate.clone(),
            state.addresses.clone(),
            state.closing.clone(),
        ));
        if let Some(admin) = admin {
            serve_admin(admin, &state)?;
        }
        let (draining, closing) = (state.draining.clone(), state.closing.clone());
        tracing::info!(address = %listener.local_addr()?, max_connections, "serving");
        let timeouts = Timeouts {
            header_read: state.limits.header_read_timeout,
            body_idle: state.limits.body_idle_timeout,
        };
        let serve = serve(
            LimitedListener::new(listener, max_connections),
            tls,
            router(state),
            timeouts,
            closing.clone(),
        );
        let sequence = async move {
            stop.cancelled().await;
            draining.cancel();
            tracing::info!("shutting down: no new jobs; waiting for running ones");
            if let Err(err) = runner.await {
                tracing::error!(error = %err, "the job runner failed");
            }
            let _ = sweeping.await;
            closing.cancel();
        };
        let (served, ()) = tokio::join!(serve, sequence);
        // The log's follower and listener stop with the node.
        follower_stop.cancel();
        served.context("the HTTP server failed")?;
        tracing::info!("stopped");
        Ok(())
    }
}

impl Cluster {
    /// Starts following the shared log (until `follower_stop`), renewing this node's
    /// leases and rescuing the runs of nodes whose leases ran out.
    fn start(self, state: &AppState, follower_stop: &CancellationToken) {
        tokio::spawn(follower::listen_for_commits(
            self.pool,
            self.follower.clone(),
            follower_stop.clone(),
        ));
        tokio::spawn(follower::follow_log(
            state.store.clone(),
            self.follower,
            follower_stop.clone(),
        ));
        tokio::spawn(keep_leases(
            state.runner.clone(),
            state.store.clone(),
            self.lease_checks,
            state.closing.clone(),
        ));
        tokio::spawn(rescue_lost_runs(
            state.store.clone(),
            state.recorder.clone(),
            state.kinds.clone(),
            Cause::NodeLost,
            self.lease_checks,
            state.draining.clone(),
        ));
    }
}

/// With one process, nothing runs yet at start: what an import or an upload left
/// half-done is a leftover. (With several nodes, another node may be running it.)
async fn remove_leftovers(services: &Services) -> anyhow::Result<()> {
    let abandoned = services.orders.abandon_unfinished().await?;
    if abandoned > 0 {
        tracing::warn!(
            abandoned,
            "removed imports that a stopped process left unfinished"
        );
    }
    services.uploads.remove_partials().await?;
    Ok(())
}

/// Who a request acts for: session cookies signed with the configured (or the data
/// directory's) key, and API tokens from the store.
fn identities(config: &Config, store: Arc<dyn Store>) -> anyhow::Result<Identities> {
    let key =
        session::load_or_create_key(config.session_key.as_deref(), &config.session_key_path())?;
    Ok(Identities::new(Sessions::new(key), store))
}

/// Serves `/metrics` and the health checks on the admin address until the streams close.
fn serve_admin(admin: TcpListener, state: &AppState) -> anyhow::Result<()> {
    tracing::info!(
        "metrics and health checks on http://{}/metrics",
        admin.local_addr()?
    );
    let routes = admin_router(state.clone());
    let closed = state.closing.clone().cancelled_owned();
    tokio::spawn(async move {
        let served = axum::serve(admin, routes.into_make_service())
            .with_graceful_shutdown(closed)
            .await;
        if let Err(err) = served {
            tracing::error!(error = %err, "the admin address stopped serving");
        }
    });
    Ok(())
}

/// Serves `app` on `listener` (over TLS, given its configuration) until `closing`.
async fn serve(
    listener: LimitedListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: axum::Router,
    timeouts: Timeouts,
    closing: CancellationToken,
) -> std::io::Result<()> {
    match tls {
        None => serving::serve(listener, app, timeouts, closing).await,
        Some(tls) => {
            let listener = TlsListener::new(listener, tls)?;
            serving::serve(listener, app, timeouts, closing).await
        }
    }
}

/// Binds the admin address: the configured one, or the default one if free (else a
/// free port beside it, for a second node on one machine).
async fn bind_admin(admin: AdminAddr) -> anyhow::Result<Option<TcpListener>> {
    Ok(match admin {
        AdminAddr::Off => None,
        AdminAddr::At(addr) => Some(TcpListener::bind(addr).await.with_context(|| {
            format!("cannot listen on CANDOR_ADMIN_ADDR={addr} (or set it to off)")
        })?),
        AdminAddr::Default => match TcpListener::bind(AdminAddr::DEFAULT).await {
            Ok(listener) => Some(listener),
            Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => {
                let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
                tracing::warn!(
                    taken = %AdminAddr::DEFAULT,
                    instead = %listener.local_addr()?,
                    "the default admin address is taken (another node?); set CANDOR_ADMIN_ADDR"
                );
                Some(listener)
            }
            Err(err) => {
                return Err(err).with_context(|| {
                    format!("cannot listen on the admin address {}", AdminAddr::DEFAULT)
                });
            }
        },
    })
}

/// Forgets the creation rate of owners and addresses that have done nothing for a while.
async fn forget_idle_rates(
    rate: CreationRate,
    addresses: ClientAddresses,
    closing: CancellationToken,
) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = every.tick() => {
                rate.forget_idle();
                addresses.forget_idle();
            }
            () = closing.cancelled() => return,
        }
    }
}
