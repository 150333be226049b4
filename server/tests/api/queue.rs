//! Where queued jobs stand: `GET /api/jobs/{id}`'s `queue`, and the `queue` notes on the
//! owner's stream, which follow the line as it moves.

use app::event::QueueNote;
use app::job::{Job, JobStatus};
use futures::StreamExt;
use serde_json::json;

use crate::helpers::*;

/// Waits on `stream` for a `queue` note that satisfies `until`.
async fn note_where(opened: &mut Opened, until: impl Fn(&QueueNote) -> bool) -> QueueNote {
    tokio::time::timeout(PATIENCE, async {
        while let Some(event) = opened.stream.next().await {
            if event.event == QueueNote::NAME {
                let note: QueueNote = serde_json::from_str(&event.data).unwrap();
                if until(&note) {
                    return note;
                }
            }
        }
        panic!("the stream ended");
    })
    .await
    .expect("a queue note as awaited")
}

fn position(note: &QueueNote, job: &Job) -> Option<u32> {
    note.jobs
        .iter()
        .find(|queued| queued.job_id == job.id)
        .map(|queued| queued.position)
}

/// One worker busy, three jobs queued behind it: each knows its place, the owner's stream
/// says so, and when the first leaves the line the others move up, live.
#[tokio::test]
async fn a_queued_job_knows_its_place_and_moves_up_live() {
    let app = spawn_app_with(|config| config.workers = 1).await;
    let mut stream = app.events_with_heartbeats("/api/events", None).await;
    let long = json!({"kind": "demo", "params": {"steps": 100, "stepMs": 60000}});
    let running = app.start(long.clone()).await;
    app.wait_for(
        &running,
        |e| matches!(e, app::event::JobEvent::StatusUpdate(u) if u.status == JobStatus::Running),
    )
    .await;
    let queued = [
        app.start(long.clone()).await,
        app.start(long.clone()).await,
        app.start(long).await,
    ];
    let note = note_where(&mut stream, |note| note.jobs.len() == 3).await;
    let places: Vec<Option<u32>> = queued.iter().map(|job| position(&note, job)).collect();
    assert_eq!(places, [Some(1), Some(2), Some(3)], "{note:?}");
    let third = app.job(&queued[2]).await;
    assert_eq!(third.queue.map(|q| q.position), Some(3));
    // The running job has no place.
    assert_eq!(app.job(&running).await.queue, None);

    assert_eq!(app.cancel(&queued[0]).await.status(), 200);
    let note = note_where(&mut stream, |note| note.jobs.len() == 2).await;
    assert_eq!(position(&note, &queued[1]), Some(1), "{note:?}");
    assert_eq!(position(&note, &queued[2]), Some(2), "{note:?}");
    assert_eq!(position(&note, &queued[0]), None);
    let third = app.job(&queued[2]).await;
    let place = third.queue.expect("a queued job has a place");
    assert_eq!(place.position, 2);
    // A job ended lately: there is an estimate now.
    assert!(place.starts_in.is_some(), "{place:?}");
    // A job's own stream says where it stands once it has replayed the job's events (a
    // client knows the job the note names).
    let mut own = app
        .events_with_heartbeats(&queued[2].links.events, None)
        .await;
    let mut before = Vec::new();
    let note = tokio::time::timeout(PATIENCE, async {
        while let Some(event) = own.stream.next().await {
            if event.event == QueueNote::NAME {
                return serde_json::from_str::<QueueNote>(&event.data).unwrap();
            }
            before.push(event.event);
        }
        panic!("the stream ended");
    })
    .await
    .expect("a queue note");
    assert!(before.iter().any(|name| name == "created"), "{before:?}");
    assert_eq!(position(&note, &queued[2]), Some(2), "{note:?}");
    assert_eq!(note.jobs.len(), 1);
}
