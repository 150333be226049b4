//! The server as a child process, and clients that talk to it over real sockets.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::event::{EventId, JobEvent};
use app::job::Job;
use eventsource_stream::{Event, Eventsource};
use futures::{Stream, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Notify;

#[path = "auth.rs"]
mod auth;
pub(crate) use auth::token_client;

/// The longest any single wait may take before the test fails (a guard against hanging,
/// never a way to wait for something).
pub(crate) const PATIENCE: Duration = Duration::from_secs(60);

pub(crate) type Events = std::pin::Pin<Box<dyn Stream<Item = Event> + Send>>;

/// A server process; its requests go through [`Client`] (`server.start_job(…)`).
pub(crate) struct Server {
    child: Child,
    api: Client,
    logs: Arc<Mutex<String>>,
    log_line: Arc<Notify>,
}

/// Requests to a server, directly or through a proxy, for the tests' owner.
pub(crate) struct Client {
    pub(crate) base: String,
    pub(crate) client: reqwest::Client,
    /// The API token `client` sends.
    pub(crate) token: String,
}

impl std::ops::Deref for Server {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.api
    }
}

/// A token for the tests' owner, made with `candor token create` in `data` (the same
/// owner each time, so a restarted server's client still sees the jobs).
/// `env` says where the store is, as for the server.
pub(crate) async fn make_token(data: &Path, owner: &str, env: &[(&str, &str)]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_candor"))
        .args(["token", "create", "--owner", owner, "--label", "faults"])
        .env("CANDOR_DATA_DIR", data)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .output()
        .await
        .expect("candor token create runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// A free port on loopback (the server binds it a moment later).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

impl Server {
    /// Starts the server binary on `port` with `data` as its data directory and `env`
    /// on top of quiet defaults, and waits until it serves.
    pub(crate) async fn start(data: &Path, port: u16, env: &[(&str, &str)]) -> Server {
        let token = make_token(data, "t-tests", env).await;
        let mut command = Command::new(env!("CARGO_BIN_EXE_candor"));
        command
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("CANDOR_DATA_DIR", data)
            .env("CANDOR_WORKERS", "2")
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info,sqlx=warn,tower_http=warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("the server binary starts");
        let logs = Arc::new(Mutex::new(String::new()));
        let log_line = Arc::new(Notify::new());
        for output in [
            child
                .stdout
                .take()
                .map(|o| Box::new(o) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            child
                .stderr
                .take()
                .map(|o| Box::new(o) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let logs = logs.clone();
            let log_line = log_line.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(output).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let mut all = logs.lock().unwrap();
                    all.push_str(&line);
                    all.push('\n');
                    drop(all);
                    log_line.notify_waiters();
                }
            });
        }
        let server = Server {
            child,
            api: Client {
                base: format!("http://127.0.0.1:{port}"),
                client: token_client(&token),
                token,
            },
            logs,
            log_line,
        };
        server.wait_for_log("serving").await;
        server
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    pub(crate) fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// Waits until the server has logged a line containing `text`.
    pub(crate) async fn wait_for_log(&self, text: &str) {
        tokio::time::timeout(PATIENCE, async {
            loop {
                let notified = self.log_line.notified();
                if self.logs().contains(text) {
                    return;
                }
                notified.await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the server never logged {text:?}; it logged:\n{}",
                self.logs()
            )
        });
    }

    /// SIGKILL: the process gets no chance to clean up.
    pub(crate) async fn kill9(mut self) {
        self.child.start_kill().expect("SIGKILL");
        self.child.wait().await.expect("the process ends");
    }

    /// SIGSTOP / SIGCONT: the process is paused (as by a long GC pause, a frozen VM or
    /// a debugger) and resumes where it was.
    pub(crate) fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// SIGTERM: the graceful way.
    pub(crate) fn terminate(&self) {
        self.signal("TERM");
    }

    pub(crate) async fn wait_exit(&mut self) -> ExitStatus {
        tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("the process exits")
            .expect("exit status")
    }
}

impl Client {
    /// The same owner's requests, sent to `base` (a proxy in front of the server).
    #[allow(dead_code, reason = "the nodes tests use it")]
    pub(crate) fn behind(&self, base: &str) -> Client {
        Client {
            base: base.to_owned(),
            client: self.client.clone(),
            token: self.token.clone(),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("POST")
    }

    /// Starts a job that must be accepted.
    pub(crate) async fn start_job(&self, body: Value) -> Job {
        let response = self.post("/api/jobs", body).await;
        assert_eq!(response.status(), 202);
        response.json().await.unwrap()
    }

    /// `GET path` (a download), which must succeed, as text.
    pub(crate) async fn download(&self, path: &str) -> String {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.text().await.unwrap()
    }

    pub(crate) async fn job(&self, id: app::job::JobId) -> Job {
        let response = self
            .client
            .get(self.url(&format!("/api/jobs/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Opens an event stream of job events, resuming after `last_event_id` if given.
    pub(crate) async fn events(&self, path: &str, last_event_id: Option<EventId>) -> Events {
        let mut request = self.client.get(self.url(path));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.expect("stream request");
        assert_eq!(response.status(), 200, "{path}");
        // A connection that breaks (the server was killed) ends the stream, as it
        // does for EventSource; anything else malformed fails the test.
        Box::pin(
            response
                .bytes_stream()
                .eventsource()
                .take_while(|event| {
                    futures::future::ready(!matches!(
                        event,
                        Err(eventsource_stream::EventStreamError::Transport(_))
                    ))
                })
                .map(|event| event.expect("well-formed event stream"))
                // Heartbeats (no id, not in the log) say the stream is alive; these tests
                // read the log's events.
                .filter(|event| {
                    futures::future::ready(!matches!(event.event.as_str(), "heartbeat" | "queue"))
                }),
        )
    }

    /// Every event in the log after `after`, read back over `/api/events` until `until`
    /// returns true for one.
    pub(crate) async fn replay(
        &self,
        after: EventId,
        until: impl Fn(&Event) -> bool,
    ) -> Vec<Event> {
        let mut stream = self
            .events(&format!("/api/events?after={after}"), None)
            .await;
        collect_until(&mut stream, until).await
    }
}

pub(crate) fn data_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a data directory")
}

/// A data directory in memory (where the machine has one): for tests that need many
/// thousands of events quickly, where durable writes would only make them slow.
pub(crate) fn data_dir_in_memory() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::tempdir_in(shm).expect("a data directory in /dev/shm")
    } else {
        data_dir()
    }
}

pub(crate) fn artifacts(data: &Path, job: &Job) -> PathBuf {
    data.join("artifacts").join(job.id.to_string())
}

pub(crate) fn decode(event: &Event) -> JobEvent {
    JobEvent::decode(&event.event, &event.data)
        .unwrap_or_else(|e| panic!("undecodable {} event: {e}", event.event))
}

pub(crate) fn id_of(event: &Event) -> EventId {
    event.id.parse().expect("numeric event id")
}

/// Reads `stream` until `until` holds for an event (included), within [`PATIENCE`].
pub(crate) async fn collect_until(
    stream: &mut (impl Stream<Item = Event> + Unpin),
    mut until: impl FnMut(&Event) -> bool,
) -> Vec<Event> {
    let mut seen = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        while let Some(event) = stream.next().await {
            let done = until(&event);
            seen.push(event);
            if done {
                return;
            }
        }
        panic!("the stream ended early after {} events", seen.len());
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting; saw {} events", seen.len()));
    seen
}

/// True for the event that ends `job`.
pub(crate) fn ends(job: &Job) -> impl Fn(&Event) -> bool + use<> {
    let id = job.id;
    move |event| {
        let event = decode(event);
        event.job_id() == id && event.is_terminal()
    }
}

/// Ids strictly increase, and no id repeats.
pub(crate) fn assert_strictly_increasing(events: &[Event]) {
    let ids: Vec<_> = events.iter().map(id_of).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids are not strictly increasing: {ids:?}"
    );
}
