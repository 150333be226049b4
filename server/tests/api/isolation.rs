//! Jobs, streams, downloads and uploads belong to whoever started them: two browsers
//! (two cookie jars) and a script (an API token) each see only their own, and another
//! owner's job answers exactly as a job that does not exist.

use app::event::JobEvent;
use app::job::{Job, JobStatus};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::{Value, json};

use crate::helpers::*;

/// Status and body of `method path` as `client`.
async fn answer(
    app: &TestApp,
    client: &reqwest::Client,
    method: &str,
    path: &str,
) -> (u16, String) {
    let response = client
        .request(method.parse().unwrap(), app.url(path))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn start_as(app: &TestApp, client: &reqwest::Client, body: Value) -> Job {
    let response = client
        .post(app.url("/api/jobs"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202, "{:?}", response.text().await);
    response.json().await.unwrap()
}

async fn list_as(app: &TestApp, client: &reqwest::Client) -> Vec<Job> {
    let response = client.get(app.url("/api/jobs")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let list: Value = response.json().await.unwrap();
    serde_json::from_value(list["jobs"].clone()).unwrap()
}

/// Every event of `path` (as `client`) until the event that satisfies `until`.
async fn events_until(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    last_event_id: Option<&str>,
    until: impl Fn(&JobEvent) -> bool,
) -> Vec<JobEvent> {
    let mut request = client.get(app.url(path));
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream().eventsource();
    let mut seen = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        while let Some(event) = stream.next().await {
            let event = event.unwrap();
            // Heartbeats say the stream is alive; the log's events are what is checked.
            if matches!(event.event.as_str(), "heartbeat" | "queue") {
                continue;
            }
            let event = decode(&event);
            let done = until(&event);
            seen.push(event);
            if done {
                return;
            }
        }
        panic!("the stream ended early");
    })
    .await
    .expect("the awaited event arrives");
    seen
}

#[tokio::test]
async fn another_owners_job_answers_exactly_as_no_job_on_every_endpoint() {
    let app = spawn_app().await;
    let alice = app.browser().await;
    let bob = app.browser().await;
    let carol = app.other_owner("t-carol").await;

    // Alice: a completed export (with a file), a failed job, and one still running.
    let export = start_as(
        &app,
        &alice,
        json!({"kind": "export", "params": {"rows": 10}}),
    )
    .await;
    let failed = start_as(
        &app,
        &alice,
        json!({"kind": "demo", "params": {"steps": 1, "stepMs": 0, "failAt": 1}}),
    )
    .await;
    let running = start_as(
        &app,
        &alice,
        json!({"kind": "demo", "params": {"steps": 100, "stepMs": 1000}}),
    )
    .await;
    let ended = |id| move |e: &JobEvent| e.job_id() == id && e.is_terminal();
    events_until(&app, &alice, &export.links.events, None, ended(export.id)).await;
    events_until(&app, &alice, &failed.links.events, None, ended(failed.id)).await;
    let export: Job = alice
        .get(app.url(&export.links.self_))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let download = export.result_url.clone().expect("a download link");
    assert_eq!(answer(&app, &alice, "GET", &download).await.0, 200);

    let unknown = uuid::Uuid::new_v4();
    for stranger in [&bob, &carol] {
        assert!(list_as(&app, stranger).await.is_empty());
        for (method, theirs, none) in [
            (
                "GET",
                format!("/api/jobs/{}", export.id),
                format!("/api/jobs/{unknown}"),
            ),
            (
                "GET",
                format!("/api/jobs/{}/events", running.id),
                format!("/api/jobs/{unknown}/events"),
            ),
            (
                "POST",
                format!("/api/jobs/{}/cancel", running.id),
                format!("/api/jobs/{unknown}/cancel"),
            ),
            (
                "POST",
                format!("/api/jobs/{}/retry", failed.id),
                format!("/api/jobs/{unknown}/retry"),
            ),
            (
                "GET",
                download.clone(),
                download.replace(&export.id.to_string(), &unknown.to_string()),
            ),
        ] {
            let (status, body) = answer(&app, stranger, method, &theirs).await;
            assert_eq!(status, 404, "{method} {theirs}: {body}");
            assert_eq!(
                (status, body),
                answer(&app, stranger, method, &none).await,
                "{method} {theirs} answers as an unknown id does"
            );
        }
    }
    // Nothing the strangers did changed Alice's jobs.
    let mine = list_as(&app, &alice).await;
    assert_eq!(mine.len(), 3);
    let still = mine.iter().find(|j| j.id == running.id).unwrap();
    assert!(!still.status.is_terminal(), "{:?}", still.status);
    assert!(mine.iter().all(|j| j.retry_of.is_none()));
    assert_eq!(
        answer(
            &app,
            &alice,
            "POST",
            &format!("/api/jobs/{}/cancel", running.id)
        )
        .await
        .0,
        200
    );
}

#[tokio::test]
async fn the_all_jobs_stream_carries_only_the_callers_events_also_when_resumed() {
    let app = spawn_app().await;
    let alice = app.browser().await;
    let bob = app.other_owner("t-bob").await;

    // Both work at once; Alice's job is already under way when Bob subscribes.
    let alices = start_as(
        &app,
        &alice,
        json!({"kind": "demo", "params": {"steps": 5, "stepMs": 10}}),
    )
    .await;
    let bobs_stream = {
        let app_url = app.url("/api/events?after=0");
        let bob = bob.clone();
        tokio::spawn(async move {
            let response = bob.get(app_url).send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.bytes_stream().eventsource()
        })
    };
    let bobs_job = start_as(
        &app,
        &bob,
        json!({"kind": "demo", "params": {"steps": 5, "stepMs": 10}}),
    )
    .await;
    let alices_again = start_as(
        &app,
        &alice,
        json!({"kind": "demo", "params": {"steps": 3, "stepMs": 0}}),
    )
    .await;

    let mut stream = bobs_stream.await.unwrap();
    let mut bob_saw = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        while let Some(event) = stream.next().await {
            let event = event.unwrap();
            if matches!(event.event.as_str(), "heartbeat" | "queue") {
                continue;
            }
            let decoded = decode(&event);
            let done = decoded.job_id() == bobs_job.id && decoded.is_terminal();
            bob_saw.push((event.id, decoded));
            if done {
                return;
            }
        }
    })
    .await
    .expect("Bob's job ends on Bob's stream");
    assert!(
        bob_saw.iter().all(|(_, e)| e.job_id() == bobs_job.id),
        "only Bob's events: {bob_saw:?}"
    );

    // Alice's jobs end too; then Bob resumes from the very start and from each of his
    // ids, and Alice from the start: neither ever gets the other's events.
    let alice_saw = events_until(&app, &alice, "/api/events", Some("0"), |e| {
        e.job_id() == alices_again.id && e.is_terminal()
    })
    .await;
    assert!(alice_saw.iter().all(|e| e.job_id() != bobs_job.id));
    assert!(alice_saw.iter().any(|e| e.job_id() == alices.id));
    // Every resume point but the last (after Bob's ending nothing of his follows).
    let (_, before_the_end) = bob_saw.split_last().expect("Bob saw his job");
    for id in std::iter::once("0").chain(before_the_end.iter().map(|(id, _)| id.as_str())) {
        let resumed = events_until(&app, &bob, "/api/events", Some(id), |e| {
            e.job_id() == bobs_job.id && e.is_terminal()
        })
        .await;
        assert!(
            resumed.iter().all(|e| e.job_id() == bobs_job.id),
            "resumed after {id}: {resumed:?}"
        );
    }
}

/// `client` starts a compress job with a file of private notes.
async fn compress_notes(app: &TestApp, client: &reqwest::Client) -> Job {
    let form = reqwest::multipart::Form::new()
        .text("kind", "compress")
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"private notes\n".repeat(100))
                .file_name("notes.txt")
                .mime_str("text/plain")
                .unwrap(),
        );
    let response = client
        .post(app.url("/api/jobs"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    response.json().await.unwrap()
}

#[tokio::test]
async fn an_uploaded_file_and_its_job_are_its_owners_alone() {
    let app = spawn_app().await;
    let alice = app.browser().await;
    let bob = app.browser().await;
    let job = compress_notes(&app, &alice).await;
    events_until(&app, &alice, &job.links.events, None, |e| e.is_terminal()).await;
    let done: Job = alice
        .get(app.url(&job.links.self_))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    let url = done.result_url.unwrap();
    assert_eq!(answer(&app, &alice, "GET", &url).await.0, 200);
    assert_eq!(answer(&app, &bob, "GET", &url).await.0, 404);
    // The stored upload's name is in Alice's job; Bob cannot reach it by any path.
    let upload = done.spec.params["file"]["id"].as_str().unwrap().to_owned();
    for path in [
        format!("/downloads/{}/{upload}", job.id),
        format!("/downloads/{}/..%2F..%2Fuploads%2F{upload}", job.id),
        format!("/downloads/{upload}/{upload}"),
    ] {
        assert_eq!(answer(&app, &bob, "GET", &path).await.0, 404, "{path}");
        assert_eq!(answer(&app, &alice, "GET", &path).await.0, 404, "{path}");
    }
}

/// A stored upload is never named by a request: a job's file comes only from a file part
/// of the same request. Bob, who learnt the id of Alice's upload, cannot have it
/// compressed (and downloaded) by naming it in `params`.
#[tokio::test]
async fn an_upload_is_taken_only_from_a_file_part_of_the_same_request() {
    let app = spawn_app().await;
    let alice = app.browser().await;
    let bob = app.browser().await;
    let job = compress_notes(&app, &alice).await;
    let upload = job.spec.params["file"].clone();

    let forged = reqwest::multipart::Form::new()
        .text("kind", "compress")
        .text("params", serde_json::json!({ "file": upload }).to_string());
    let response = bob
        .post(app.url("/api/jobs"))
        .multipart(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["field"], "params.file", "{body}");
    let listed: serde_json::Value = bob
        .get(app.url("/api/jobs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 0, "{listed}");
}

#[tokio::test]
async fn requests_without_an_identity_or_with_a_bad_one_are_refused() {
    let app = spawn_app().await;
    let nobody = reqwest::Client::new();
    let job = app.demo(1, 0).await;
    for (method, path) in [
        ("GET", "/api/jobs".to_owned()),
        ("GET", "/api/events".to_owned()),
        ("GET", format!("/api/jobs/{}", job.id)),
        ("POST", "/api/jobs".to_owned()),
        ("POST", format!("/api/jobs/{}/cancel", job.id)),
        ("GET", format!("/downloads/{}/orders.csv", job.id)),
    ] {
        for auth in [
            None,
            Some("Bearer candor_nope"),
            Some("Basic dXNlcjpwYXNz"),
            Some("Bearer"),
        ] {
            let mut request = nobody.request(method.parse().unwrap(), app.url(&path));
            if let Some(auth) = auth {
                request = request.header("authorization", auth);
            }
            let response = request.send().await.unwrap();
            assert!(response.headers().get("set-cookie").is_none());
            let (status, error) = error_of(response).await;
            assert_eq!(status, 401, "{method} {path} {auth:?}");
            assert_eq!(error["error"]["code"], "unauthenticated");
        }
    }
    // A cookie that was not signed by this server names nobody either.
    let response = nobody
        .get(app.url("/api/jobs"))
        .header(
            "cookie",
            "candor_session=b-00000000000000000000000000000000",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(app.list().await.len(), 1, "nothing changed");

    // The first visit to the page gives a locked-down cookie (Secure behind HTTPS).
    let page = nobody.get(app.url("/")).send().await.unwrap();
    let cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in [
        "candor_session=",
        "HttpOnly",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=",
    ] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "{cookie}");
    let page = nobody
        .get(app.url("/"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert!(
        page.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Secure")
    );
}

#[tokio::test]
async fn a_revoked_token_stops_working_and_a_session_survives_a_restart() {
    let app = spawn_app().await;
    let browser = app.browser().await;
    let job = start_as(
        &app,
        &browser,
        json!({"kind": "demo", "params": {"steps": 1, "stepMs": 0}}),
    )
    .await;
    let token = make_token(&app.config, "t-revoked").await;
    let script = token_client(&token);
    assert_eq!(answer(&app, &script, "GET", "/api/jobs").await.0, 200);
    let store = server::store::SqliteStore::open(&app.config.database_path())
        .await
        .unwrap();
    let tokens = <dyn server::store::Store>::tokens(&store).await.unwrap();
    let id = &tokens
        .iter()
        .find(|t| t.owner.as_str() == "t-revoked")
        .unwrap()
        .id;
    assert!(
        <dyn server::store::Store>::revoke_token(&store, id, chrono::Utc::now())
            .await
            .unwrap()
    );
    assert_eq!(answer(&app, &script, "GET", "/api/jobs").await.0, 401);

    // The signing key is kept in the data directory: the cookie outlives the process.
    let data = app.stop().await;
    let config = test_config(&data);
    let app = spawn_app_in(data, config).await;
    let mine = list_as(&app, &browser).await;
    assert_eq!(mine.iter().map(|j| j.id).collect::<Vec<_>>(), vec![job.id]);
}

#[tokio::test]
async fn cookie_requests_from_other_sites_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let browser = app.browser().await;
    let body = json!({"kind": "demo", "params": {"steps": 1, "stepMs": 0}});
    let host = app.base.trim_start_matches("http://").to_owned();
    for (name, value) in [
        ("origin", "https://evil.example".to_owned()),
        ("origin", "null".to_owned()),
        ("origin", format!("http://{host}.evil.example")),
        ("sec-fetch-site", "cross-site".to_owned()),
        ("sec-fetch-site", "same-site".to_owned()),
    ] {
        let response = browser
            .post(app.url("/api/jobs"))
            .header(name, value.as_str())
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, error) = error_of(response).await;
        assert_eq!(status, 403, "{name}: {value}");
        assert_eq!(error["error"]["code"], "forbidden");
    }
    assert!(
        list_as(&app, &browser).await.is_empty(),
        "nothing was created"
    );
    // The page's own requests pass.
    let response = browser
        .post(app.url("/api/jobs"))
        .header("origin", app.base.as_str())
        .header("sec-fetch-site", "same-origin")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    // A token is never sent by a browser on its own: no origin check applies.
    let response = app
        .client
        .post(app.url("/api/jobs"))
        .header("origin", "https://elsewhere.example")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
}
