//! The REST endpoints on the happy path.

use app::job::{Job, JobList, JobStatus};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_job_is_accepted_at_once_and_can_be_read_back() {
    let app = spawn_app().await;
    let response = app
        .post_job(json!({"kind": "demo", "params": {"steps": 3, "stepMs": 10}}))
        .await;
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let job: app::job::Job = response.json().await.unwrap();
    assert_eq!(location, format!("/api/jobs/{}", job.id));
    assert_eq!(job.spec.kind, "demo");
    assert_eq!(job.title, "Demo: 3 steps");
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(job.links.events, format!("/api/jobs/{}/events", job.id));

    let read = app.job(&job).await;
    assert_eq!(read.id, job.id);
    assert_eq!(read.created_at, job.created_at);

    let ended = app.wait_until_ended(&job).await;
    assert_eq!(ended.status, JobStatus::Completed);
    assert_eq!(ended.progress, 100);
    assert!(ended.started_at.is_some() && ended.finished_at.is_some());
    assert!(ended.finished_at >= ended.started_at);
}

#[tokio::test]
async fn the_list_is_newest_first_and_carries_a_cursor() {
    let app = spawn_app().await;
    let first = app.demo(1, 0).await;
    let second = app.demo(1, 0).await;
    let third = app.demo(1, 0).await;
    let ids: Vec<_> = app.list().await.iter().map(|j| j.id).collect();
    assert_eq!(ids, [third.id, second.id, first.id]);

    let limited = app.get_json("/api/jobs?limit=2").await;
    assert_eq!(limited["jobs"].as_array().unwrap().len(), 2);
    assert!(limited["lastEventId"].as_i64().unwrap() >= 3);
}

#[tokio::test]
async fn the_list_pages_through_older_jobs_and_counts_them_all() {
    let app = spawn_app().await;
    let mut started = Vec::new();
    for _ in 0..5 {
        started.push(app.demo(1, 0).await);
    }
    let failed = app
        .start(json!({"kind": "demo", "params": {"steps": 1, "stepMs": 0, "failAt": 1}}))
        .await;
    for job in started.iter().chain([&failed]) {
        app.wait_until_ended(job).await;
    }
    let page = |query: String| {
        let app = &app;
        async move {
            let list: JobList = serde_json::from_value(app.get_json(&query).await).unwrap();
            list
        }
    };
    let first = page("/api/jobs?limit=4".into()).await;
    let ids = |list: &JobList| list.jobs.iter().map(|j| j.id).collect::<Vec<_>>();
    assert_eq!(
        ids(&first),
        [failed.id, started[4].id, started[3].id, started[2].id]
    );
    assert!(first.more);
    // The counts cover every job, not only the page.
    assert_eq!((first.counts.completed, first.counts.failed), (5, 1));
    assert_eq!(first.counts.total(), 6);

    let second = page(format!("/api/jobs?limit=4&before={}", started[2].id)).await;
    assert_eq!(ids(&second), [started[1].id, started[0].id]);
    assert!(!second.more);
    assert_eq!(second.counts, first.counts);

    // A cursor that is not one of the caller's jobs is refused, not answered empty.
    for bad in ["nope".to_owned(), uuid::Uuid::from_u128(1).to_string()] {
        let response = app
            .client
            .get(app.url(&format!("/api/jobs?before={bad}")))
            .send()
            .await
            .unwrap();
        let (status, body) = error_of(response).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["error"]["field"], "before");
    }
    let other = app.other_owner("someone-else").await;
    let response = other
        .get(app.url(&format!("/api/jobs?before={}", failed.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let theirs: JobList = other
        .get(app.url("/api/jobs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(theirs.counts.total(), 0);
}

#[tokio::test]
async fn a_running_job_can_be_cancelled_once() {
    let app = spawn_app().await;
    let job = app.demo(50, 200).await;
    // Wait until it runs (its `status-update` to running), then cancel.
    app.wait_for(&job, |e| matches!(e, app::event::JobEvent::StatusUpdate(_)))
        .await;
    let response = app.cancel(&job).await;
    assert_eq!(response.status(), 200);
    let cancelled: app::job::Job = response.json().await.unwrap();
    assert_eq!(cancelled.status, JobStatus::Cancelled);

    let events = app.job_events_to_end(&job, None).await;
    assert_well_formed(&events);
    assert_eq!(events.last().unwrap().event, "cancelled");

    let again = app.cancel(&job).await;
    let (status, body) = error_of(again).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "conflict");
    // It stays cancelled: the runner's own ending did not overwrite it.
    assert_eq!(app.job(&job).await.status, JobStatus::Cancelled);
}

#[tokio::test]
async fn a_queued_job_can_be_cancelled_before_it_runs() {
    let app = spawn_app_with(|config| config.workers = 1).await;
    let blocker = app.demo(20, 100).await;
    let queued = app.demo(1, 0).await;
    let response = app.cancel(&queued).await;
    assert_eq!(response.status(), 200);
    let events = app.job_events_to_end(&queued, None).await;
    let names: Vec<_> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names, ["created", "cancelled"], "it never ran");
    app.cancel(&blocker).await;
}

#[tokio::test]
async fn a_failing_demo_job_says_why_and_where() {
    let app = spawn_app().await;
    let job = app
        .start(json!({"kind": "demo", "params": {"steps": 5, "stepMs": 5, "failAt": 3}}))
        .await;
    let events = app.job_events_to_end(&job, None).await;
    assert_well_formed(&events);
    let app::event::JobEvent::Failure(failure) = decode(events.last().unwrap()) else {
        panic!("expected a failure, got {:?}", events.last());
    };
    assert!(failure.error.contains("step 3"), "{}", failure.error);
    assert_eq!(failure.step.as_deref(), Some("Step 3 of 5"));
    let job = app.job(&job).await;
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.error, Some(failure.error));
    assert!(job.progress < 100);
}

#[tokio::test]
async fn jobs_beyond_the_worker_count_wait_in_the_queue() {
    let app = spawn_app_with(|config| config.workers = 1).await;
    let first = app.demo(3, 50).await;
    let second = app.demo(1, 0).await;
    let second_ended = app.wait_until_ended(&second).await;
    let first_ended = app.job(&first).await;
    assert_eq!(first_ended.status, JobStatus::Completed);
    assert!(
        second_ended.started_at >= first_ended.finished_at,
        "one at a time"
    );
}

/// Two retries of one job sent at once (a double click, a request sent twice) make one
/// new job; the other is answered `409`, naming the retry that runs.
#[tokio::test]
async fn two_retries_sent_at_once_make_one_new_job() {
    let app = spawn_app().await;
    let failing = json!({"kind": "demo", "params": {"steps": 3, "stepMs": 1000, "failAt": 2}});
    let job = app.start(failing).await;
    app.wait_until_ended(&job).await;
    let url = app.url(&format!("/api/jobs/{}/retry", job.id));
    let (one, two) = tokio::join!(app.client.post(&url).send(), app.client.post(&url).send());
    let (one, two) = (one.unwrap(), two.unwrap());
    let (made, refused) = if one.status() == 202 {
        (one, two)
    } else {
        (two, one)
    };
    assert_eq!(made.status(), 202);
    assert_eq!(refused.status(), 409);
    let retry: Job = made.json().await.unwrap();
    let body: serde_json::Value = refused.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains(&retry.id.to_string()), "{message}");
    assert_eq!(app.list().await.len(), 2, "the job and one retry");
}
