//! Guarantee 4: job code reporting progress at a million reports a second writes a few
//! events a second, and the final progress and the ending always get through.

use app::event::JobEvent;
use app::job::JobStatus;
use serde_json::json;

use crate::process::*;

#[tokio::test]
async fn a_progress_flood_is_coalesced_and_the_last_progress_and_ending_get_through() {
    let data = data_dir();
    let server = Server::start(
        data.path(),
        free_port(),
        &[("CANDOR_PROGRESS_INTERVAL_MS", "200")],
    )
    .await;
    // 20 steps of 100 ms, each with 100,000 progress reports: 2,000,000 reports.
    let job = server
        .start_job(json!({"kind": "demo", "params": {
            "steps": 20, "stepMs": 100, "reportsPerStep": 100000
        }}))
        .await;
    let mut stream = server.events(&job.links.events, None).await;
    let events = collect_until(&mut stream, ends(&job)).await;
    let job = server.job(job.id).await;
    assert_eq!(job.status, JobStatus::Completed);

    let updates: Vec<_> = events
        .iter()
        .filter_map(|e| match decode(e) {
            JobEvent::StatusUpdate(u) => Some(u),
            _ => None,
        })
        .collect();
    // At most one write per 200 ms while it ran, plus the start and the final flush.
    let ran = (job.finished_at.unwrap() - job.started_at.unwrap()).num_milliseconds();
    let bound = (ran / 200 + 3) as usize;
    assert!(
        updates.len() <= bound,
        "{} progress events in {ran} ms (at most {bound})",
        updates.len()
    );
    assert!(
        updates.len() >= 3,
        "progress was still reported: {updates:?}"
    );
    let progress: Vec<_> = updates.iter().map(|u| u.progress).collect();
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert_eq!(
        progress.last(),
        Some(&100),
        "the final progress got through"
    );
    assert_eq!(
        events.last().unwrap().event,
        "completion",
        "and then the ending"
    );
}
