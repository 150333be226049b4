//! An export's result downloads as a proper CSV file.

use app::event::JobEvent;
use app::job::JobStatus;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn an_export_completes_with_a_downloadable_csv() {
    let app = spawn_app().await;
    let job = app
        .start(json!({"kind": "export", "params": {"rows": 2500}}))
        .await;
    let events = app.job_events_to_end(&job, None).await;
    assert_well_formed(&events);
    let JobEvent::Completion(done) = decode(events.last().unwrap()) else {
        panic!("expected completion: {:?}", events.last());
    };
    let url = done.url.expect("an export links its file");
    assert_eq!(url, format!("/downloads/{}/orders.csv", job.id));
    assert_eq!(
        app.job(&job).await.result_url.as_deref(),
        Some(url.as_str())
    );
    let ended = app.job(&job).await;
    assert_eq!(ended.status, JobStatus::Completed);
    assert_eq!(
        ended.step.as_deref(),
        Some("Wrote 2,500 rows of sample data"),
        "the last step is kept"
    );

    let response = app.client.get(app.url(&url)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"candor-orders-"),
        "{disposition}"
    );
    assert!(disposition.ends_with(".csv\""), "{disposition}");
    // A private result: no cache on the way may keep it, and no browser guesses its type.
    assert_eq!(response.headers()["cache-control"], "private, no-store");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let body = response.text().await.unwrap();
    let mut lines = body.lines();
    assert_eq!(lines.next(), Some("id,date,customer,region,amount"));
    let rows: Vec<_> = lines.collect();
    assert_eq!(rows.len(), 2500);
    assert!(rows[0].starts_with("1,20"), "{}", rows[0]);
    assert!(rows[2499].starts_with("2500,"), "{}", rows[2499]);

    // Deterministic: the same export twice is the same file.
    let again = app
        .start(json!({"kind": "export", "params": {"rows": 2500}}))
        .await;
    let again = app.wait_until_ended(&again).await;
    let second = app
        .client
        .get(app.url(again.result_url.as_deref().unwrap()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(second, body);
}

#[tokio::test]
async fn only_the_exact_result_file_is_served() {
    let app = spawn_app().await;
    let job = app
        .start(json!({"kind": "export", "params": {"rows": 10}}))
        .await;
    app.wait_until_ended(&job).await;
    for path in [
        format!("/downloads/{}/other.csv", job.id),
        format!("/downloads/{}/..%2F..%2Fcandor.db", job.id),
        format!("/downloads/{}/orders.csv.partial", job.id),
    ] {
        let response = app.client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    // A job without a result has nothing to download.
    let demo = app.demo(1, 0).await;
    app.wait_until_ended(&demo).await;
    let response = app
        .client
        .get(app.url(&format!("/downloads/{}/orders.csv", demo.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn a_cancelled_export_leaves_no_file() {
    let app = spawn_app().await;
    let job = app
        .start(json!({"kind": "export", "params": {"rows": 10000000}}))
        .await;
    app.wait_for(
        &job,
        |e| matches!(e, JobEvent::StatusUpdate(u) if u.progress > 0),
    )
    .await;
    let response = app.cancel(&job).await;
    assert_eq!(response.status(), 200);
    app.job_events_to_end(&job, None).await;
    // After a graceful stop every job's clean-up has run.
    let data = app.stop().await;
    let artifacts = data.path().join("artifacts").join(job.id.to_string());
    assert!(!artifacts.exists(), "the partial export was removed");
}
