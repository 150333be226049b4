//! Guarantee 5: SIGTERM stops new work (503 + Retry-After), lets running jobs finish
//! within the grace period, ends the rest as a restart would, and closes the streams.

use app::event::JobEvent;
use app::job::JobStatus;
use serde_json::json;

use crate::process::*;

#[tokio::test]
async fn sigterm_refuses_new_jobs_lets_short_ones_finish_and_interrupts_the_rest() {
    let data = data_dir();
    let port = free_port();
    let mut server = Server::start(data.path(), port, &[("CANDOR_SHUTDOWN_GRACE_SECS", "3")]).await;
    let mut stream = server.events("/api/events", None).await;
    let short = server
        .start_job(json!({"kind": "demo", "params": {"steps": 5, "stepMs": 300}}))
        .await;
    let long = server
        .start_job(json!({"kind": "demo", "params": {"steps": 100, "stepMs": 1000}}))
        .await;
    let mut started = std::collections::HashSet::new();
    collect_until(&mut stream, |event| {
        if let JobEvent::StatusUpdate(u) = decode(event) {
            started.insert(u.job_id);
        }
        started.len() == 2
    })
    .await;

    server.terminate();
    server.wait_for_log("shutting down").await;
    let refused = server
        .post(
            "/api/jobs",
            json!({"kind": "demo", "params": {"steps": 1, "stepMs": 0}}),
        )
        .await;
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");

    // The stream carries both endings, then closes so clients reconnect elsewhere.
    let rest: Vec<_> = futures::StreamExt::collect::<Vec<_>>(&mut stream).await;
    let endings: Vec<_> = rest
        .iter()
        .map(decode)
        .filter(|e| e.is_terminal())
        .collect();
    assert!(
        endings
            .iter()
            .any(|e| e.job_id() == short.id && matches!(e, JobEvent::Completion(_))),
        "the short job finished within the grace period: {endings:?}"
    );
    assert!(
        endings.iter().any(|e| matches!(e, JobEvent::Failure(f)
            if f.job_id == long.id && f.error == "interrupted by a server restart")),
        "the long job was interrupted honestly: {endings:?}"
    );
    assert!(server.wait_exit().await.success(), "a clean exit");

    // What the stream said is what the store kept.
    let server = Server::start(data.path(), port, &[]).await;
    assert_eq!(server.job(short.id).await.status, JobStatus::Completed);
    assert_eq!(server.job(long.id).await.status, JobStatus::Failed);
}

#[tokio::test]
async fn sigterm_exits_even_while_a_client_trickles_an_upload() {
    use tokio::io::AsyncWriteExt;

    let data = data_dir();
    let port = free_port();
    let mut server = Server::start(data.path(), port, &[("CANDOR_SHUTDOWN_GRACE_SECS", "1")]).await;
    // An upload that never ends: a byte every 200 ms, well within the body-idle timeout.
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let head = format!(
        "POST /api/jobs HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {}\r\n\
         content-type: multipart/form-data; boundary=b\r\ntransfer-encoding: chunked\r\n\r\n",
        server.token
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let part = "--b\r\ncontent-disposition: form-data; name=\"kind\"\r\n\r\nimport\r\n\
                --b\r\ncontent-disposition: form-data; name=\"file\"; filename=\"o.csv\"\r\n\
                content-type: text/csv\r\n\r\nid";
    socket
        .write_all(format!("{:x}\r\n{part}\r\n", part.len()).as_bytes())
        .await
        .unwrap();
    let trickle = tokio::spawn(async move {
        while socket.write_all(b"1\r\n,\r\n").await.is_ok() {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    });

    // The server is storing the upload (its partial file exists) before it is told to stop.
    let uploads = data.path().join("uploads");
    tokio::time::timeout(PATIENCE, async {
        while !has_partial_file(&uploads) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the upload is being stored");
    server.terminate();
    server.wait_for_log("shutting down").await;
    // The connection is dropped at the deadline (and said so), and the process exits.
    server
        .wait_for_log("connections still open at the shutdown deadline")
        .await;
    assert!(
        server.wait_exit().await.success(),
        "a clean exit once the deadline passed"
    );
    trickle.await.unwrap();
}

/// Whether a file is being received under `dir` (in any owner's folder).
fn has_partial_file(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|entry| {
            let path = entry.path();
            path.to_string_lossy().ends_with(".partial")
                || (path.is_dir() && has_partial_file(&path))
        })
    })
}
