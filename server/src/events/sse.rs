//! The `text/event-stream` wire format (WHATWG HTML, "Server-sent events").

use app::event::{EventId, EventKind, Heartbeat, QueueNote};
use bytes::{BufMut, BytesMut};

/// Sent on an idle stream so that proxies and clients see the connection is alive.
pub const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// How long a client waits before reconnecting, at the least (2 s) and at the most.
pub const RETRY_MS: std::ops::Range<u32> = 2000..4000;

/// Appends the reconnection delay, sent first on every stream: a delay of its own for
/// each stream, spread over [`RETRY_MS`], so that the clients a restart or a proxy's
/// `502` cut off together do not all come back in the same instant.
pub fn encode_retry(out: &mut BytesMut) {
    let ms = rand::random_range(RETRY_MS);
    out.put_slice(format!("retry: {ms}\n\n").as_bytes());
}

/// Appends one event to `out`: `id:`, `event:`, then one `data:` line per line of
/// `data` (splitting on `\r\n`, `\r` and `\n` as a parser does), then a blank line.
pub fn encode_event(out: &mut BytesMut, id: EventId, kind: EventKind, data: &str) {
    out.reserve(data.len() + 48);
    out.put_slice(b"id: ");
    out.put_slice(id.to_string().as_bytes());
    out.put_slice(b"\nevent: ");
    out.put_slice(kind.as_str().as_bytes());
    out.put_u8(b'\n');
    for line in lines(data) {
        out.put_slice(b"data: ");
        out.put_slice(line.as_bytes());
        out.put_u8(b'\n');
    }
    out.put_u8(b'\n');
}

/// Appends a heartbeat: an event named `heartbeat` with no `id:` (it is not in the log,
/// and a client's `Last-Event-ID` stays where it was).
pub fn encode_heartbeat(out: &mut BytesMut, beat: &Heartbeat) {
    encode_note(out, Heartbeat::NAME, beat);
}

/// Appends where queued jobs stand: an event named `queue` with no `id:` (it is not in the
/// log either).
pub fn encode_queue(out: &mut BytesMut, note: &QueueNote) {
    encode_note(out, QueueNote::NAME, note);
}

/// An event named `name` whose data is `note` as JSON, without an `id:`.
fn encode_note(out: &mut BytesMut, name: &str, note: &impl serde::Serialize) {
    let data = serde_json::to_string(note).expect("a note always serialises");
    out.reserve(data.len() + 32);
    out.put_slice(b"event: ");
    out.put_slice(name.as_bytes());
    out.put_slice(b"\ndata: ");
    // JSON escapes every line break: one data line.
    out.put_slice(data.as_bytes());
    out.put_slice(b"\n\n");
}

/// Splits on `\r\n`, `\r` or `\n`; an empty string is one empty line.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.find(['\r', '\n']) {
            Some(at) => {
                let skip = if current[at..].starts_with("\r\n") {
                    2
                } else {
                    1
                };
                rest = Some(&current[at + skip..]);
                Some(&current[..at])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use futures::StreamExt;

    use super::*;

    /// Parses `bytes` with a spec-following parser (the `eventsource-stream` crate).
    async fn parse(bytes: Bytes) -> Vec<eventsource_stream::Event> {
        use eventsource_stream::Eventsource;
        futures::stream::iter([Ok::<_, std::io::Error>(bytes)])
            .eventsource()
            .map(|event| event.expect("valid event stream"))
            .collect()
            .await
    }

    #[tokio::test]
    async fn an_event_reads_back_identically() {
        let mut out = BytesMut::new();
        let data = r#"{"jobId":"x","progress":45,"step":"Syncing database"}"#;
        encode_event(&mut out, EventId(41), EventKind::StatusUpdate, data);
        assert_eq!(
            &out[..],
            format!("id: 41\nevent: status-update\ndata: {data}\n\n").as_bytes()
        );
        let events = parse(out.freeze()).await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].id, "41");
        assert_eq!(events[0].event, "status-update");
        assert_eq!(events[0].data, data);
    }

    #[tokio::test]
    async fn line_breaks_in_data_survive_as_newlines() {
        let mut out = BytesMut::new();
        encode_event(
            &mut out,
            EventId(1),
            EventKind::Failure,
            "one\ntwo\r\nthree\rfour",
        );
        encode_event(&mut out, EventId(2), EventKind::Failure, "");
        encode_event(&mut out, EventId(3), EventKind::Failure, " leading space\n");
        let events = parse(out.freeze()).await;
        let data: Vec<_> = events.iter().map(|e| e.data.as_str()).collect();
        // A parser joins data lines with \n, so every kind of line break reads back as \n.
        assert_eq!(data, ["one\ntwo\nthree\nfour", "", " leading space\n"]);
        let ids: Vec<_> = events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["1", "2", "3"]);
    }

    /// What a parser reads back from `data`: every line break becomes `\n`.
    fn normalised(data: &str) -> String {
        data.replace("\r\n", "\n").replace('\r', "\n")
    }

    fn parse_now(bytes: Bytes) -> Vec<eventsource_stream::Event> {
        futures::executor::block_on(parse(bytes))
    }

    proptest::proptest! {
        /// Any text, with any mix of `\n`, `\r`, `\r\n`, NUL, leading spaces or colons,
        /// encodes into exactly one event that a spec-following parser reads back as the
        /// same text (line breaks as `\n`, as the format defines), with its id and name.
        #[test]
        fn any_data_reads_back(data in "(\\PC|[\r\n\0: ]){0,64}", id in 0i64..i64::MAX) {
            let mut out = BytesMut::new();
            encode_event(&mut out, EventId(id), EventKind::StatusUpdate, &data);
            let events = parse_now(out.freeze());
            proptest::prop_assert_eq!(events.len(), 1);
            proptest::prop_assert_eq!(&events[0].id, &id.to_string());
            proptest::prop_assert_eq!(&events[0].event, "status-update");
            proptest::prop_assert_eq!(&events[0].data, &normalised(&data));
        }

        /// The events Candor sends are JSON, whose strings escape every line break: any
        /// step or reason, however hostile, reads back as the very same event.
        #[test]
        fn any_job_event_reads_back_identically(
            step in proptest::option::of("(\\PC|[\r\n\u{2028}\0])*"),
            error in "(\\PC|[\r\n\u{2028}\0])*",
            progress in 0u8..=100,
        ) {
            use app::event::{Amount, Failure, JobEvent, JobLog, StatusUpdate, Unit};
            use app::job::{JobId, JobStatus};
            let job_id = JobId(uuid::Uuid::from_u128(9));
            let at = chrono::DateTime::from_timestamp(1_764_000_000, 0).unwrap();
            let sent = [
                JobEvent::StatusUpdate(StatusUpdate { job_id, status: JobStatus::Running, progress, step: step.clone(), done: Some(Amount { count: u64::from(progress) * 1000, unit: Unit::Rows }), began: Vec::new(), at }),
                JobEvent::Log(JobLog { job_id, lines: vec![error.clone(), step.clone().unwrap_or_default()], at }),
                JobEvent::Failure(Failure { job_id, error, step, at }),
            ];
            let mut out = BytesMut::new();
            for (i, event) in sent.iter().enumerate() {
                encode_event(&mut out, EventId(i as i64 + 1), event.kind(), &event.to_json());
            }
            let read = parse_now(out.freeze());
            proptest::prop_assert_eq!(read.len(), sent.len());
            for (event, parsed) in sent.iter().zip(&read) {
                let back = JobEvent::decode(&parsed.event, &parsed.data).unwrap();
                proptest::prop_assert_eq!(&back, event);
            }
        }
    }

    #[tokio::test]
    async fn a_heartbeat_is_a_typed_event_that_leaves_the_last_event_id_alone() {
        use app::event::{Heartbeat, JobPulse};
        let at = chrono::DateTime::from_timestamp(1_764_000_000, 0).unwrap();
        let beat = Heartbeat {
            server_time: at,
            interval_ms: 15_000,
            silent_after_ms: 120_000,
            running: vec![JobPulse {
                job_id: app::job::JobId(uuid::Uuid::from_u128(3)),
                last_report_at: at,
            }],
        };
        let mut out = BytesMut::new();
        encode_event(&mut out, EventId(7), EventKind::Completion, "{}");
        encode_heartbeat(&mut out, &beat);
        let text = std::str::from_utf8(&out).unwrap();
        assert!(
            !text
                .split("event: heartbeat")
                .nth(1)
                .unwrap()
                .contains("id:")
        );
        let events = parse(out.freeze()).await;
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].event, "heartbeat");
        // A parser keeps the last id it saw: a reconnect resumes after event 7.
        assert_eq!(events[1].id, "7");
        let back: Heartbeat = serde_json::from_str(&events[1].data).unwrap();
        assert_eq!(back, beat);
    }

    #[tokio::test]
    async fn comments_and_retry_are_not_events() {
        let mut out = BytesMut::new();
        encode_retry(&mut out);
        out.put_slice(KEEP_ALIVE);
        encode_event(&mut out, EventId(7), EventKind::Completion, "{}");
        let events = parse(out.freeze()).await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].id, "7");
        assert_eq!(events[0].event, "completion");
    }
}
