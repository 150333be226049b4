//! The logs: with `CANDOR_LOG_FORMAT=json`, one JSON object per line; each request's
//! lines carry its request id (the client's, or one the server made, returned in
//! `x-request-id`), and each job's lines carry its id and kind.

use serde_json::{Value, json};

use crate::process::{Server, collect_until, data_dir, ends, free_port};

#[tokio::test]
async fn json_lines_carry_each_requests_id_and_each_jobs_id_and_kind() {
    let data = data_dir();
    let server = Server::start(
        data.path(),
        free_port(),
        &[
            ("CANDOR_LOG_FORMAT", "json"),
            ("RUST_LOG", "info,sqlx=warn"),
            ("CANDOR_ADMIN_ADDR", "off"),
        ],
    )
    .await;
    // The client's own id comes back, and names the request's log lines.
    let response = server
        .client
        .post(server.url("/api/jobs"))
        .header("x-request-id", "req-from-client-42")
        .json(&json!({"kind": "demo", "params": {"steps": 2, "stepMs": 10}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["x-request-id"], "req-from-client-42");
    let job: app::job::Job = response.json().await.unwrap();
    // Without one, the server makes one.
    let response = server
        .client
        .get(server.url("/api/kinds"))
        .send()
        .await
        .unwrap();
    let made = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(uuid::Uuid::parse_str(&made).is_ok(), "{made}");

    let mut events = server
        .events(&format!("/api/jobs/{}/events", job.id), None)
        .await;
    collect_until(&mut events, ends(&job)).await;
    server.wait_for_log("\"ended\"").await;

    let lines: Vec<Value> = server
        .logs()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let in_span = |line: &Value, key: &str, value: &str| {
        line["spans"]
            .as_array()
            .is_some_and(|spans| spans.iter().any(|span| span[key] == value))
    };
    assert!(
        lines
            .iter()
            .any(|l| in_span(l, "request_id", "req-from-client-42")),
        "a line of the request with the client's id"
    );
    assert!(
        lines.iter().any(|l| in_span(l, "request_id", &made)),
        "a line of the request with the server's id"
    );
    let job_id = job.id.to_string();
    for message in ["started", "ended"] {
        assert!(
            lines.iter().any(|l| l["fields"]["message"] == message
                && in_span(l, "id", &job_id)
                && in_span(l, "kind", "demo")),
            "the job's {message:?} line carries its id and kind"
        );
    }
}
