//! Requests are bounded however they are framed: a form sent chunked (no
//! `Content-Length`) meets the same limits as one that declares its size, each part is
//! checked as it arrives (before a file is stored), and a client that trickles its
//! headers or stalls its body is let go. After every refusal nothing is left: no job, no
//! file.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

const BOUNDARY: &str = "candor-test-boundary";

/// A refused form: what it is, its parts as sent, the status and error code it gets.
type Refused<'a> = (&'a str, Vec<Vec<u8>>, (u16, &'a str));

/// One text part of a form.
fn text_part(name: &str, value: &str) -> String {
    format!("--{BOUNDARY}\r\ncontent-disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
}

/// The head of a file part (its bytes follow).
fn file_part_head(name: &str, file_name: &str) -> String {
    format!(
        "--{BOUNDARY}\r\ncontent-disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\ncontent-type: text/csv\r\n\r\n"
    )
}

/// One chunk of a chunked body.
fn chunk(bytes: &[u8]) -> Vec<u8> {
    let mut framed = format!("{:x}\r\n", bytes.len()).into_bytes();
    framed.extend_from_slice(bytes);
    framed.extend_from_slice(b"\r\n");
    framed
}

/// Opens a connection and sends a chunked form request's head and `body` chunks, then
/// the start of one more part (so the last one sent is complete), leaving the body
/// open (no last chunk): the server must answer before it ends.
async fn open_chunked_form(app: &TestApp, body: &[Vec<u8>]) -> TcpStream {
    let address = app.base.trim_start_matches("http://");
    let mut socket = TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /api/jobs HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {}\r\n\
         content-type: multipart/form-data; boundary={BOUNDARY}\r\n\
         transfer-encoding: chunked\r\n\r\n",
        app.token
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let next = format!("--{BOUNDARY}\r\n").into_bytes();
    for part in body.iter().chain([&next]) {
        // The server may answer and close before it has read everything.
        if socket.write_all(&chunk(part)).await.is_err() {
            break;
        }
    }
    socket
}

/// The status and JSON error code of the answer on `socket`.
async fn answer(socket: &mut TcpStream) -> (u16, String) {
    let mut answer = Vec::new();
    let mut buffer = [0u8; 8192];
    let read = async {
        loop {
            match socket.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
            let text = String::from_utf8_lossy(&answer);
            if text.contains("\r\n\r\n") && text.trim_end().ends_with('}') {
                break;
            }
        }
    };
    tokio::time::timeout(PATIENCE, read)
        .await
        .expect("the server answers before the body ends");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text:?}"));
    let code = text
        .split("\"code\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned();
    (status, code)
}

/// No job, and no file in the uploads folder (at any depth).
async fn nothing_stored(app: &TestApp) {
    assert!(app.list().await.is_empty(), "a job was stored");
    assert_eq!(app.stored_uploads(), 0, "a file was left under uploads/");
}

#[tokio::test]
async fn each_part_of_a_chunked_form_is_checked_as_it_arrives() {
    let app = spawn_app().await;
    let csv = b"id,date,customer,region,amount\n1,2024-01-01,A,North,1\n".to_vec();
    let cases: Vec<Refused> = vec![
        (
            "a file before the kind",
            vec![
                file_part_head("file", "orders.csv").into_bytes(),
                csv.clone(),
            ],
            (422, "invalid_field"),
        ),
        (
            "a file for a kind that takes none",
            vec![
                text_part("kind", "demo").into_bytes(),
                file_part_head("file", "orders.csv").into_bytes(),
                csv.clone(),
            ],
            (422, "invalid_field"),
        ),
        (
            "a parameter the kind does not have",
            vec![
                text_part("kind", "import").into_bytes(),
                text_part("colour", "red").into_bytes(),
            ],
            (422, "invalid_field"),
        ),
        (
            "a second file for the same parameter",
            vec![
                text_part("kind", "import").into_bytes(),
                file_part_head("file", "a.csv").into_bytes(),
                csv.clone(),
                format!("\r\n{}", file_part_head("file", "b.csv")).into_bytes(),
                csv.clone(),
            ],
            (422, "invalid_field"),
        ),
        (
            "an unknown kind",
            vec![text_part("kind", "nothing").into_bytes()],
            (422, "unknown_kind"),
        ),
        (
            "more parts than a job form has",
            (0..40)
                .map(|i| text_part(&format!("p{i}"), "x").into_bytes())
                .collect(),
            (400, "invalid_request"),
        ),
        (
            "more text than a job form has",
            (0..10)
                .map(|i| text_part(&format!("p{i}"), &"x".repeat(10_000)).into_bytes())
                .collect(),
            (413, "payload_too_large"),
        ),
    ];
    for (case, body, expected) in cases {
        let mut socket = open_chunked_form(&app, &body).await;
        assert_eq!(
            answer(&mut socket).await,
            (expected.0, expected.1.to_owned()),
            "{case}"
        );
    }
    nothing_stored(&app).await;
}

#[tokio::test]
async fn a_chunked_body_past_the_overall_limit_is_refused() {
    let app = spawn_app_with(|config| config.upload_max_bytes = 10_000).await;
    // Bytes before the first boundary are not part of any part: only the overall
    // limit (the largest file plus the text around it) stops them.
    let preamble = vec![b'x'; 64 * 1024];
    let body: Vec<Vec<u8>> = std::iter::repeat_n(preamble, 4).collect();
    let mut socket = open_chunked_form(&app, &body).await;
    assert_eq!(answer(&mut socket).await, (413, "payload_too_large".into()));
    nothing_stored(&app).await;
}

#[tokio::test]
async fn a_stalled_body_gets_408_and_leaves_nothing() {
    let app = spawn_app_with(|config| {
        config.limits.body_idle_timeout = Duration::from_secs(1);
    })
    .await;
    // A form whose file stops arriving half-way.
    let mut socket = open_chunked_form(
        &app,
        &[
            text_part("kind", "import").into_bytes(),
            file_part_head("file", "orders.csv").into_bytes(),
            b"id,date,customer,region,amount\n1,2024".to_vec(),
        ],
    )
    .await;
    assert_eq!(answer(&mut socket).await, (408, "request_timeout".into()));
    // A JSON body that says 100 bytes and sends 10.
    let address = app.base.trim_start_matches("http://");
    let mut socket = TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /api/jobs HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"kind\":",
        app.token
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    assert_eq!(answer(&mut socket).await, (408, "request_timeout".into()));
    nothing_stored(&app).await;
}

#[tokio::test]
async fn connections_that_send_no_headers_in_time_are_closed() {
    let app = spawn_app_with(|config| {
        config.limits.header_read_timeout = Duration::from_secs(1);
    })
    .await;
    let address = app.base.trim_start_matches("http://").to_owned();
    for sent in ["", "GET /api/jobs HTTP/1.1\r\nhost: 127.0.0.1\r\n"] {
        let mut socket = TcpStream::connect(&address).await.unwrap();
        socket.write_all(sent.as_bytes()).await.unwrap();
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(PATIENCE, socket.read_to_end(&mut rest)).await;
        assert!(
            closed.is_ok(),
            "a connection that sent {sent:?} is still open"
        );
    }
    // The server goes on serving.
    assert!(app.list().await.is_empty());
}
