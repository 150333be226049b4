//! The job state machine and the wire format of jobs and events.

use chrono::{TimeZone, Utc};

use chrono::DateTime;
use uuid::Uuid;

use super::*;
use crate::event::{Cancelled, Completion, Failure, JobCreated, JobLog, StatusUpdate, Unit};
use crate::job::{JobSpec, group_digits};

fn at(second: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, second).unwrap()
}

fn job() -> Job {
    let id = JobId(Uuid::from_u128(7));
    Job::new(
        id,
        JobSpec::new("demo", serde_json::json!({ "steps": 4, "stepMs": 10 })),
        "Demo: 4 steps".into(),
        at(0),
    )
}

fn update(job: &Job, progress: u8, second: u32) -> JobEvent {
    JobEvent::StatusUpdate(StatusUpdate {
        job_id: job.id,
        status: JobStatus::Running,
        progress,
        step: Some(format!("at {progress}")),
        done: None,
        began: Vec::new(),
        at: at(second),
    })
}

#[test]
fn a_job_runs_and_completes() {
    let mut job = job();
    assert_eq!(job.apply(EventId(2), &update(&job, 0, 1)), Ok(true));
    assert_eq!(job.status, JobStatus::Running);
    assert_eq!(job.started_at, Some(at(1)));
    assert_eq!(job.apply(EventId(3), &update(&job, 50, 2)), Ok(true));
    assert_eq!((job.progress, job.step.as_deref()), (50, Some("at 50")));
    // The start time is the first running event's, not a later one's.
    assert_eq!(job.started_at, Some(at(1)));
    let done = JobEvent::Completion(Completion {
        job_id: job.id,
        url: Some("/downloads/x/orders.csv".into()),
        at: at(3),
    });
    assert_eq!(job.apply(EventId(4), &done), Ok(true));
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(job.progress, 100);
    assert_eq!(job.finished_at, Some(at(3)));
    assert_eq!(job.result_url.as_deref(), Some("/downloads/x/orders.csv"));
    assert_eq!(job.last_event_id, EventId(4));
}

#[test]
fn a_job_ends_exactly_once() {
    let mut job = job();
    job.apply(EventId(2), &update(&job, 10, 1)).unwrap();
    let failure = JobEvent::Failure(Failure {
        job_id: job.id,
        error: "disk full".into(),
        step: Some("Writing".into()),
        at: at(2),
    });
    job.apply(EventId(3), &failure).unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.error.as_deref(), Some("disk full"));
    assert_eq!(job.step.as_deref(), Some("Writing"));

    // Nothing moves an ended job: not progress, not another ending.
    let before = job.clone();
    let cancel = JobEvent::Cancelled(Cancelled {
        job_id: job.id,
        step: None,
        at: at(4),
    });
    for (n, event) in [update(&job, 90, 3), cancel].iter().enumerate() {
        let err = job.apply(EventId(10 + n as i64), event).unwrap_err();
        assert_eq!(err.from, JobStatus::Failed);
    }
    assert_eq!(job, before);
}

#[test]
fn a_queued_job_can_be_cancelled_but_not_completed() {
    let mut job = job();
    let done = JobEvent::Completion(Completion {
        job_id: job.id,
        url: None,
        at: at(1),
    });
    assert!(job.apply(EventId(2), &done).is_err());
    assert_eq!(job.status, JobStatus::Queued);
    let cancel = JobEvent::Cancelled(Cancelled {
        job_id: job.id,
        step: None,
        at: at(2),
    });
    assert_eq!(job.apply(EventId(3), &cancel), Ok(true));
    assert_eq!(job.status, JobStatus::Cancelled);
}

#[test]
fn a_requeued_job_counts_its_attempts() {
    let mut job = job();
    job.apply(EventId(2), &update(&job, 30, 1)).unwrap();
    assert_eq!(job.attempt, 1);
    job.apply(EventId(3), &requeue(&job, 2)).unwrap();
    assert_eq!((job.status, job.progress), (JobStatus::Queued, 0));
    job.apply(EventId(4), &update(&job, 0, 3)).unwrap();
    assert_eq!(job.attempt, 2);
    assert_eq!(job.started_at, Some(at(3)), "the new run's start");
}

/// A restart puts the running job back in the queue.
fn requeue(job: &Job, second: u32) -> JobEvent {
    JobEvent::StatusUpdate(StatusUpdate {
        job_id: job.id,
        status: JobStatus::Queued,
        progress: 0,
        step: Some("queued to run again".into()),
        done: None,
        began: Vec::new(),
        at: at(second),
    })
}

fn at_step(job: &Job, step: &str, done: Option<Amount>, second: u32) -> JobEvent {
    JobEvent::StatusUpdate(StatusUpdate {
        job_id: job.id,
        status: JobStatus::Running,
        progress: 10,
        step: Some(step.into()),
        done,
        began: Vec::new(),
        at: at(second),
    })
}

fn log(job: &Job, lines: &[&str], second: u32) -> JobEvent {
    JobEvent::Log(JobLog {
        job_id: job.id,
        lines: lines.iter().map(|line| (*line).to_owned()).collect(),
        at: at(second),
    })
}

#[test]
fn a_job_keeps_the_newest_lines_of_its_log_while_it_runs() {
    let mut job = job();
    // Nothing logs before the job runs.
    assert!(
        job.apply(EventId(2), &log(&job, &["too early"], 1))
            .is_err()
    );
    job.apply(EventId(3), &update(&job, 0, 1)).unwrap();
    let first: Vec<String> = (1..=15).map(|n| format!("line {n}")).collect();
    let first: Vec<&str> = first.iter().map(String::as_str).collect();
    job.apply(EventId(4), &log(&job, &first, 2)).unwrap();
    assert_eq!((job.log.len(), job.log_skipped), (15, 0));
    let more: Vec<String> = (16..=30).map(|n| format!("line {n}")).collect();
    let more: Vec<&str> = more.iter().map(String::as_str).collect();
    job.apply(EventId(5), &log(&job, &more, 3)).unwrap();
    assert_eq!(job.log.len(), LOG_TAIL);
    assert_eq!(job.log_skipped, 10);
    assert_eq!(job.log.first().map(String::as_str), Some("line 11"));
    assert_eq!(job.log.last().map(String::as_str), Some("line 30"));
    // A log event keeps the job running; after the end the log is closed.
    assert_eq!(job.status, JobStatus::Running);
    let done = JobEvent::Completion(Completion {
        job_id: job.id,
        url: None,
        at: at(4),
    });
    job.apply(EventId(6), &done).unwrap();
    assert!(job.apply(EventId(7), &log(&job, &["too late"], 5)).is_err());
    assert_eq!(job.log.last().map(String::as_str), Some("line 30"));
}

#[test]
fn a_job_marks_when_each_step_began_and_merges_the_oldest_past_the_limit() {
    let mut job = job();
    let start = JobEvent::StatusUpdate(StatusUpdate {
        job_id: job.id,
        status: JobStatus::Running,
        progress: 0,
        step: None,
        done: None,
        began: Vec::new(),
        at: at(1),
    });
    job.apply(EventId(2), &start).unwrap();
    job.apply(EventId(3), &at_step(&job, "Reading", None, 2))
        .unwrap();
    // The same step again is no new mark.
    job.apply(EventId(4), &at_step(&job, "Reading", None, 3))
        .unwrap();
    job.apply(EventId(5), &at_step(&job, "Writing", None, 4))
        .unwrap();
    let marks: Vec<(&str, DateTime<Utc>)> =
        job.steps.iter().map(|m| (m.step.as_str(), m.at)).collect();
    assert_eq!(
        marks,
        vec![("Starting", at(1)), ("Reading", at(2)), ("Writing", at(4))]
    );
    let mut id = 6;
    for n in 0..MAX_STEPS {
        job.apply(EventId(id), &at_step(&job, &format!("Part {n}"), None, 5))
            .unwrap();
        id += 1;
    }
    assert_eq!(job.steps.len(), MAX_STEPS);
    // The first mark still begins at the start, now standing for the merged steps.
    assert_eq!(job.steps[0].step, EARLIER_STEPS);
    assert_eq!(job.steps[0].at, at(1));
    assert_eq!(
        job.steps.last().unwrap().step,
        format!("Part {}", MAX_STEPS - 1)
    );

    // A new attempt starts a new timeline.
    job.apply(EventId(id), &requeue(&job, 6)).unwrap();
    job.apply(EventId(id + 1), &update(&job, 0, 7)).unwrap();
    assert_eq!(job.steps.len(), 1);
    assert_eq!(job.steps[0].at, at(7));
}

#[test]
fn steps_begun_between_two_updates_are_marked_when_they_began() {
    let mut job = job();
    job.apply(EventId(2), &update(&job, 0, 1)).unwrap();
    let mark = |step: &str, second| StepMark {
        step: step.to_owned(),
        at: at(second),
    };
    // One update after a job raced through three steps: all three are on the timeline,
    // each at the time it began, not at the update's time.
    let JobEvent::StatusUpdate(mut coalesced) = at_step(&job, "Compressing", None, 9) else {
        unreachable!()
    };
    coalesced.began = vec![
        mark("Reading", 2),
        mark("Writing", 3),
        mark("Compressing", 5),
    ];
    job.apply(EventId(3), &JobEvent::StatusUpdate(coalesced))
        .unwrap();
    let marks: Vec<(&str, DateTime<Utc>)> =
        job.steps.iter().map(|m| (m.step.as_str(), m.at)).collect();
    assert_eq!(
        marks,
        vec![
            ("at 0", at(1)),
            ("Reading", at(2)),
            ("Writing", at(3)),
            ("Compressing", at(5)),
        ]
    );
    assert_eq!(job.step.as_deref(), Some("Compressing"));
}

#[test]
fn a_job_counts_what_it_processed_and_the_rate_follows() {
    let mut job = job();
    let rows = |count| {
        Some(Amount {
            count,
            unit: Unit::Rows,
        })
    };
    job.apply(EventId(2), &update(&job, 0, 1)).unwrap();
    assert_eq!(job.processed, None);
    job.apply(EventId(3), &at_step(&job, "Writing", rows(1_000), 2))
        .unwrap();
    assert_eq!(job.processed.unwrap().per_second(), None, "one report");
    // A report without a count keeps the count.
    job.apply(EventId(4), &at_step(&job, "Writing", None, 3))
        .unwrap();
    job.apply(EventId(5), &at_step(&job, "Writing", rows(41_000), 4))
        .unwrap();
    let processed = job.processed.unwrap();
    assert_eq!(processed.latest.count, 41_000);
    assert_eq!(processed.per_second(), Some(20_000.0));
    // Counting something else starts the rate afresh.
    let bytes = Amount {
        count: 10,
        unit: Unit::Bytes,
    };
    job.apply(EventId(6), &at_step(&job, "Compressing", Some(bytes), 5))
        .unwrap();
    assert_eq!(job.processed.unwrap().first, bytes);
    assert_eq!(job.processed.unwrap().per_second(), None);
}

#[test]
fn events_already_seen_are_ignored() {
    let mut job = job();
    job.apply(EventId(5), &update(&job, 40, 1)).unwrap();
    assert_eq!(job.apply(EventId(5), &update(&job, 60, 2)), Ok(false));
    assert_eq!(job.apply(EventId(4), &update(&job, 60, 2)), Ok(false));
    assert_eq!(job.progress, 40);
}

#[test]
fn every_transition_follows_the_table() {
    use JobStatus::*;
    for from in JobStatus::ALL {
        for to in JobStatus::ALL {
            let allowed = from.can_become(to);
            if from.is_terminal() {
                assert!(!allowed, "{from} -> {to}");
            }
            if to == Queued {
                // Only an interrupted run goes back to the queue.
                assert_eq!(allowed, from == Running, "{from} -> queued");
            }
        }
    }
    assert!(Queued.can_become(Running));
    assert!(Running.can_become(Running));
    assert!(!Queued.can_become(Completed));
}

#[test]
fn wire_names_round_trip() {
    for status in JobStatus::ALL {
        assert_eq!(status.as_str().parse::<JobStatus>(), Ok(status));
        assert_eq!(
            serde_json::to_string(&status).unwrap(),
            format!("\"{}\"", status.as_str())
        );
    }
    for kind in crate::event::EventKind::ALL {
        assert_eq!(kind.as_str().parse::<crate::event::EventKind>(), Ok(kind));
    }
}

#[test]
fn the_job_json_is_camel_case_with_kind_and_params() {
    let job = job();
    let json = serde_json::to_value(&job).unwrap();
    assert_eq!(json["kind"], "demo");
    assert_eq!(json["params"]["stepMs"], 10);
    assert_eq!(json["title"], "Demo: 4 steps");
    assert_eq!(json["status"], "queued");
    assert_eq!(json["resultUrl"], serde_json::Value::Null);
    assert_eq!(json["links"]["self"], format!("/api/jobs/{}", job.id));
    let back: Job = serde_json::from_value(json).unwrap();
    assert_eq!(back, job);
}

#[test]
fn events_decode_from_their_name_and_data() {
    let job = job();
    let events = [
        JobEvent::Created(Box::new(JobCreated {
            job_id: job.id,
            job: job.clone(),
        })),
        update(&job, 45, 1),
        JobEvent::Failure(Failure {
            job_id: job.id,
            error: "line one\nline two".into(),
            step: None,
            at: at(2),
        }),
    ];
    for event in events {
        let back = JobEvent::decode(event.kind().as_str(), &event.to_json()).unwrap();
        assert_eq!(back, event);
    }
    assert!(JobEvent::decode("nonsense", "{}").is_err());
    assert!(JobEvent::decode("completion", "{").is_err());
    let json: serde_json::Value = serde_json::from_str(&update(&job, 45, 1).to_json()).unwrap();
    assert_eq!(json["jobId"], job.id.to_string());
    assert_eq!(json["progress"], 45);
}

#[test]
fn event_ids_accept_only_what_the_server_sends() {
    assert_eq!("0".parse::<EventId>(), Ok(EventId(0)));
    assert_eq!("41".parse::<EventId>(), Ok(EventId(41)));
    assert_eq!(
        "9223372036854775807".parse::<EventId>(),
        Ok(EventId(i64::MAX))
    );
    for bad in [
        "",
        "-1",
        "+1",
        " 1",
        "1.0",
        "abc",
        "9223372036854775808",
        "99999999999999999999999",
    ] {
        assert!(bad.parse::<EventId>().is_err(), "{bad:?}");
    }
}

#[test]
fn digits_are_grouped_by_thousands() {
    assert_eq!(group_digits(0), "0");
    assert_eq!(group_digits(999), "999");
    assert_eq!(group_digits(1000), "1,000");
}
