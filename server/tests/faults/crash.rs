//! Guarantees 1 and 2: SIGKILL mid-job loses nothing and leaves nothing `running`, and
//! a client resumes across the restart with exactly the events it missed.

use app::event::JobEvent;
use app::job::JobStatus;
use serde_json::json;

use crate::process::*;

#[tokio::test]
async fn after_sigkill_running_jobs_end_honestly_or_rerun_and_queued_jobs_run() {
    let data = data_dir();
    let port = free_port();
    let server = Server::start(data.path(), port, &[("CANDOR_WORKERS", "2")]).await;
    let mut all = server.events("/api/events", None).await;

    // Two jobs run (a demo, which is not safe to re-run, and an export, which is), and
    // one waits in the queue behind them.
    let demo = server
        .start_job(json!({"kind": "demo", "params": {"steps": 100, "stepMs": 1000}}))
        .await;
    let export = server
        .start_job(json!({"kind": "export", "params": {"rows": 1000000}}))
        .await;
    let queued = server
        .start_job(json!({"kind": "demo", "params": {"steps": 2, "stepMs": 10}}))
        .await;
    let mut running = std::collections::HashSet::new();
    collect_until(&mut all, |event| {
        if let JobEvent::StatusUpdate(update) = decode(event)
            && update.progress > 0
        {
            running.insert(update.job_id);
        }
        running.contains(&demo.id) && running.contains(&export.id)
    })
    .await;
    assert_eq!(server.job(queued.id).await.status, JobStatus::Queued);

    server.kill9().await;
    // The export was cut off mid-file: only its temporary file exists.
    let files = artifacts(data.path(), &export);
    assert!(
        !files.join("orders.csv").exists(),
        "no result file for an unfinished export"
    );

    let server = Server::start(data.path(), port, &[("CANDOR_WORKERS", "2")]).await;

    // The demo ended as failed, with the reason, and a failure event says so.
    let demo_now = server.job(demo.id).await;
    assert_eq!(demo_now.status, JobStatus::Failed);
    assert_eq!(
        demo_now.error.as_deref(),
        Some("interrupted by a server restart")
    );
    let demo_events: Vec<_> =
        futures::StreamExt::collect(server.events(&demo.links.events, None).await).await;
    assert_eq!(
        demo_events.last().map(|e| e.event.as_str()),
        Some("failure")
    );

    // The export was queued again, said so, and runs to completion as attempt 2.
    let mut export_stream = server.events(&export.links.events, None).await;
    let export_events = collect_until(&mut export_stream, ends(&export)).await;
    let requeued = export_events
        .iter()
        .find_map(|e| match decode(e) {
            JobEvent::StatusUpdate(u) if u.status == JobStatus::Queued => Some(u),
            _ => None,
        })
        .expect("a status-update says the export was queued again");
    assert!(
        requeued
            .step
            .as_deref()
            .unwrap_or_default()
            .contains("attempt 2"),
        "{requeued:?}"
    );
    assert_eq!(export_events.last().unwrap().event, "completion");
    let export_now = server.job(export.id).await;
    assert_eq!(
        (export_now.status, export_now.attempt),
        (JobStatus::Completed, 2)
    );
    let csv = server
        .download(export_now.result_url.as_deref().unwrap())
        .await;
    assert_eq!(
        csv.lines().count(),
        1_000_001,
        "the complete file, not a torn one"
    );

    // The queued job ran.
    let mut queued_stream = server.events(&queued.links.events, None).await;
    collect_until(&mut queued_stream, ends(&queued)).await;
    assert_eq!(server.job(queued.id).await.status, JobStatus::Completed);

    // Nothing is left running.
    let list: serde_json::Value = server
        .client
        .get(server.url("/api/jobs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        list["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|job| job["status"] != "running" && job["status"] != "queued"),
        "{list}"
    );
}

#[tokio::test]
async fn a_client_resuming_across_a_restart_gets_exactly_the_missed_events() {
    let data = data_dir();
    let port = free_port();
    let server = Server::start(data.path(), port, &[]).await;
    let mut stream = server.events("/api/events", None).await;
    let job = server
        .start_job(json!({"kind": "demo", "params": {"steps": 100, "stepMs": 200}}))
        .await;
    let before = collect_until(
        &mut stream,
        |event| matches!(decode(event), JobEvent::StatusUpdate(u) if u.progress >= 2),
    )
    .await;
    let last_seen = id_of(before.last().unwrap());

    server.kill9().await;
    // The client's connection is gone with the process.
    assert!(
        tokio::time::timeout(PATIENCE, futures::StreamExt::next(&mut stream))
            .await
            .expect("the dead server's stream ends")
            .is_none()
    );
    let server = Server::start(data.path(), port, &[]).await;

    // Reconnect as EventSource does: same URL, Last-Event-ID.
    let mut resumed = server.events("/api/events", Some(last_seen)).await;
    let after = collect_until(&mut resumed, ends(&job)).await;
    assert!(
        after.iter().all(|e| id_of(e) > last_seen),
        "nothing already seen"
    );
    assert!(
        matches!(decode(after.last().unwrap()), JobEvent::Failure(ref f) if f.error == "interrupted by a server restart"),
        "the interruption is among the missed events: {after:?}"
    );

    // Before + after is exactly the log: no gap, no duplicate.
    let mut joined = before;
    joined.extend(after);
    assert_strictly_increasing(&joined);
    let log = server.replay(app::event::EventId(0), ends(&job)).await;
    let ids = |events: &[eventsource_stream::Event]| events.iter().map(id_of).collect::<Vec<_>>();
    assert_eq!(ids(&joined), ids(&log));
}

#[tokio::test]
async fn an_import_cut_off_by_sigkill_loads_again_from_the_start_exactly_once() {
    let data = data_dir();
    let port = free_port();
    let server = Server::start(data.path(), port, &[]).await;
    // Long enough to be caught half-loaded.
    let mut csv = String::from("id,date,customer,region,amount\n");
    for id in 1..=400_000u64 {
        csv.push_str(&format!(
            "{id},2025-05-{:02},Customer {id},West,{id}.75\n",
            id % 28 + 1
        ));
    }
    let form = reqwest::multipart::Form::new().text("kind", "import").part(
        "file",
        reqwest::multipart::Part::bytes(csv.clone().into_bytes())
            .file_name("orders.csv")
            .mime_str("text/csv")
            .unwrap(),
    );
    let response = server
        .client
        .post(server.url("/api/jobs"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let job: app::job::Job = response.json().await.unwrap();
    let mut stream = server.events(&job.links.events, None).await;
    collect_until(&mut stream, |event| {
        matches!(decode(event), JobEvent::StatusUpdate(u) if u.progress > 0 && u.progress < 50)
    })
    .await;
    server.kill9().await;

    // The restart removes the half-loaded rows and runs the import again, whole.
    let server = Server::start(data.path(), port, &[]).await;
    let mut stream = server.events(&job.links.events, None).await;
    collect_until(&mut stream, ends(&job)).await;
    let now = server.job(job.id).await;
    assert_eq!(
        (now.status, now.attempt),
        (JobStatus::Completed, 2),
        "{:?}",
        now.error
    );
    assert_eq!(now.step.as_deref(), Some("Imported 400,000 orders"));

    let export = server
        .start_job(json!({"kind": "export", "params": {"source": "orders"}}))
        .await;
    let mut stream = server.events(&export.links.events, None).await;
    collect_until(&mut stream, ends(&export)).await;
    let url = server.job(export.id).await.result_url.expect("a file");
    let table = server.download(&url).await;
    assert!(
        table == csv,
        "every row exactly once, none of the first attempt's twice"
    );
}
