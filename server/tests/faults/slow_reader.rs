//! Guarantee 3: a subscriber that stalls does not slow jobs or other subscribers, and
//! when it reads again it gets every event: it caught up from the log, not from an
//! unbounded buffer.

use std::collections::HashSet;

use app::event::EventId;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use http_body_util::BodyStream;
use hyper_util::rt::TokioIo;
use serde_json::json;

use crate::process::*;

/// Opens `/api/events` on a socket with a tiny receive buffer and does not read it: the
/// server's writes to it block after a few kilobytes.
async fn stalled_subscriber(port: u16, token: &str) -> hyper::body::Incoming {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket
        .connect(([127, 0, 0, 1], port).into())
        .await
        .expect("connect");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP/1.1 handshake");
    tokio::spawn(connection);
    let request = hyper::Request::get("/api/events?after=0")
        .header("host", format!("127.0.0.1:{port}"))
        .header("authorization", format!("Bearer {token}"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.expect("response head");
    assert_eq!(response.status(), 200);
    response.into_body()
}

#[tokio::test]
async fn a_stalled_subscriber_slows_no_job_and_no_one_else_and_misses_nothing() {
    let data = data_dir_in_memory();
    let port = free_port();
    // A small live channel, and a progress event for every report: the stalled
    // subscriber falls far behind quickly.
    let server = Server::start(
        data.path(),
        port,
        &[
            ("CANDOR_BUS_CAPACITY", "16"),
            ("CANDOR_PROGRESS_INTERVAL_MS", "0"),
            ("CANDOR_WORKERS", "4"),
            ("RUST_LOG", "info,server::events=debug,sqlx=warn"),
        ],
    )
    .await;
    let stalled = stalled_subscriber(port, &server.token).await;
    let mut healthy = server.events("/api/events", None).await;

    let mut jobs = Vec::new();
    // Thousands of events, most of a megabyte: more than the socket and the server's
    // write buffer (about 400 KB) hold for the stalled subscriber. (How many progress
    // events get written depends on the machine's load: reports are coalesced.)
    for _ in 0..100 {
        jobs.push(
            server
                .start_job(json!({"kind": "demo", "params": {"steps": 100, "stepMs": 5}}))
                .await,
        );
    }
    // Every job ends while the stalled subscriber has read nothing, and the healthy
    // one sees every ending.
    let mut ended = HashSet::new();
    let seen = collect_until(&mut healthy, |event| {
        let event = decode(event);
        if event.is_terminal() {
            ended.insert(event.job_id());
        }
        ended.len() == jobs.len()
    })
    .await;
    assert_strictly_increasing(&seen);
    for job in &jobs {
        assert_eq!(
            server.job(job.id).await.status,
            app::job::JobStatus::Completed
        );
    }

    // Now the stalled subscriber reads: it gets the whole log, in order, once.
    let mut stalled = Box::pin(
        BodyStream::new(stalled)
            .filter_map(
                |frame| async move { frame.ok()?.into_data().ok().map(Ok::<_, std::io::Error>) },
            )
            .eventsource()
            .map(|event| event.expect("well-formed"))
            // Its heartbeats say it is alive; the log's events are what it must not miss.
            .filter(|event| {
                futures::future::ready(!matches!(event.event.as_str(), "heartbeat" | "queue"))
            }),
    );
    let last = seen.last().map(id_of).unwrap();
    let late = collect_until(&mut stalled, |event| id_of(event) == last).await;
    let log = server
        .replay(EventId(0), |event| id_of(event) == last)
        .await;
    let ids = |events: &[eventsource_stream::Event]| events.iter().map(id_of).collect::<Vec<_>>();
    assert_eq!(
        ids(&late),
        ids(&log),
        "no gap and no duplicate after falling behind"
    );
    let bytes: usize = log.iter().map(|e| e.data.len()).sum();
    assert!(
        bytes > 512 << 10,
        "a real backlog: {} events, {bytes} bytes",
        log.len()
    );
}
