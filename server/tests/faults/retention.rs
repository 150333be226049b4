//! Guarantee 7: ended jobs are kept for the retention time, then removed with their
//! events and files; their links answer 410 Gone.

use app::event::JobEvent;
use serde_json::json;

use crate::process::*;

#[tokio::test]
async fn after_the_retention_time_a_job_and_its_file_are_removed_and_links_answer_410() {
    let data = data_dir();
    let server = Server::start(
        data.path(),
        free_port(),
        &[
            ("CANDOR_RETENTION_SECS", "1"),
            ("CANDOR_SWEEP_INTERVAL_SECS", "1"),
        ],
    )
    .await;
    let mut all = server.events("/api/events", None).await;
    let job = server
        .start_job(json!({"kind": "export", "params": {"rows": 100}}))
        .await;
    let id = job.id;
    let events = collect_until(
        &mut all,
        |event| matches!(decode(event), JobEvent::Removed(r) if r.job_id == id),
    )
    .await;
    let url = events
        .iter()
        .find_map(|e| match decode(e) {
            JobEvent::Completion(done) => done.url,
            _ => None,
        })
        .expect("it completed with a file before it was removed");
    assert!(
        !artifacts(data.path(), &job).exists(),
        "the file is deleted"
    );
    for path in [url, job.links.self_.clone(), job.links.events.clone()] {
        let response = server.client.get(server.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), 410, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "gone");
    }
}
