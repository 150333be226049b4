//! Retry and retention: what happens to jobs after they end.

use app::event::JobEvent;
use app::job::JobStatus;
use futures::StreamExt;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn retry_starts_a_new_job_with_the_same_params_linked_to_the_old() {
    let app = spawn_app().await;
    let failed = app
        .start(json!({"kind": "demo", "params": {"steps": 3, "stepMs": 1, "failAt": 2}}))
        .await;
    app.wait_until_ended(&failed).await;
    let response = app
        .client
        .post(app.url(&format!("/api/jobs/{}/retry", failed.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let retry: app::job::Job = response.json().await.unwrap();
    assert_eq!(location, retry.links.self_);
    assert_ne!(retry.id, failed.id);
    assert_eq!(retry.retry_of, Some(failed.id));
    assert_eq!(retry.spec, failed.spec);
    assert_eq!(retry.status, JobStatus::Queued);
    // It is a job like any other: it runs (and, with the same params, fails the same way).
    assert_eq!(app.wait_until_ended(&retry).await.status, JobStatus::Failed);
    assert_eq!(app.job(&retry).await.retry_of, Some(failed.id));

    // Only failed or cancelled jobs can be retried.
    let completed = app.demo(1, 0).await;
    app.wait_until_ended(&completed).await;
    let response = app
        .client
        .post(app.url(&format!("/api/jobs/{}/retry", completed.id)))
        .send()
        .await
        .unwrap();
    let (status, error) = error_of(response).await;
    assert_eq!(status, 409);
    assert_eq!(error["error"]["code"], "conflict");
}

#[tokio::test]
async fn retention_removes_ended_jobs_and_their_files_and_links_answer_410() {
    let app = spawn_app_with(|config| {
        config.retention = std::time::Duration::from_millis(500);
        config.sweep_interval = std::time::Duration::from_millis(100);
    })
    .await;
    let mut all = app.events("/api/events", None).await.stream;
    let job = app
        .start(json!({"kind": "export", "params": {"rows": 50}}))
        .await;
    let files = app.data.path().join("artifacts").join(job.id.to_string());
    let mut url = None;
    tokio::time::timeout(PATIENCE, async {
        while let Some(event) = all.next().await {
            match decode(&event) {
                JobEvent::Completion(done) if done.job_id == job.id => {
                    url = done.url;
                    assert!(
                        files.join("orders.csv").exists(),
                        "the file is there while kept"
                    );
                }
                JobEvent::Removed(removed) if removed.job_id == job.id => return,
                _ => {}
            }
        }
    })
    .await
    .expect("the sweep removes the job and says so on the stream");
    let url = url.expect("the export completed with a file first");

    assert!(!files.exists(), "its files are deleted");
    assert!(
        app.list().await.iter().all(|j| j.id != job.id),
        "it is no longer listed"
    );
    for path in [url, job.links.self_.clone(), job.links.events.clone()] {
        let response = app.client.get(app.url(&path)).send().await.unwrap();
        let (status, error) = error_of(response).await;
        assert_eq!(status, 410, "{path}");
        assert_eq!(error["error"]["code"], "gone", "{path}");
    }
    // Someone else's, or an unknown id, is still a plain 404.
    let response = app
        .client
        .get(app.url(&format!("/api/jobs/{}", uuid::Uuid::new_v4())))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}
