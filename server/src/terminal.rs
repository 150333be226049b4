//! The terminal client: `candor submit <kind> [--<param> <value> …] [--follow]` and
//! `candor follow <job-id>`, against a running Candor over its public API.
//!
//! Following reads the job's own event stream (`GET /api/jobs/{id}/events`) and shows a
//! progress bar with the step and the time left; a connection that drops (the server
//! restarted, the network blinked) is opened again with `Last-Event-ID`, so nothing is
//! missed or shown twice. Standard output carries what a script wants (the job's id,
//! then the download's URL or the saved file); everything else goes to standard error.

// Printing to the terminal is what this module is for.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use app::event::{EventId, JobEvent, QueueNote};
use app::job::{Job, JobId, JobStatus};
use app::paths;
use clap::Args;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Map, Value};

/// How long following keeps trying to reach a server that went away.
const GIVE_UP_AFTER: Duration = Duration::from_secs(300);
/// The wait before reconnecting, unless the server said otherwise (`retry:`).
const RECONNECT: Duration = Duration::from_secs(1);

/// Exit codes: a job that failed, or was cancelled; and Candor unreachable or refusing.
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_CANCELLED: i32 = 3;
pub const EXIT_ERROR: i32 = 4;

/// Where Candor is, and who is asking.
#[derive(Debug, Args)]
pub struct Connection {
    /// Candor's address.
    #[arg(long, env = "CANDOR_URL", default_value = "http://127.0.0.1:3000")]
    pub url: String,
    /// An API token (make one with `candor token create`).
    #[arg(long, env = "CANDOR_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The job's kind (`GET /api/kinds` lists them): demo, export, import, compress.
    pub kind: String,
    /// The job's parameters, as `--name value` (`--rows 1000 --format csv`); a value
    /// that reads as JSON (a number, true, false) is sent as such, else as text.
    #[arg(
        value_name = "--PARAM VALUE",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub params: Vec<String>,
    /// Follow the job until it ends.
    #[arg(long)]
    pub follow: bool,
    /// Save the job's result here when it completes (implies --follow).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Debug, Args)]
pub struct FollowArgs {
    /// The job's id.
    pub job: JobId,
    /// Save the job's result here when it completes.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub connection: Connection,
}

/// `candor submit`: the exit code.
pub async fn submit(mut args: SubmitArgs) -> anyhow::Result<i32> {
    let params = own_flags(&mut args)?;
    let params = parse_params(&params)?;
    let client = Client::new(&args.connection)?;
    let body = serde_json::json!({ "kind": args.kind, "params": params });
    let began = Instant::now();
    let response = loop {
        let response = client
            .http
            .post(client.url(paths::JOBS))
            .json(&body)
            .send()
            .await
            .with_context(|| format!("cannot reach Candor at {}", client.base))?;
        // Too many at once (the owner's jobs in flight, or jobs a minute): nothing was
        // made, so the same request goes again once Candor says it may.
        match busy_for(&response) {
            Some(pause) if began.elapsed() + pause <= GIVE_UP_AFTER => {
                eprintln!(
                    "Candor is busy ({}); trying again in {} s",
                    response.status(),
                    pause.as_secs()
                );
                tokio::time::sleep(pause).await;
            }
            _ => break response,
        }
    };
    let job: Job = answer(response).await?;
    println!("{}", job.id);
    eprintln!("queued: {}", job.title);
    if args.follow || args.output.is_some() {
        follow_job(&client, job.id, args.output).await
    } else {
        Ok(0)
    }
}

/// `candor follow`: the exit code.
pub async fn follow(args: FollowArgs) -> anyhow::Result<i32> {
    let client = Client::new(&args.connection)?;
    follow_job(&client, args.job, args.output).await
}

/// Takes this command's own options out of the parameters that follow the kind
/// (`candor submit export --rows 10 --follow`): what is left are the job's.
fn own_flags(args: &mut SubmitArgs) -> anyhow::Result<Vec<String>> {
    let mut rest = Vec::new();
    let mut raw = std::mem::take(&mut args.params).into_iter();
    while let Some(arg) = raw.next() {
        let mut value = |name: &str| raw.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--follow" => args.follow = true,
            "--output" | "-o" => args.output = Some(value("--output")?.into()),
            "--url" => args.connection.url = value("--url")?,
            "--token" => args.connection.token = Some(value("--token")?),
            _ => {
                rest.push(arg);
                // A parameter's value, even one that looks like an option.
                rest.extend(raw.next());
            }
        }
    }
    Ok(rest)
}

/// `--name value` pairs as a JSON object.
fn parse_params(raw: &[String]) -> anyhow::Result<Map<String, Value>> {
    let mut params = Map::new();
    let mut args = raw.iter();
    while let Some(name) = args.next() {
        let Some(name) = name.strip_prefix("--").filter(|n| !n.is_empty()) else {
            bail!("parameters come as --name value pairs; {name:?} is not a --name");
        };
        let Some(value) = args.next() else {
            bail!("--{name} needs a value");
        };
        let value = match serde_json::from_str::<Value>(value) {
            Ok(value @ (Value::Number(_) | Value::Bool(_) | Value::Null)) => value,
            _ => Value::String(value.clone()),
        };
        params.insert(name.to_owned(), value);
    }
    Ok(params)
}

struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    fn new(connection: &Connection) -> anyhow::Result<Self> {
        let Some(token) = &connection.token else {
            bail!(
                "no API token: set CANDOR_TOKEN or pass --token (make one with `candor token create`)"
            );
        };
        let mut headers = reqwest::header::HeaderMap::new();
        let mut auth = reqwest::header::HeaderValue::try_from(format!("Bearer {token}"))
            .context("the token is not a valid header value")?;
        auth.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, auth);
        Ok(Self {
            base: connection.url.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .default_headers(headers)
                .connect_timeout(Duration::from_secs(10))
                .build()?,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// How long Candor asks a client to wait, when it answers `429 Too Many Requests` with
/// `Retry-After` (in seconds).
fn busy_for(response: &reqwest::Response) -> Option<Duration> {
    if response.status() != reqwest::StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let secs: u64 = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs.max(1)))
}

/// The body of a successful answer; Candor's JSON error, said plainly, otherwise.
async fn answer<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> anyhow::Result<T> {
    if response.status().is_success() {
        return Ok(response.json().await?);
    }
    Err(refusal(response).await)
}

/// Candor's reason for an answer that is not a success.
async fn refusal(response: reqwest::Response) -> anyhow::Error {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or_default();
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or("no reason given");
    anyhow::anyhow!("Candor answered {status}: {message}")
}

/// How a job ended, as the stream told it.
enum Ending {
    Completed { url: Option<String> },
    Failed { error: String, step: Option<String> },
    Cancelled { step: Option<String> },
}

/// Follows `id` to its ending; saves its result to `output` if asked. The exit code.
async fn follow_job(client: &Client, id: JobId, output: Option<PathBuf>) -> anyhow::Result<i32> {
    let bar = progress_bar();
    let ending = read_to_the_end(client, id, &bar).await;
    bar.finish_and_clear();
    Ok(match ending? {
        Ending::Completed { url } => {
            eprintln!("completed");
            match (url, output) {
                (Some(url), Some(path)) => {
                    save(client, &url, &path).await?;
                    println!("{}", path.display());
                }
                (Some(url), None) => println!("{}", client.url(&url)),
                (None, _) => {}
            }
            0
        }
        Ending::Failed { error, step } => {
            eprintln!("failed{}: {error}", at(step.as_deref()));
            EXIT_FAILED
        }
        Ending::Cancelled { step } => {
            eprintln!("cancelled{}", at(step.as_deref()));
            EXIT_CANCELLED
        }
    })
}

fn at(step: Option<&str>) -> String {
    step.map(|step| format!(" at \u{201c}{step}\u{201d}"))
        .unwrap_or_default()
}

fn progress_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(100), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30.cyan/blue} {pos:>3}%  {msg}  ({elapsed}, {eta} left)",
        )
        .expect("the template is valid")
        .progress_chars("█▉▊▋▌▍▎▏ "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Reads the job's stream, reconnecting after `Last-Event-ID` whenever it breaks,
/// until the job's ending.
async fn read_to_the_end(client: &Client, id: JobId, bar: &ProgressBar) -> anyhow::Result<Ending> {
    let mut last: Option<EventId> = None;
    let mut reached = Instant::now();
    let mut wait = RECONNECT;
    let mut shown_step: Option<String> = None;
    loop {
        let mut request = client.http.get(client.url(&paths::job_events(id)));
        if let Some(last) = last {
            request = request.header("Last-Event-ID", last.to_string());
        }
        match request.send().await {
            Ok(response) if response.status() == reqwest::StatusCode::NO_CONTENT => {
                // Ended, and its ending already read: the job says how.
                return ending_of(client, id).await;
            }
            Ok(response) if response.status().is_success() => {
                reached = Instant::now();
                let mut events = response.bytes_stream().eventsource();
                while let Some(event) = events.next().await {
                    let Ok(event) = event else { break };
                    if let Some(retry) = event.retry {
                        wait = retry;
                    }
                    if event.event == "heartbeat" {
                        continue;
                    }
                    // Where a queued job stands (not in the log).
                    if event.event == QueueNote::NAME {
                        if let Ok(note) = serde_json::from_str::<QueueNote>(&event.data)
                            && let Some(place) = note.jobs.first()
                        {
                            bar.set_message(format!("queued: {}", place.text));
                        }
                        continue;
                    }
                    if let Ok(id) = event.id.parse() {
                        last = Some(id);
                    }
                    let event = JobEvent::decode(&event.event, &event.data)
                        .with_context(|| format!("an event Candor sent: {}", event.event))?;
                    if let Some(ending) = show(bar, &event, &mut shown_step) {
                        return Ok(ending);
                    }
                }
                bar.set_message("connection lost; reconnecting…");
            }
            Ok(response) if response.status().is_server_error() => {
                bar.set_message(format!("Candor answered {}; retrying…", response.status()));
            }
            Ok(response) => match busy_for(&response) {
                // Too many streams open at once: wait as long as Candor asks.
                Some(pause) => {
                    bar.set_message(format!(
                        "Candor is busy ({}); trying again in {} s",
                        response.status(),
                        pause.as_secs()
                    ));
                    tokio::time::sleep(pause.saturating_sub(wait)).await;
                }
                None => return Err(refusal(response).await),
            },
            Err(err) => {
                bar.set_message(format!("cannot reach Candor ({err}); retrying…"));
            }
        }
        if reached.elapsed() > GIVE_UP_AFTER {
            bail!(
                "lost Candor at {} for {} s; follow again with `candor follow {id}`",
                client.base,
                GIVE_UP_AFTER.as_secs()
            );
        }
        tokio::time::sleep(wait).await;
    }
}

/// Shows one event; the ending, if it is one.
fn show(bar: &ProgressBar, event: &JobEvent, shown_step: &mut Option<String>) -> Option<Ending> {
    let mut step_line = |step: Option<&String>, percent: u64| {
        // Where no bar is drawn (not a terminal), each new step is a line.
        if bar.is_hidden() && step != shown_step.as_ref() {
            eprintln!("{percent:>3}%  {}", step.map_or("", String::as_str));
            *shown_step = step.cloned();
        }
    };
    match event {
        JobEvent::Created(created) => {
            let job = &created.job;
            bar.set_position(u64::from(job.progress));
            bar.set_message(job.step.clone().unwrap_or_else(|| job.status.to_string()));
            None
        }
        JobEvent::StatusUpdate(update) => {
            let percent = u64::from(update.progress);
            bar.set_position(percent);
            let text = match (update.status, &update.step) {
                (JobStatus::Queued, Some(step)) => format!("queued: {step}"),
                (_, Some(step)) => step.clone(),
                (status, None) => status.to_string(),
            };
            bar.set_message(text);
            step_line(update.step.as_ref(), percent);
            None
        }
        JobEvent::Log(log) => {
            for line in &log.lines {
                bar.suspend(|| eprintln!("  {line}"));
            }
            None
        }
        JobEvent::Completion(done) => {
            bar.set_position(100);
            Some(Ending::Completed {
                url: done.url.clone(),
            })
        }
        JobEvent::Failure(failure) => Some(Ending::Failed {
            error: failure.error.clone(),
            step: failure.step.clone(),
        }),
        JobEvent::Cancelled(cancelled) => Some(Ending::Cancelled {
            step: cancelled.step.clone(),
        }),
        JobEvent::Removed(_) => Some(Ending::Failed {
            error: "the job was removed (its retention ran out)".to_owned(),
            step: None,
        }),
    }
}

/// The ending of a job that has ended, read from the job itself.
async fn ending_of(client: &Client, id: JobId) -> anyhow::Result<Ending> {
    let response = client.http.get(client.url(&paths::job(id))).send().await?;
    let job: Job = answer(response).await?;
    Ok(match job.status {
        JobStatus::Completed => Ending::Completed {
            url: job.result_url,
        },
        JobStatus::Cancelled => Ending::Cancelled { step: job.step },
        _ => Ending::Failed {
            error: job.error.unwrap_or_else(|| "no reason given".to_owned()),
            step: job.step,
        },
    })
}

/// Downloads `url` (a path on Candor) into `path`, as it arrives.
async fn save(client: &Client, url: &str, path: &PathBuf) -> anyhow::Result<()> {
    let response = client.http.get(client.url(url)).send().await?;
    if !response.status().is_success() {
        return Err(refusal(response).await);
    }
    let mut file =
        std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        file.write_all(&chunk?)?;
    }
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_name_value_pairs_with_json_numbers_and_booleans() {
        let raw: Vec<String> = [
            "--rows", "1000", "--format", "csv", "--gzip", "true", "--name", "007x",
        ]
        .map(String::from)
        .to_vec();
        let params = parse_params(&raw).unwrap();
        assert_eq!(
            Value::Object(params),
            serde_json::json!({"rows": 1000, "format": "csv", "gzip": true, "name": "007x"})
        );
        assert!(parse_params(&["rows".to_owned(), "1".to_owned()]).is_err());
        assert!(parse_params(&["--rows".to_owned()]).is_err());
    }
}
