//! Hostile input: each request gets a clear 4xx, and nothing changes (no job, no file,
//! the server goes on serving).

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

/// Sends `request` as raw bytes (paths and headers no client library would send) and
/// returns the status code and the body.
async fn raw(app: &TestApp, request: &[u8]) -> (u16, String) {
    let address = app.base.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    socket.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, socket.read_to_end(&mut answer))
        .await
        .expect("the server answers and closes")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {answer:?}"));
    let body = answer
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

/// Nothing changed: no job for the tests' owner, no stored upload.
async fn nothing_changed(app: &TestApp) {
    assert!(app.list().await.is_empty(), "a job was stored");
    assert_eq!(app.stored_uploads(), 0, "a file was left under uploads/");
}

#[tokio::test]
async fn malformed_and_odd_json_bodies_get_4xx_with_a_reason() {
    let app = spawn_app().await;
    let deep = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    let cases: Vec<(String, u16)> = vec![
        (deep, 400),
        (
            r#"{"kind":"demo","params":{"steps":1e400,"stepMs":1}}"#.into(),
            400,
        ),
        (
            r#"{"kind":"demo","params":{"steps":-0,"stepMs":1e2}}"#.into(),
            422,
        ),
        (
            r#"{"kind":"demo","params":{"steps":18446744073709551617,"stepMs":1}}"#.into(),
            422,
        ),
        (
            r#"{"kind":"demo","params":{"steps":"\ud800","stepMs":1}}"#.into(),
            400,
        ),
        (r#"{"kind":"dem\u0000o","params":{}}"#.into(), 422),
        (r#"{"kind":"\u202edemo","params":{}}"#.into(), 422),
        (r#"{"kind":"ｄｅｍｏ","params":{}}"#.into(), 422),
        (r#"{"kind":"demo","kind":"export","params":{}}"#.into(), 400),
        (
            r#"{"kind":"demo","params":{"steps":1,"stepMs":1}} trailing"#.into(),
            400,
        ),
        ("\u{feff}{\"kind\":\"demo\"}".into(), 400),
        (
            r#"{"kind":"export","params":{"region":"\u0000\u0001","rows":1}}"#.into(),
            422,
        ),
        (
            format!(
                r#"{{"kind":"export","params":{{"region":"{}","rows":1}}}}"#,
                "é".repeat(5000)
            ),
            422,
        ),
        (
            r#"{"kind":"export","params":{"from":"2024-02-30","rows":1}}"#.into(),
            422,
        ),
        (
            r#"{"kind":"export","params":{"from":"２０２４-01-01","rows":1}}"#.into(),
            422,
        ),
        (r#"null"#.into(), 400),
        (r#""demo""#.into(), 400),
    ];
    for (body, status) in cases {
        let response = app
            .client
            .post(app.url("/api/jobs"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let (got, error) = error_of(response).await;
        let shown: String = body.chars().take(80).collect();
        assert_eq!(got, status, "{shown}: {error}");
        assert!(
            !error["error"]["message"].as_str().unwrap().is_empty(),
            "{shown}"
        );
    }
    // Bytes that are not UTF-8 at all.
    let response = app
        .client
        .post(app.url("/api/jobs"))
        .header("content-type", "application/json")
        .body(vec![b'{', 0xff, 0xfe, b'}'])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(response).await.0, 400);
    nothing_changed(&app).await;
}

#[tokio::test]
async fn invalid_or_enormous_last_event_ids_are_refused() {
    let app = spawn_app().await;
    let digits = "9".repeat(10_000);
    for bad in [
        digits.as_str(),
        "1e3",
        "0x10",
        "+5",
        "١٢",
        "18446744073709551616",
    ] {
        let response = app
            .client
            .get(app.url("/api/events"))
            .header("Last-Event-ID", bad)
            .send()
            .await
            .unwrap();
        let (status, error) = error_of(response).await;
        assert_eq!(status, 400, "{}", &bad[..bad.len().min(20)]);
        assert_eq!(error["error"]["field"], "Last-Event-ID");
    }
    // Not even ASCII (obs-text bytes in the header).
    let request = format!(
        "GET /api/events HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {}\r\nlast-event-id: \u{e9}\r\nconnection: close\r\n\r\n",
        app.token.clone()
    );
    assert_eq!(raw(&app, request.as_bytes()).await.0, 400);
    nothing_changed(&app).await;
}

#[tokio::test]
async fn path_traversal_in_download_urls_finds_nothing() {
    let app = spawn_app().await;
    let export = app.export(json!({"rows": 5})).await;
    assert!(!export.is_empty());
    let job = &app.list().await[0];
    let id = job.id;
    let token = app.token.clone();
    for path in [
        format!("/downloads/{id}/../../session.key"),
        format!("/downloads/{id}/..%2F..%2Fsession.key"),
        format!("/downloads/{id}/%2e%2e%2f%2e%2e%2fcandor.db"),
        format!("/downloads/{id}/..\\..\\candor.db"),
        format!("/downloads/{id}/orders.csv%00.txt"),
        format!("/downloads/{id}/%2Fetc%2Fpasswd"),
        "/downloads/..%2F..%2Fsession.key/orders.csv".to_owned(),
        format!("/downloads/{id}//etc/passwd"),
        "/pkg/../session.key".to_owned(),
        "/%2e%2e/%2e%2e/etc/passwd".to_owned(),
    ] {
        let request = format!(
            "GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {token}\r\nconnection: close\r\n\r\n"
        );
        let (status, body) = raw(&app, request.as_bytes()).await;
        assert!(matches!(status, 400 | 404), "{path}: {status} {body:.200}");
        assert!(!body.contains("root:"), "{path}");
        assert!(!body.contains("SQLite format"), "{path}");
    }
}

#[tokio::test]
async fn oversized_headers_are_refused_and_the_server_goes_on() {
    let app = spawn_app().await;
    let huge = "a".repeat(1 << 20);
    let request = format!(
        "GET /api/jobs HTTP/1.1\r\nhost: 127.0.0.1\r\nx-big: {huge}\r\nconnection: close\r\n\r\n"
    );
    let (status, _) = raw(&app, request.as_bytes()).await;
    assert_eq!(status, 431, "one enormous header");
    let many: String = (0..500).map(|i| format!("x-h{i}: {i}\r\n")).collect();
    let request =
        format!("GET /api/jobs HTTP/1.1\r\nhost: 127.0.0.1\r\n{many}connection: close\r\n\r\n");
    let (status, _) = raw(&app, request.as_bytes()).await;
    assert_eq!(status, 431, "too many headers");
    let cookie = format!("candor_session={}", "b".repeat(100_000));
    let response = app
        .client
        .get(app.url("/api/jobs"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    // Large but within the header limit: the bad cookie is ignored, the token counts.
    assert_eq!(response.status(), 200);
    nothing_changed(&app).await;
}

/// `GET /api/kinds` with the tests' token, naming `host`: the status and the body.
async fn kinds_for_host(app: &TestApp, host: &str) -> (u16, String) {
    let request = format!(
        "GET /api/kinds HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\n\
         Connection: close\r\n\r\n",
        app.token
    );
    raw(app, request.as_bytes()).await
}

/// DNS rebinding: a page on another site whose name resolves to this server's address
/// sends that name as `Host`. A server on loopback answers loopback names only; one told
/// its public URL answers that name too; any other host gets `421` and nothing else.
#[tokio::test]
async fn requests_for_another_host_are_refused() {
    let app = spawn_app().await;
    let port = app.base.rsplit(':').next().unwrap().to_owned();
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        assert_eq!(kinds_for_host(&app, &host).await.0, 200, "{host}");
    }
    for host in [
        format!("evil.example:{port}"),
        format!("localhost.evil.example:{port}"),
    ] {
        let (status, body) = kinds_for_host(&app, &host).await;
        assert_eq!(status, 421, "{host}: {body}");
        assert!(body.contains("does not answer for"), "{body}");
    }
    // The health checks answer whatever the host (probes use addresses).
    let probe =
        format!("GET /healthz HTTP/1.1\r\nHost: 10.1.2.3:{port}\r\nConnection: close\r\n\r\n");
    assert_eq!(raw(&app, probe.as_bytes()).await.0, 200);

    let app = spawn_app_with(|config| {
        config.public_url = Some(server::config::PublicUrl {
            authority: "jobs.example.com".to_owned(),
        })
    })
    .await;
    assert_eq!(kinds_for_host(&app, "jobs.example.com").await.0, 200);
    assert_eq!(kinds_for_host(&app, "evil.example").await.0, 421);
}
