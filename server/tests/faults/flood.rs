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

/// The descriptors the server process has open.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count())
}

#[tokio::test]
async fn a_client_opening_a_thousand_streams_holds_32_and_others_are_served() {
    let data = data_dir();
    let server = Server::start(data.path(), free_port(), &[]).await;
    let baseline = open_fds(server.pid());
    // One owner asks for 1,000 streams at once, each on its own connection.
    let greedy = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let token = make_token(data.path(), "t-greedy", &[]).await;
    let attempts = futures::future::join_all((0..1000).map(|_| {
        greedy
            .get(server.url("/api/events"))
            .bearer_auth(&token)
            .send()
    }))
    .await;
    let mut open = Vec::new();
    let mut refused = 0;
    for attempt in attempts {
        let response = attempt.expect("every request is answered");
        match response.status().as_u16() {
            200 => open.push(response),
            429 => {
                assert_eq!(response.headers()["connection"], "close");
                refused += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((open.len(), refused), (32, 968));
    // The refused connections were closed: the server holds about one descriptor per
    // open stream, not one per attempt.
    let held = open_fds(server.pid()) - baseline;
    assert!(held < 100, "{held} descriptors held for 32 streams");

    // Someone else starts a job and follows it to the end meanwhile.
    let job = server
        .start_job(json!({"kind": "demo", "params": {"steps": 3, "stepMs": 10}}))
        .await;
    let mut stream = server.events(&job.links.events, None).await;
    let events = collect_until(&mut stream, ends(&job)).await;
    assert_eq!(events.last().unwrap().event, "completion");
    drop(open);
}
