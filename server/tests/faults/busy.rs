//! The database's write lock held by another process (a backup, the `sqlite3` shell) for
//! longer than Candor waits for it: requests that must write hear why with a `503`, the
//! readiness check says so, and everything works again once the lock is let go.

use app::job::JobStatus;
use serde_json::{Value, json};

use crate::process::*;

/// Holds the write lock of the SQLite database at `path` from this process (not the
/// server's) until `release` is sent to; says when it holds it.
fn hold_write_lock(
    path: std::path::PathBuf,
) -> (
    tokio::sync::oneshot::Receiver<()>,
    std::sync::mpsc::Sender<()>,
) {
    let (held, holding) = tokio::sync::oneshot::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let mut conn = rusqlite::Connection::open(path).expect("the database opens");
        let lock = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .expect("the write lock");
        let _ = held.send(());
        let _ = released.recv();
        drop(lock);
    });
    (holding, release)
}

/// `GET /api/jobs` as the tests' client.
async fn job_list(server: &Server) -> Value {
    let response = server.client.get(server.url("/api/jobs")).send().await;
    response.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn a_write_lock_held_elsewhere_answers_503_with_the_reason_then_work_goes_on() {
    let data = data_dir();
    let server = Server::start(data.path(), free_port(), &[]).await;
    let (holding, release) = hold_write_lock(data.path().join("candor.db"));
    holding.await.unwrap();

    // Past the store's busy timeout: refused with the reason, not a 500.
    let response = server
        .client
        .post(server.url("/api/jobs"))
        .json(&json!({"kind": "demo", "params": {"steps": 1, "stepMs": 0}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("write lock"), "{message}");
    // Reads still work; readiness says writes do not.
    let listed = server
        .client
        .get(server.url("/api/jobs"))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let ready = reqwest::get(server.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503);
    let ready: Value = ready.json().await.unwrap();
    assert!(ready.to_string().contains("write lock"), "{ready}");

    release.send(()).unwrap();
    let job = server
        .start_job(json!({"kind": "demo", "params": {"steps": 2, "stepMs": 0}}))
        .await;
    let mut stream = server.events(&job.links.events, None).await;
    collect_until(&mut stream, ends(&job)).await;
    assert_eq!(server.job(job.id).await.status, JobStatus::Completed);
    let ready = reqwest::get(server.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    // Nothing of the refused request was stored.
    let list = job_list(&server).await;
    assert_eq!(list["jobs"].as_array().unwrap().len(), 1, "{list}");
}

/// A job that ends while the lock is held elsewhere: its ending cannot be written, is
/// tried again until it is, and then the job has its real ending, its stream ends, and
/// nothing is left running.
#[tokio::test]
async fn an_ending_that_cannot_be_written_is_tried_again_until_it_is_stored() {
    let data = data_dir();
    let server = Server::start(data.path(), free_port(), &[]).await;
    let job = server
        .start_job(json!({"kind": "demo", "params": {"steps": 3, "stepMs": 1000}}))
        .await;
    let mut stream = server.events(&job.links.events, None).await;
    collect_until(&mut stream, |event| {
        matches!(decode(event), app::event::JobEvent::StatusUpdate(u) if u.status == JobStatus::Running)
    })
    .await;

    let (holding, release) = hold_write_lock(data.path().join("candor.db"));
    holding.await.unwrap();
    // The job's code ends while the lock is held: its ending cannot be written.
    server
        .wait_for_log("could not record the job's ending; trying again")
        .await;
    release.send(()).unwrap();

    let events = collect_until(&mut stream, ends(&job)).await;
    assert_eq!(events.last().unwrap().event, "completion");
    assert_eq!(server.job(job.id).await.status, JobStatus::Completed);
    let list = job_list(&server).await;
    assert_eq!(list["counts"]["running"], 0, "{list}");
    assert_eq!(list["counts"]["completed"], 1, "{list}");
}
