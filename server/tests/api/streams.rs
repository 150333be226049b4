//! The event-stream contract, read with a spec-following SSE parser.

use std::collections::HashSet;

use app::event::{EventId, Heartbeat, JobEvent};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_demo_job_streams_its_whole_life_in_order() {
    let app = spawn_app().await;
    let job = app.demo(5, 20).await;
    let opened = app.events(&job.links.events, None).await;
    assert_eq!(opened.status, 200);
    assert_eq!(opened.headers["content-type"], "text/event-stream");
    assert_eq!(opened.headers["cache-control"], "no-cache");
    assert_eq!(opened.headers["x-accel-buffering"], "no");
    assert!(
        opened.headers.get("content-encoding").is_none(),
        "the stream is never compressed, even for a client that asks"
    );
    let events = tokio::time::timeout(PATIENCE, opened.stream.collect::<Vec<_>>())
        .await
        .expect("the stream ends with the job");
    assert_well_formed(&events);
    let JobEvent::Created(created) = decode(&events[0]) else {
        panic!("first event is created");
    };
    assert_eq!(created.job.id, job.id);
    assert_eq!(created.job.last_event_id, id_of(&events[0]));
    let last = decode(events.last().unwrap());
    assert!(
        matches!(last, JobEvent::Completion(ref c) if c.url.is_none()),
        "{last:?}"
    );
    // The final progress comes before the ending.
    let progress: Vec<_> = events
        .iter()
        .filter_map(|e| match decode(e) {
            JobEvent::StatusUpdate(u) => Some(u.progress),
            _ => None,
        })
        .collect();
    assert_eq!(progress.first(), Some(&0));
    assert_eq!(progress.last(), Some(&100));
    // Every event names the job.
    assert!(events.iter().all(|e| decode(e).job_id() == job.id));
}

#[tokio::test]
async fn a_reconnect_with_last_event_id_misses_nothing_and_repeats_nothing() {
    let app = spawn_app().await;
    let job = app.demo(20, 30).await;

    // Read the first few events, then drop the connection mid-job.
    let mut first = Vec::new();
    {
        let mut stream = app.events(&job.links.events, None).await.stream;
        while first.len() < 4 {
            let event = tokio::time::timeout(PATIENCE, stream.next())
                .await
                .expect("events arrive")
                .expect("stream open");
            first.push(event);
        }
    }
    let resume = id_of(first.last().unwrap());
    let rest = app.job_events_to_end(&job, Some(resume)).await;
    assert!(
        rest.iter().all(|e| id_of(e) > resume),
        "nothing before the cursor"
    );

    let mut joined = first.clone();
    joined.extend(rest);
    assert_well_formed(&joined);
    // Exactly the job's log: the same sequence a fresh reader gets after the fact.
    let replay = app.job_events_to_end(&job, None).await;
    let ids = |events: &[eventsource_stream::Event]| events.iter().map(id_of).collect::<Vec<_>>();
    assert_eq!(ids(&joined), ids(&replay));
    assert_eq!(
        joined.iter().map(|e| &e.data).collect::<Vec<_>>(),
        replay.iter().map(|e| &e.data).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn an_ended_jobs_stream_answers_204_after_its_ending() {
    let app = spawn_app().await;
    let job = app.demo(2, 0).await;
    let events = app.job_events_to_end(&job, None).await;
    let terminal = id_of(events.last().unwrap());

    // A fresh subscriber still gets the whole story, ending included.
    let again = app.job_events_to_end(&job, None).await;
    assert_eq!(again.len(), events.len());

    // Reconnecting after the ending: 204, which stops an EventSource for good.
    let response = app
        .client
        .get(app.url(&job.links.events))
        .header("Last-Event-ID", terminal.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert!(response.bytes().await.unwrap().is_empty());

    // Resuming from before the ending gets just the ending.
    let tail = app
        .job_events_to_end(&job, Some(EventId(terminal.0 - 1)))
        .await;
    assert_eq!(tail.len(), 1);
    assert_eq!(id_of(&tail[0]), terminal);
}

#[tokio::test]
async fn the_all_jobs_stream_carries_every_job_and_resumes_exactly() {
    let app = spawn_app().await;
    let opened = app.events("/api/events", None).await;
    assert_eq!(opened.status, 200);
    let mut stream = opened.stream;

    let a = app.demo(3, 10).await;
    let b = app
        .start(json!({"kind": "demo", "params": {"steps": 2, "stepMs": 10, "failAt": 2}}))
        .await;
    let mut seen = Vec::new();
    let mut ended = HashSet::new();
    tokio::time::timeout(PATIENCE, async {
        while ended.len() < 2 {
            let event = stream.next().await.expect("stream stays open");
            let decoded = decode(&event);
            if decoded.is_terminal() {
                ended.insert(decoded.job_id());
            }
            seen.push(event);
        }
    })
    .await
    .expect("both jobs end");
    assert_eq!(ended, HashSet::from([a.id, b.id]));
    let ids: Vec<_> = seen.iter().map(id_of).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    for job in [&a, &b] {
        let of_job: Vec<_> = seen
            .iter()
            .filter(|e| decode(e).job_id() == job.id)
            .cloned()
            .collect();
        assert_well_formed(&of_job);
    }

    // Resuming the all-jobs stream from the middle replays exactly the rest.
    let middle = ids[ids.len() / 2];
    let mut resumed = app.events("/api/events", Some(middle)).await.stream;
    let expected: Vec<_> = ids.iter().copied().filter(|id| *id > middle).collect();
    let mut got = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        while got.len() < expected.len() {
            got.push(id_of(&resumed.next().await.expect("open")));
        }
    })
    .await
    .expect("the replay arrives");
    assert_eq!(got, expected);

    // `?after=` does the same for a client that cannot set headers.
    let mut after = app
        .events(&format!("/api/events?after={middle}"), None)
        .await
        .stream;
    let first = tokio::time::timeout(PATIENCE, after.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(id_of(&first), expected[0]);
}

#[tokio::test]
async fn an_idle_stream_gets_keep_alive_comments() {
    let app =
        spawn_app_with(|config| config.keep_alive = std::time::Duration::from_millis(300)).await;
    let response = app.client.get(app.url("/api/events")).send().await.unwrap();
    let mut body = response.bytes_stream();
    let mut text = String::new();
    tokio::time::timeout(PATIENCE, async {
        // One at once, then one every interval.
        while text.matches(": keep-alive\n\n").count() < 3 {
            let chunk = body.next().await.expect("open").expect("bytes");
            text.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    })
    .await
    .expect("a keep-alive comment arrives");
    assert!(text.starts_with("retry: "), "{text:?}");
}

/// Each stream gets a reconnection delay of its own, between 2 and 4 s: clients cut off
/// together (a restart, a proxy's 502) do not all come back in the same instant.
#[tokio::test]
async fn each_stream_says_a_reconnection_delay_of_its_own() {
    let app = spawn_app().await;
    let mut delays = Vec::new();
    for _ in 0..6 {
        let response = app.client.get(app.url("/api/events")).send().await.unwrap();
        let chunk = response.bytes_stream().next().await.unwrap().unwrap();
        let text = String::from_utf8(chunk.to_vec()).unwrap();
        let delay: u32 = text
            .strip_prefix("retry: ")
            .and_then(|rest| rest.split('\n').next())
            .and_then(|ms| ms.parse().ok())
            .unwrap_or_else(|| panic!("a stream starts with its retry: {text:?}"));
        assert!((2000..4000).contains(&delay), "{delay}");
        delays.push(delay);
    }
    delays.dedup();
    assert!(delays.len() > 1, "six streams, one delay: {delays:?}");
}

/// A stream's first event, at once, is a heartbeat: the client learns the rhythm to
/// expect before the first interval has passed.
#[tokio::test]
async fn a_stream_opens_with_a_heartbeat_at_once() {
    let app =
        spawn_app_with(|config| config.keep_alive = std::time::Duration::from_secs(600)).await;
    let mut stream = app.events_with_heartbeats("/api/events", None).await.stream;
    // Far less than the interval: only the opening heartbeat can arrive in time.
    let first = tokio::time::timeout(std::time::Duration::from_secs(20), stream.next())
        .await
        .expect("an event at once")
        .expect("the stream stays open");
    assert_eq!(first.event, Heartbeat::NAME);
    let beat: Heartbeat = serde_json::from_str(&first.data).unwrap();
    assert_eq!(beat.interval_ms, 600_000);
    assert!(first.id.is_empty(), "a heartbeat is not in the log");
}

/// Reads `stream` until a heartbeat arrives, and returns it.
async fn next_heartbeat(
    stream: &mut std::pin::Pin<Box<dyn futures::Stream<Item = eventsource_stream::Event> + Send>>,
) -> Heartbeat {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let event = stream.next().await.expect("the stream stays open");
            if event.event == Heartbeat::NAME {
                return serde_json::from_str(&event.data).expect("a typed heartbeat");
            }
        }
    })
    .await
    .expect("a heartbeat arrives")
}

#[tokio::test]
async fn heartbeats_say_when_each_of_the_callers_running_jobs_last_reported() {
    let app = spawn_app_with(|config| {
        config.keep_alive = std::time::Duration::from_millis(300);
        config.silent_after = std::time::Duration::from_secs(7);
    })
    .await;
    // A job that reports at the start of each of its two 3-second steps, and is silent
    // in between.
    let job = app.demo(2, 3000).await;
    let mut stream = app.events_with_heartbeats("/api/events", None).await.stream;
    let beat = loop {
        let beat = next_heartbeat(&mut stream).await;
        if !beat.running.is_empty() {
            break beat;
        }
    };
    assert_eq!(beat.interval_ms, 300);
    assert_eq!(beat.silent_after_ms, 7000);
    assert_eq!(beat.running.len(), 1);
    assert_eq!(beat.running[0].job_id, job.id);
    let last = beat.running[0].last_report_at;
    assert!(last <= beat.server_time && beat.server_time - last < chrono::TimeDelta::seconds(4));
    // Between reports the time stays put while the server's clock moves on.
    let later = next_heartbeat(&mut stream).await;
    assert!(later.server_time > beat.server_time);
    let [pulse] = later.running.as_slice() else {
        panic!("the job still runs: {later:?}");
    };
    assert!(pulse.last_report_at == last || pulse.last_report_at > beat.server_time);

    // Another owner's heartbeats do not mention the job; its own job stream's do.
    let browser = app.browser().await;
    let response = browser.get(app.url("/api/events")).send().await.unwrap();
    let mut theirs: std::pin::Pin<Box<dyn futures::Stream<Item = _> + Send>> = Box::pin(
        response
            .bytes_stream()
            .eventsource()
            .map(|event| event.expect("well-formed event stream")),
    );
    assert!(next_heartbeat(&mut theirs).await.running.is_empty());
    let mut one = app
        .events_with_heartbeats(&job.links.events, None)
        .await
        .stream;
    let beat = next_heartbeat(&mut one).await;
    assert_eq!(
        beat.running.iter().map(|p| p.job_id).collect::<Vec<_>>(),
        [job.id]
    );

    // Once the job ends it is no longer running.
    let mut rest = app.job_events_to_end(&job, None).await;
    assert!(decode(&rest.pop().unwrap()).is_terminal());
    loop {
        if next_heartbeat(&mut stream).await.running.is_empty() {
            break;
        }
    }
}

#[tokio::test]
async fn a_cursor_beyond_the_log_resumes_from_now() {
    let app = spawn_app().await;
    let mut stream = app
        .events("/api/events", Some(EventId(1_000_000)))
        .await
        .stream;
    let job = app.demo(1, 0).await;
    let first = tokio::time::timeout(PATIENCE, stream.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(decode(&first).job_id(), job.id, "new events still arrive");
}

#[tokio::test]
async fn the_caller_can_see_how_many_streams_they_hold_open() {
    let app = spawn_app().await;
    let count = |client: reqwest::Client| {
        let url = app.url("/api/streams");
        async move {
            let response = client.get(url).send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.json::<app::event::OpenStreams>().await.unwrap()
        }
    };
    assert_eq!(count(app.client.clone()).await.open, 0);
    let first = app.events("/api/events", None).await;
    let second = app.events("/api/events", None).await;
    assert_eq!((first.status, second.status), (200, 200));
    let mine = count(app.client.clone()).await;
    assert_eq!(mine.open, 2);
    assert!(mine.max >= 2, "{mine:?}");
    // Another caller's streams are theirs.
    let other = app.other_owner("someone-else").await;
    assert_eq!(count(other).await.open, 0);
}

/// A cursor from the future (a data directory wiped behind a client's back) resumes a
/// job's stream from now, as it does `/api/events`: the job's next events and its
/// ending arrive, none is skipped as seen.
#[tokio::test]
async fn a_job_stream_resumed_from_the_future_carries_the_jobs_events_from_now() {
    let app = spawn_app().await;
    let job = app.demo(5, 200).await;
    let events = app
        .job_events_to_end(&job, Some(EventId(1_000_000_000)))
        .await;
    assert_eq!(events.last().unwrap().event, "completion", "{events:?}");
}
