//! After a restart, no job is left `running` and queued jobs still run.

use std::sync::Arc;

use app::job::{JobSpec, JobStatus};
use server::events::{Announce, Bus, Recorder};
use server::owner::Owner;
use server::store::{Admission, SqliteStore};

use crate::helpers::*;

#[tokio::test]
async fn jobs_a_dead_process_left_behind_are_ended_or_run() {
    let data = tempfile::tempdir().unwrap();
    // What a process killed mid-job leaves in its database: one job running, one queued.
    let (running, queued) = {
        let store = SqliteStore::open(&data.path().join("candor.db"))
            .await
            .unwrap();
        // Written as the server writes: through the event writer.
        let recorder = Recorder::new(Arc::new(store), Announce::Bus(Bus::new(16)));
        let spec = JobSpec::new("demo", serde_json::json!({ "steps": 2, "stepMs": 0 }));
        let owner = Owner::new(TEST_OWNER);
        let create =
            || recorder.create_job(&owner, &spec, "Demo: 2 steps", None, Admission::UNLIMITED);
        let running = create().await.unwrap();
        let queued = create().await.unwrap();
        let claimed = recorder
            .claim(1, &server::store::ClaimLimits::none())
            .await
            .unwrap();
        assert_eq!(claimed[0].job.id, running.id);
        (running, queued)
    };

    let config = test_config(&data);
    let app = spawn_app_in(data, config).await;
    let interrupted = app.job(&running).await;
    assert_eq!(interrupted.status, JobStatus::Failed);
    assert_eq!(
        interrupted.error.as_deref(),
        Some("interrupted by a server restart")
    );
    let events = app.job_events_to_end(&running, None).await;
    assert_well_formed(&events);
    assert_eq!(events.last().unwrap().event, "failure");

    let ran = app.wait_until_ended(&queued).await;
    assert_eq!(ran.status, JobStatus::Completed);
}

#[tokio::test]
async fn jobs_and_events_survive_a_graceful_restart() {
    let app = spawn_app().await;
    let job = app.demo(2, 0).await;
    let before = app.job_events_to_end(&job, None).await;
    let data = app.stop().await;
    let config = test_config(&data);
    let app = spawn_app_in(data, config).await;
    assert_eq!(app.job(&job).await.status, JobStatus::Completed);
    let after = app.job_events_to_end(&job, None).await;
    assert_eq!(
        before.iter().map(|e| (&e.id, &e.data)).collect::<Vec<_>>(),
        after.iter().map(|e| (&e.id, &e.data)).collect::<Vec<_>>()
    );
    // New events continue the old log's ids.
    let next = app.demo(1, 0).await;
    assert!(next.last_event_id > job.last_event_id);
}
