//! `GET /healthz` (alive) and `GET /readyz` (able to serve), on the public address and
//! on the admin address.

use serde_json::{Value, json};

use crate::process::{Server, collect_until, data_dir, decode, free_port};

async fn get(url: &str) -> (u16, Value, Option<String>) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, response.json().await.unwrap(), retry_after)
}

#[tokio::test]
async fn ready_while_serving_not_ready_while_shutting_down_alive_throughout() {
    let data = data_dir();
    let admin = format!("127.0.0.1:{}", free_port());
    let server = Server::start(
        data.path(),
        free_port(),
        &[
            ("CANDOR_ADMIN_ADDR", &admin),
            ("CANDOR_SHUTDOWN_GRACE_SECS", "30"),
        ],
    )
    .await;
    let bases = [server.base.clone(), format!("http://{admin}")];
    for base in &bases {
        let (status, body, _) = get(&format!("{base}/healthz")).await;
        assert_eq!((status, body), (200, json!({"status": "alive"})));
        let (status, body, _) = get(&format!("{base}/readyz")).await;
        assert_eq!((status, body), (200, json!({"status": "ready"})));
    }

    // A long job keeps the server shutting down (its grace period) for a while.
    let job = server
        .start_job(json!({"kind": "demo", "params": {"steps": 100, "stepMs": 1000}}))
        .await;
    let mut events = server
        .events(&format!("/api/jobs/{}/events", job.id), None)
        .await;
    collect_until(&mut events, |event| {
        matches!(decode(event), app::event::JobEvent::StatusUpdate(u) if u.step.as_deref() == Some("Starting"))
    })
    .await;
    server.terminate();
    server.wait_for_log("shutting down").await;
    for base in &bases {
        let (status, body, retry_after) = get(&format!("{base}/readyz")).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"]["code"], "unavailable", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("shutting down"),
            "{body}"
        );
        assert!(retry_after.is_some());
        let (status, _, _) = get(&format!("{base}/healthz")).await;
        assert_eq!(status, 200, "alive while it shuts down");
    }
}
