//! Starting an application for one test, and clients for its API and streams.

use std::time::Duration;

use app::event::{EventId, JobEvent};
use app::job::{Job, JobStatus};
use eventsource_stream::{Event, Eventsource};
use futures::{Stream, StreamExt};
use leptos::config::LeptosOptions;
use serde_json::{Value, json};
use server::config::{AdminAddr, Config};
use server::identity::tokens;
use server::owner::Owner;
use server::startup::Application;
use server::store::SqliteStore;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[path = "../support/auth.rs"]
mod auth;
pub(crate) use auth::token_client;

/// The longest any single wait in a test may take before the test fails (a guard against
/// hanging, never a way to wait for something).
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

/// An opened event stream.
pub(crate) struct Opened {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) stream: std::pin::Pin<Box<dyn Stream<Item = Event> + Send>>,
}

pub(crate) struct TestApp {
    pub(crate) base: String,
    /// Acts for [`TEST_OWNER`] with an API token.
    pub(crate) client: reqwest::Client,
    /// The API token `client` sends.
    pub(crate) token: String,
    pub(crate) config: Config,
    pub(crate) data: TempDir,
    stop: CancellationToken,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub(crate) fn test_config(data: &TempDir) -> Config {
    Config {
        data_dir: data.path().to_owned(),
        workers: 2,
        progress_interval: Duration::from_millis(20),
        keep_alive: Duration::from_secs(15),
        shutdown_grace: Duration::from_secs(5),
        bus_capacity: 1024,
        // The metrics are the process's, shared by every app here: tests/operations/
        // reads them, each from a server process of its own.
        admin: AdminAddr::Off,
        ..Config::default()
    }
}

pub(crate) async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub(crate) async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let data = tempfile::tempdir().expect("temporary data directory");
    let mut config = test_config(&data);
    adjust(&mut config);
    spawn_app_in(data, config).await
}

/// The owner the tests' own client acts for; the same in every app a test starts on
/// one data directory, so a restarted server still knows it.
pub(crate) const TEST_OWNER: &str = "t-tests";

/// Makes an API token for `owner` in the database of `config`, as `candor token create`
/// does (the server may be running).
pub(crate) async fn make_token(config: &Config, owner: &str) -> String {
    std::fs::create_dir_all(&config.data_dir).unwrap();
    let store = SqliteStore::open(&config.database_path()).await.unwrap();
    let token = tokens::create(&store, Some(Owner::new(owner)), "tests")
        .await
        .unwrap()
        .token;
    store.pool().close().await;
    token
}

pub(crate) async fn spawn_app_in(data: TempDir, config: Config) -> TestApp {
    let token = make_token(&config, TEST_OWNER).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let leptos = LeptosOptions::builder()
        .output_name("candor")
        .site_root("target/site")
        .build();
    let app = Application::build(config.clone(), leptos, listener)
        .await
        .expect("the application starts");
    let base = format!("http://{}", app.local_addr().unwrap());
    let stop = app.stopper();
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        base,
        client: token_client(&token),
        token,
        config,
        data,
        stop,
        server: Some(server),
    }
}

impl TestApp {
    /// A client for another owner, by token.
    pub(crate) async fn other_owner(&self, owner: &str) -> reqwest::Client {
        token_client(&make_token(&self.config, owner).await)
    }

    /// A browser-like client: a cookie jar that got its session by opening the page.
    pub(crate) async fn browser(&self) -> reqwest::Client {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let page = client.get(self.url("/")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(
            page.headers().contains_key("set-cookie"),
            "the first visit gives an identity"
        );
        client
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Shuts the application down gracefully and hands back its data directory.
    pub(crate) async fn stop(mut self) -> TempDir {
        self.stop.cancel();
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("clean shutdown");
        }
        std::mem::replace(&mut self.data, tempfile::tempdir().unwrap())
    }

    pub(crate) async fn post_job(&self, body: Value) -> reqwest::Response {
        self.client
            .post(self.url("/api/jobs"))
            .json(&body)
            .send()
            .await
            .expect("POST /api/jobs")
    }

    /// How many files are stored under the uploads folder (in every owner's folder).
    pub(crate) fn stored_uploads(&self) -> usize {
        fn files_under(dir: &std::path::Path) -> usize {
            std::fs::read_dir(dir).map_or(0, |entries| {
                let entries = entries.flatten();
                let count = |entry: std::fs::DirEntry| match entry.path() {
                    path if path.is_dir() => files_under(&path),
                    _ => 1,
                };
                entries.map(count).sum()
            })
        }
        files_under(&self.data.path().join("uploads"))
    }

    /// `POST /api/jobs` as a form with a file: `kind`, text parts, and the file as
    /// `file`.
    pub(crate) async fn post_form(
        &self,
        kind: &str,
        texts: &[(&str, &str)],
        file: (&str, &str, Vec<u8>),
    ) -> reqwest::Response {
        let (name, content_type, bytes) = file;
        let mut form = reqwest::multipart::Form::new().text("kind", kind.to_owned());
        for (key, value) in texts {
            form = form.text(key.to_string(), value.to_string());
        }
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(name.to_owned())
            .mime_str(content_type)
            .unwrap();
        self.client
            .post(self.url("/api/jobs"))
            .multipart(form.part("file", part))
            .send()
            .await
            .expect("POST /api/jobs (form)")
    }

    /// Starts an import of `csv` that must be accepted.
    pub(crate) async fn import(&self, csv: impl Into<Vec<u8>>) -> Job {
        let response = self
            .post_form("import", &[], ("orders.csv", "text/csv", csv.into()))
            .await;
        assert_eq!(response.status(), 202, "{:?}", response.text().await);
        response.json().await.unwrap()
    }

    /// Runs an export with `params` to completion and downloads its file.
    pub(crate) async fn export(&self, params: Value) -> Vec<u8> {
        let job = self
            .start(json!({"kind": "export", "params": params}))
            .await;
        let ended = self.wait_until_ended(&job).await;
        assert_eq!(
            ended.status,
            app::job::JobStatus::Completed,
            "{:?}",
            ended.error
        );
        let url = ended.result_url.expect("an export links its file");
        let response = self.client.get(self.url(&url)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap().to_vec()
    }

    /// Starts a job that must be accepted.
    pub(crate) async fn start(&self, body: Value) -> Job {
        let response = self.post_job(body).await;
        assert_eq!(response.status(), 202, "{:?}", response.text().await);
        response.json().await.unwrap()
    }

    pub(crate) async fn demo(&self, steps: u32, step_ms: u64) -> Job {
        self.start(json!({"kind": "demo", "params": {"steps": steps, "stepMs": step_ms}}))
            .await
    }

    pub(crate) async fn job(&self, job: &Job) -> Job {
        let response = self
            .client
            .get(self.url(&job.links.self_))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// `GET path` as JSON.
    pub(crate) async fn get_json(&self, path: &str) -> Value {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    pub(crate) async fn list(&self) -> Vec<Job> {
        let list = self.get_json("/api/jobs").await;
        serde_json::from_value(list["jobs"].clone()).unwrap()
    }

    /// `POST /api/jobs/{id}/cancel`.
    pub(crate) async fn cancel(&self, job: &Job) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/api/jobs/{}/cancel", job.id)))
            .send()
            .await
            .unwrap()
    }

    /// Opens an event stream at `path`, resuming after `last_event_id` if given; its
    /// heartbeats and queue notes (no id, not in the log: they say the stream is alive and
    /// where queued jobs stand) are left out, these tests read the log's events.
    pub(crate) async fn events(&self, path: &str, last_event_id: Option<EventId>) -> Opened {
        let mut opened = self.events_with_heartbeats(path, last_event_id).await;
        opened.stream = Box::pin(opened.stream.filter(|event| {
            futures::future::ready(!matches!(event.event.as_str(), "heartbeat" | "queue"))
        }));
        opened
    }

    /// Opens an event stream, heartbeats, queue notes and all.
    pub(crate) async fn events_with_heartbeats(
        &self,
        path: &str,
        last_event_id: Option<EventId>,
    ) -> Opened {
        // Browsers ask for compression; the stream must not honour that.
        let mut request = self
            .client
            .get(self.url(path))
            .header("accept-encoding", "gzip");
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.expect("event stream request");
        Opened {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            stream: Box::pin(
                response
                    .bytes_stream()
                    .eventsource()
                    .map(|event| event.expect("well-formed event stream")),
            ),
        }
    }

    /// Reads a job's whole stream until the server ends it (after the terminal event).
    pub(crate) async fn job_events_to_end(&self, job: &Job, after: Option<EventId>) -> Vec<Event> {
        let opened = self.events(&job.links.events, after).await;
        assert_eq!(opened.status, 200);
        tokio::time::timeout(PATIENCE, opened.stream.collect::<Vec<_>>())
            .await
            .expect("the job's stream ends after its terminal event")
    }

    /// Waits, by following the job's own stream, until the job has ended.
    pub(crate) async fn wait_until_ended(&self, job: &Job) -> Job {
        self.job_events_to_end(job, None).await;
        let ended = self.job(job).await;
        assert!(ended.status.is_terminal(), "{:?}", ended.status);
        ended
    }

    /// Waits, by following the job's stream, for the first event that satisfies `until`.
    pub(crate) async fn wait_for(
        &self,
        job: &Job,
        until: impl Fn(&JobEvent) -> bool,
    ) -> Vec<Event> {
        let mut stream = self.events(&job.links.events, None).await.stream;
        let mut seen = Vec::new();
        tokio::time::timeout(PATIENCE, async {
            while let Some(event) = stream.next().await {
                let decoded = decode(&event);
                seen.push(event);
                if until(&decoded) {
                    return;
                }
            }
            panic!("the stream ended before the awaited event");
        })
        .await
        .expect("the awaited event arrives");
        seen
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub(crate) fn decode(event: &Event) -> JobEvent {
    JobEvent::decode(&event.event, &event.data)
        .unwrap_or_else(|e| panic!("undecodable {} event: {e}: {}", event.event, event.data))
}

pub(crate) fn id_of(event: &Event) -> EventId {
    event.id.parse().expect("every event has a numeric id")
}

/// Checks a job's complete event sequence: it starts with `created`, ids strictly
/// increase, progress never goes back, and exactly one terminal event comes last.
pub(crate) fn assert_well_formed(events: &[Event]) {
    assert!(!events.is_empty(), "no events");
    assert_eq!(events[0].event, "created");
    let ids: Vec<_> = events.iter().map(id_of).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids not strictly increasing: {ids:?}"
    );
    let mut progress = 0;
    for event in events {
        if let JobEvent::StatusUpdate(update) = decode(event) {
            assert_eq!(update.status, JobStatus::Running);
            assert!(
                update.progress >= progress,
                "progress went back: {events:?}"
            );
            progress = update.progress;
        }
    }
    let terminal: Vec<_> = events.iter().filter(|e| decode(e).is_terminal()).collect();
    assert_eq!(terminal.len(), 1, "exactly one terminal event: {events:?}");
    assert!(
        decode(events.last().unwrap()).is_terminal(),
        "the terminal event is last"
    );
}

pub(crate) async fn error_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{status}: {content_type}"
    );
    (status, response.json().await.unwrap())
}
