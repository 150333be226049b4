//! Each limit, reached: the request is refused with a JSON error naming it (and
//! `Retry-After` where waiting helps), nothing is stored, and other owners go on.

use std::time::Duration;

use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::helpers::*;

/// A job that runs until it is cancelled (as far as a test is concerned).
fn long_job() -> serde_json::Value {
    json!({"kind": "demo", "params": {"steps": 100, "stepMs": 60000}})
}

/// `POST /api/jobs` with `body` as `client`.
async fn post_as(
    app: &TestApp,
    client: &reqwest::Client,
    body: serde_json::Value,
) -> reqwest::Response {
    client
        .post(app.url("/api/jobs"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// `job`'s whole stream as `client` reads it, until the server ends it with the job.
async fn stream_to_end(app: &TestApp, client: &reqwest::Client, job: &app::job::Job) -> String {
    let events = client
        .get(app.url(&format!("/api/jobs/{}/events", job.id)))
        .send()
        .await
        .unwrap();
    tokio::time::timeout(PATIENCE, events.text())
        .await
        .expect("the job ends, and its stream with it")
        .unwrap()
}

async fn refused(response: reqwest::Response, status: u16, code: &str) -> serde_json::Value {
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
    let (got, error) = error_of(response).await;
    assert_eq!(
        (got, error["error"]["code"].as_str()),
        (status, Some(code)),
        "{error}"
    );
    if status == 429 || status == 503 {
        assert!(
            retry_after.is_some_and(|s| (1..=60).contains(&s)),
            "Retry-After: {retry_after:?}"
        );
    }
    error
}

#[tokio::test]
async fn a_full_queue_answers_503_with_retry_after_and_stores_nothing() {
    let app = spawn_app_with(|config| {
        config.workers = 1;
        config.limits.queue_max = 2;
    })
    .await;
    let running = app.start(long_job()).await;
    app.wait_for(&running, |e| {
        matches!(e, app::event::JobEvent::StatusUpdate(_))
    })
    .await;
    let queued = [app.start(long_job()).await, app.start(long_job()).await];
    let error = refused(app.post_job(long_job()).await, 503, "unavailable").await;
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("queue is full")
    );
    let other = app.other_owner("t-other").await;
    let response = post_as(&app, &other, long_job()).await;
    refused(response, 503, "unavailable").await;
    assert_eq!(app.list().await.len(), 3);
    // A place in the queue frees up: accepted again.
    assert_eq!(app.cancel(&queued[0]).await.status(), 200);
    app.start(long_job()).await;
}

#[tokio::test]
async fn an_owner_with_too_many_jobs_in_flight_gets_429_and_others_do_not() {
    let app = spawn_app_with(|config| config.limits.owner_max_in_flight = 2).await;
    let first = app.start(long_job()).await;
    app.start(long_job()).await;
    let error = refused(app.post_job(long_job()).await, 429, "too_many_requests").await;
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2 jobs")
    );
    let other = app.other_owner("t-other").await;
    let response = post_as(&app, &other, long_job()).await;
    assert_eq!(response.status(), 202);
    assert_eq!(app.list().await.len(), 2);
    // Ended jobs do not count.
    app.cancel(&first).await;
    app.start(long_job()).await;
}

#[tokio::test]
async fn starting_jobs_too_fast_gets_429_per_owner() {
    let app = spawn_app_with(|config| config.limits.owner_jobs_per_minute = 3).await;
    let quick = json!({"kind": "demo", "params": {"steps": 1, "stepMs": 0}});
    app.start(quick.clone()).await;
    app.start(quick.clone()).await;
    let failed = app
        .start(json!({"kind": "demo", "params": {"steps": 1, "stepMs": 0, "failAt": 1}}))
        .await;
    app.wait_until_ended(&failed).await;
    let error = refused(app.post_job(quick.clone()).await, 429, "too_many_requests").await;
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("3 jobs a minute"), "{message}");
    // A retry starts a job too.
    let response = app
        .client
        .post(app.url(&format!("/api/jobs/{}/retry", failed.id)))
        .send()
        .await
        .unwrap();
    refused(response, 429, "too_many_requests").await;
    let other = app.other_owner("t-other").await;
    let response = post_as(&app, &other, quick.clone()).await;
    assert_eq!(response.status(), 202);
    assert_eq!(app.list().await.len(), 3);
}

#[tokio::test]
async fn event_streams_are_limited_per_owner_and_in_total() {
    let app = spawn_app_with(|config| {
        config.limits.owner_max_streams = 2;
        config.limits.max_streams = 3;
    })
    .await;
    let first = app.events("/api/events", None).await;
    let second = app.events("/api/events", None).await;
    assert_eq!((first.status, second.status), (200, 200));
    let response = app.client.get(app.url("/api/events")).send().await.unwrap();
    assert_eq!(
        response.headers()["connection"],
        "close",
        "a refused stream frees its socket"
    );
    refused(response, 429, "too_many_requests").await;
    // One job's stream counts too.
    let job = app.start(long_job()).await;
    let response = app
        .client
        .get(app.url(&job.links.events))
        .send()
        .await
        .unwrap();
    refused(response, 429, "too_many_requests").await;

    let other = app.other_owner("t-other").await;
    let third = other.get(app.url("/api/events")).send().await.unwrap();
    assert_eq!(third.status(), 200);
    let response = app
        .browser()
        .await
        .get(app.url("/api/events"))
        .send()
        .await
        .unwrap();
    refused(response, 503, "unavailable").await;

    // A closed stream gives its place back (once the server notices the socket closed,
    // at its next write: the stream of a job that changes writes at once).
    drop(first);
    app.cancel(&job).await;
    let reopened = tokio::time::timeout(PATIENCE, async {
        loop {
            let response = app.client.get(app.url("/api/events")).send().await.unwrap();
            if response.status() == 200 {
                return response;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the place of a closed stream is given back");
    assert_eq!(reopened.status(), 200);
    drop((second, third));
}

#[tokio::test]
async fn connections_past_the_limit_wait_until_one_closes() {
    let app = spawn_app_with(|config| config.limits.max_connections = 16).await;
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut idle = Vec::new();
    for _ in 0..16 {
        let mut socket = tokio::net::TcpStream::connect(&address).await.unwrap();
        socket
            .write_all(b"GET /api/kinds HTTP/1.1\r\n")
            .await
            .unwrap();
        idle.push(socket);
    }
    let waiting = tokio::spawn({
        let client = app.client.clone();
        let url = app.url("/api/kinds");
        async move { client.get(url).send().await.map(|r| r.status().as_u16()) }
    });
    // While all 16 places are taken, the 17th client is not served.
    let mut waiting = waiting;
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut waiting)
            .await
            .is_err(),
        "served past the connection limit"
    );
    idle.pop();
    let status = tokio::time::timeout(PATIENCE, waiting)
        .await
        .expect("served once a place is free")
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_configured_body_limit_is_enforced() {
    let app = spawn_app_with(|config| config.limits.request_max_bytes = 1024).await;
    let padding = "x".repeat(2048);
    let response = app
        .client
        .post(app.url("/api/jobs"))
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"kind":"demo","params":{{"steps":1,"stepMs":1}},"pad":"{padding}"}}"#
        ))
        .send()
        .await
        .unwrap();
    let error = refused(response, 413, "payload_too_large").await;
    assert!(error["error"]["message"].as_str().unwrap().contains("1024"));
    assert!(app.list().await.is_empty());
}

/// Two workers, one owner's backlog of 40 jobs of over an hour each: with
/// `CANDOR_OWNER_MAX_RUNNING=1` that owner runs one at a time, so another owner's
/// one-step job runs on the other worker at once instead of after the backlog.
#[tokio::test]
async fn one_owners_backlog_does_not_make_another_wait() {
    let app = spawn_app_with(|config| {
        config.workers = 2;
        config.limits.owner_max_running = 1;
    })
    .await;
    for _ in 0..40 {
        app.start(long_job()).await;
    }
    let other = app.other_owner("t-other").await;
    let quick = json!({"kind": "demo", "params": {"steps": 1, "stepMs": 0}});
    let response = post_as(&app, &other, quick).await;
    assert_eq!(response.status(), 202);
    let job: app::job::Job = response.json().await.unwrap();
    // Its stream ends with its ending (an hour from now, were it behind the backlog).
    let stream = stream_to_end(&app, &other, &job).await;
    assert!(stream.contains("event: completion"), "{stream}");
    let running = app
        .list()
        .await
        .into_iter()
        .filter(|job| job.status == app::job::JobStatus::Running)
        .count();
    assert_eq!(running, 1, "the backlog's owner runs one job at a time");
}

/// A cookieless page visit, optionally saying it was forwarded for `forwarded_for`.
async fn visit(app: &TestApp, forwarded_for: Option<&str>) -> reqwest::Response {
    let request = reqwest::Client::new().get(app.url("/"));
    let request = match forwarded_for {
        Some(address) => request.header("x-forwarded-for", address),
        None => request,
    };
    request.send().await.unwrap()
}

/// One address cycling cookies gets only so many identities a minute; a browser that
/// already has one goes on.
#[tokio::test]
async fn one_address_is_given_only_so_many_identities_a_minute() {
    let app = spawn_app_with(|config| config.limits.address_identities_per_minute = 3).await;
    let kept = app.browser().await;
    for _ in 0..2 {
        let page = visit(&app, None).await;
        assert_eq!(page.status(), 200);
        assert!(page.headers().contains_key("set-cookie"));
    }
    let page = visit(&app, None).await;
    assert!(!page.headers().contains_key("set-cookie"));
    let error = refused(page, 429, "too_many_requests").await;
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("3 new identities a minute"), "{message}");
    // The identity already given still works, pages and API alike.
    assert_eq!(kept.get(app.url("/")).send().await.unwrap().status(), 200);
    assert_eq!(
        kept.get(app.url("/api/jobs"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

/// Jobs are counted per address too, whichever owners start them.
#[tokio::test]
async fn one_address_starts_only_so_many_jobs_a_minute_whoever_starts_them() {
    let app = spawn_app_with(|config| config.limits.address_jobs_per_minute = 2).await;
    let quick = json!({"kind": "demo", "params": {"steps": 1, "stepMs": 0}});
    for owner in ["t-first", "t-second"] {
        let client = app.other_owner(owner).await;
        assert_eq!(post_as(&app, &client, quick.clone()).await.status(), 202);
    }
    let third = app.other_owner("t-third").await;
    let error = refused(post_as(&app, &third, quick).await, 429, "too_many_requests").await;
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("2 jobs a minute"), "{message}");
    let listed = third.get(app.url("/api/jobs")).send().await.unwrap();
    let listed: app::job::JobList = listed.json().await.unwrap();
    assert!(listed.jobs.is_empty(), "{:?}", listed.jobs);
}

/// Streams are counted per address, whichever owners open them; one closed makes room.
#[tokio::test]
async fn one_address_holds_only_so_many_streams_whoever_opens_them() {
    let app = spawn_app_with(|config| config.limits.address_max_streams = 2).await;
    let mut open = Vec::new();
    for owner in ["t-first", "t-second"] {
        let client = app.other_owner(owner).await;
        let stream = client.get(app.url("/api/events")).send().await.unwrap();
        assert_eq!(stream.status(), 200);
        open.push(stream);
    }
    let third = app.other_owner("t-third").await;
    let response = third.get(app.url("/api/events")).send().await.unwrap();
    let error = refused(response, 429, "too_many_requests").await;
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("network address has 2 event streams"),
        "{message}"
    );
    drop(open.pop());
    let reopened = tokio::time::timeout(PATIENCE, async {
        loop {
            let response = third.get(app.url("/api/events")).send().await.unwrap();
            if response.status() == 200 {
                return response;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a closed stream makes room for another");
    drop(reopened);
}

/// `X-Forwarded-For` names the client only when a trusted proxy sends it: through the
/// proxy, clients count apart; anyone else's header is ignored.
#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let trusting = spawn_app_with(|config| {
        config.limits.address_identities_per_minute = 1;
        config.trusted_proxies = server::limits::TrustedProxies::parse("127.0.0.1").unwrap();
    })
    .await;
    assert_eq!(visit(&trusting, Some("203.0.113.1")).await.status(), 200);
    assert_eq!(visit(&trusting, Some("203.0.113.2")).await.status(), 200);
    refused(
        visit(&trusting, Some("203.0.113.1")).await,
        429,
        "too_many_requests",
    )
    .await;

    let untrusting = spawn_app_with(|config| config.limits.address_identities_per_minute = 1).await;
    assert_eq!(visit(&untrusting, Some("203.0.113.1")).await.status(), 200);
    // A different header from the same peer is still the same client.
    refused(
        visit(&untrusting, Some("203.0.113.2")).await,
        429,
        "too_many_requests",
    )
    .await;
}

/// Runs an export of `rows` as `client` to its end; the job as it ended.
async fn export_as(app: &TestApp, client: &reqwest::Client, rows: u32) -> app::job::Job {
    let body = json!({"kind": "export", "params": {"rows": rows}});
    let response = post_as(app, client, body).await;
    assert_eq!(response.status(), 202);
    let job: app::job::Job = response.json().await.unwrap();
    stream_to_end(app, client, &job).await;
    let ended = client.get(app.url(&job.links.self_)).send().await.unwrap();
    ended.json().await.unwrap()
}

/// Asserts that `job` failed for want of room (`reason`) and left no file behind.
fn refused_for_room(app: &TestApp, job: &app::job::Job, reason: &str) {
    assert_eq!(job.status, app::job::JobStatus::Failed);
    let error = job.error.clone().unwrap_or_default();
    assert!(error.contains(reason), "{error}");
    assert!(job.result_url.is_none());
    let folder = app
        .config
        .data_dir
        .join("artifacts")
        .join(job.id.to_string());
    let left = std::fs::read_dir(&folder).map_or(0, |files| files.count());
    assert_eq!(left, 0, "nothing of a refused result is kept in {folder:?}");
}

/// What one owner may keep of result files is capped: a job of an owner with no room left
/// fails before it writes; one whose result would take its owner past the cap fails saying
/// so and leaves no file; the results they have stay, and another owner's room is their
/// own.
#[tokio::test]
async fn an_owners_stored_results_are_capped() {
    let measure = spawn_app().await;
    let size = measure.export(json!({"rows": 1000})).await.len() as u64;
    drop(measure.stop().await);

    let app = spawn_app_with(|config| config.limits.owner_max_result_bytes = size).await;
    // The first fills the room exactly; the next finds none.
    let first = app.export(json!({"rows": 1000})).await;
    assert_eq!(first.len() as u64, size);
    let full = export_as(&app, &app.client, 1000).await;
    refused_for_room(&app, &full, "no room left");
    // Another owner's room is their own: half of it, then a result that does not fit.
    let other = app.other_owner("t-other-results").await;
    let half = export_as(&app, &other, 500).await;
    assert_eq!(
        half.status,
        app::job::JobStatus::Completed,
        "{:?}",
        half.error
    );
    let past = export_as(&app, &other, 1000).await;
    refused_for_room(&app, &past, "does not fit");
    // What was kept stays.
    let kept = app
        .list()
        .await
        .into_iter()
        .find(|job| job.status == app::job::JobStatus::Completed)
        .and_then(|job| job.result_url)
        .expect("the first result is kept");
    let kept = app.client.get(app.url(&kept)).send().await.unwrap();
    assert_eq!(kept.bytes().await.unwrap().len() as u64, size);
}
