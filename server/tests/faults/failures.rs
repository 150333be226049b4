//! Guarantee 6: a job over its time limit, or one whose disk writes fail, ends `failed`
//! with that reason, and the server goes on serving.

use app::job::JobStatus;
use serde_json::json;

use crate::process::*;

#[tokio::test]
async fn a_job_over_its_kinds_time_limit_fails_as_timed_out() {
    let data = data_dir();
    let server = Server::start(
        data.path(),
        free_port(),
        &[("CANDOR_TIME_LIMIT_DEMO_SECS", "1")],
    )
    .await;
    let job = server
        .start_job(json!({"kind": "demo", "params": {"steps": 10, "stepMs": 500}}))
        .await;
    let mut stream = server.events(&job.links.events, None).await;
    let events = collect_until(&mut stream, ends(&job)).await;
    assert_eq!(events.last().unwrap().event, "failure");
    let job = server.job(job.id).await;
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.error.as_deref(), Some("timed out after 1.0 s"));
    assert!(job.step.is_some(), "it says where it was");
}

#[tokio::test]
async fn an_unwritable_data_directory_fails_the_job_and_the_server_keeps_serving() {
    let data = data_dir();
    let server = Server::start(data.path(), free_port(), &[]).await;
    // The artifacts folder turns into something no file can be created in (a plain
    // file; unlike permissions, that also stops root).
    let artifacts = data.path().join("artifacts");
    std::fs::remove_dir_all(&artifacts).unwrap();
    std::fs::write(&artifacts, b"not a directory").unwrap();

    let export = server
        .start_job(json!({"kind": "export", "params": {"rows": 1000}}))
        .await;
    let mut stream = server.events(&export.links.events, None).await;
    collect_until(&mut stream, ends(&export)).await;
    let export = server.job(export.id).await;
    assert_eq!(export.status, JobStatus::Failed);
    let error = export.error.unwrap();
    assert!(
        error.starts_with("could not create the job's artifact folder: "),
        "{error}"
    );

    // The server serves on: other jobs run, the API answers.
    let demo = server
        .start_job(json!({"kind": "demo", "params": {"steps": 2, "stepMs": 1}}))
        .await;
    let mut stream = server.events(&demo.links.events, None).await;
    collect_until(&mut stream, ends(&demo)).await;
    assert_eq!(server.job(demo.id).await.status, JobStatus::Completed);
}
