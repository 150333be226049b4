//! What every store must do, whatever holds its data: one suite of checks written
//! against [`Store`] alone, run for each backend by [`store_contract!`] in that backend's
//! tests, so that backends cannot drift apart.

use std::sync::Arc;

use app::event::{Cancelled, Completion, EventId, JobEvent, JobRemoved, StatusUpdate};
use app::job::{JobId, JobSpec, JobStatus};
use chrono::{SubsecRound, Utc};

use super::{
    Admission, ClaimLimits, ClaimedJob, NewJob, Recorded, Refusal, Store, StoreError, StoredEvent,
    TokenInfo, Write, Written, unexpected, write_one,
};
use crate::owner::Owner;

/// A store to check, and whatever must live as long as it (a temporary directory).
pub(crate) struct Opened {
    pub store: Arc<dyn Store>,
    pub _keep: Box<dyn std::any::Any + Send>,
}

/// One `#[tokio::test]` per check, for the backend that `$open` (an async fn returning
/// [`Opened`], a fresh empty store each call) opens.
macro_rules! store_contract {
    ($open:path) => {
        store_contract!(@checks $open;
            jobs_are_listed_newest_first_with_their_counts_and_pages,
            jobs_are_claimed_oldest_first_and_never_twice,
            an_ended_job_takes_no_more_events,
            events_resume_exactly_after_an_id_and_only_the_owners,
            admission_refuses_past_the_limits_and_stores_nothing,
            admission_counts_follow_each_job_through_its_life,
            a_mixed_group_is_written_as_if_one_by_one,
            tokens_name_their_owner_until_revoked,
            a_run_that_lost_its_claim_cannot_write,
            a_write_for_a_job_not_stored_is_gone_and_fails_no_other,
            a_job_has_one_retry_at_a_time,
            claims_take_turns_between_owners,
            claims_leave_an_owner_at_its_running_cap,
            a_claim_beside_new_jobs_keeps_the_running_cap,
            claims_leave_a_kind_at_its_running_cap,
        );
    };
    (@checks $open:path; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                let opened = $open().await;
                $crate::store::contract::$check(&*opened.store).await;
            }
        )*
    };
}
pub(crate) use store_contract;

/// A demo job for `owner`, admitted under `admission`.
pub(crate) fn new_job(owner: &Owner, admission: Admission) -> NewJob {
    NewJob {
        owner: owner.clone(),
        spec: JobSpec::new("demo", serde_json::json!({ "steps": 1, "stepMs": 0 })),
        title: "Demo".to_owned(),
        retry_of: None,
        admission,
    }
}

/// Stores a new job through the store's one door for writes, in a group of its own
/// (the event writer's way, without its bus); a refusal is [`StoreError::Refused`].
pub(crate) async fn create_job(
    store: &dyn Store,
    new: NewJob,
) -> Result<(app::job::Job, StoredEvent), StoreError> {
    match write_one(store, Write::Create(new)).await? {
        Written::Created(created) => Ok(*created?),
        other => Err(unexpected(&other)),
    }
}

/// Claims the oldest queued job, if there is one.
async fn claim_next(store: &dyn Store) -> Result<Option<ClaimedJob>, StoreError> {
    claim_within(store, u32::MAX).await
}

/// Claims the next queued job in turn, if there is one none of whose owner's
/// `owner_max_running` jobs run.
async fn claim_within(
    store: &dyn Store,
    owner_max_running: u32,
) -> Result<Option<ClaimedJob>, StoreError> {
    let claim = Write::Claim {
        max: 1,
        limits: ClaimLimits::none().owner_max_running(owner_max_running),
    };
    match write_one(store, claim).await? {
        Written::Claimed(claimed) => Ok(claimed.into_iter().next()),
        other => Err(unexpected(&other)),
    }
}

/// Records an event, if the job's state allows it.
async fn record(store: &dyn Store, event: JobEvent) -> Result<Recorded, StoreError> {
    match write_one(store, Write::Record(event)).await? {
        Written::Recorded(recorded) => Ok(recorded),
        other => Err(unexpected(&other)),
    }
}

async fn create(store: &dyn Store, owner: &Owner) -> JobId {
    let (job, _) = create_job(store, new_job(owner, Admission::UNLIMITED))
        .await
        .unwrap();
    job.id
}

fn progress(job_id: JobId, percent: u8) -> JobEvent {
    JobEvent::StatusUpdate(StatusUpdate {
        job_id,
        status: JobStatus::Running,
        progress: percent,
        step: Some(format!("{percent} %")),
        done: None,
        began: Vec::new(),
        at: Utc::now(),
    })
}

fn completion(job_id: JobId) -> JobEvent {
    JobEvent::Completion(Completion {
        job_id,
        url: None,
        at: Utc::now(),
    })
}

pub(crate) async fn jobs_are_listed_newest_first_with_their_counts_and_pages(store: &dyn Store) {
    let (alice, bob) = (Owner::new("t-alice"), Owner::new("t-bob"));
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(create(store, &alice).await);
    }
    let bobs = create(store, &bob).await;
    claim_next(store).await.unwrap();

    let first = store.jobs(&alice, 2, None).await.unwrap();
    let listed: Vec<JobId> = first.jobs.iter().map(|job| job.id).collect();
    assert_eq!(listed, [ids[4], ids[3]], "newest first");
    assert!(first.more);
    assert_eq!(
        first.counts.total(),
        5,
        "counts cover every job, not the page"
    );
    assert_eq!(first.counts.of(JobStatus::Running), 1);
    assert_eq!(first.counts.of(JobStatus::Queued), 4);
    assert!(first.last_event_id > EventId(0));

    let rest = store.jobs(&alice, 10, Some(ids[3])).await.unwrap();
    let listed: Vec<JobId> = rest.jobs.iter().map(|job| job.id).collect();
    assert_eq!(listed, [ids[2], ids[1], ids[0]]);
    assert!(!rest.more);

    // Another owner's jobs are neither listed nor a place to page from.
    let theirs = store.jobs(&bob, 10, None).await.unwrap();
    assert_eq!(theirs.jobs.len(), 1);
    assert_eq!(theirs.counts.total(), 1);
    assert!(
        store
            .jobs(&alice, 10, Some(bobs))
            .await
            .unwrap()
            .jobs
            .is_empty()
    );
    assert_eq!(store.job(&alice, bobs).await.unwrap(), None);
}

pub(crate) async fn jobs_are_claimed_oldest_first_and_never_twice(store: &dyn Store) {
    let owner = Owner::new("t-claims");
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(create(store, &owner).await);
    }
    let first = claim_next(store).await.unwrap().unwrap();
    assert_eq!(first.job.id, ids[0]);
    assert_eq!(first.job.status, JobStatus::Running);
    assert_eq!(first.job.attempt, 1);
    assert_eq!(first.event.job_id, ids[0]);

    // Claims racing each other: each job once, none left over.
    let claims = futures::future::join_all((0..8).map(|_| claim_next(store))).await;
    let mut claimed: Vec<JobId> = claims
        .into_iter()
        .filter_map(|claim| claim.unwrap().map(|claimed| claimed.job.id))
        .collect();
    claimed.sort();
    let mut expected = ids[1..].to_vec();
    expected.sort();
    assert_eq!(claimed, expected);
    assert!(claim_next(store).await.unwrap().is_none());
    assert_eq!(store.running_jobs().await.unwrap().len(), 6);
}

/// Workers are shared fairly: an owner with a backlog gets no more turns than an owner
/// who just arrived, and the jobs an owner already runs count as turns taken.
pub(crate) async fn claims_take_turns_between_owners(store: &dyn Store) {
    let (busy, other, late) = (
        Owner::new("t-backlog"),
        Owner::new("t-other"),
        Owner::new("t-late"),
    );
    let mut backlog = Vec::new();
    for _ in 0..5 {
        backlog.push(create(store, &busy).await);
    }
    let others = [create(store, &other).await, create(store, &other).await];
    // One turn each: the backlog's oldest, then the other owner's, though it came later.
    let claim = |store| async move { claim_next(store).await.unwrap().unwrap().job.id };
    assert_eq!(claim(store).await, backlog[0]);
    assert_eq!(claim(store).await, others[0]);
    // Both run one; the backlog's older job goes first, then the other's.
    assert_eq!(claim(store).await, backlog[1]);
    // A newcomer, with nothing running, goes before both (fewest turns taken first).
    let newcomer = create(store, &late).await;
    assert_eq!(claim(store).await, newcomer);
    assert_eq!(claim(store).await, others[1]);
    // Only the backlog is left: the rest of it, oldest first.
    for expected in &backlog[2..] {
        assert_eq!(claim(store).await, *expected);
    }
    assert!(claim_next(store).await.unwrap().is_none());
}

/// An owner with `owner_max_running` jobs running gets no more until one ends, though
/// workers are free; others' jobs are claimed meanwhile.
pub(crate) async fn claims_leave_an_owner_at_its_running_cap(store: &dyn Store) {
    let (busy, other) = (Owner::new("t-capped"), Owner::new("t-uncapped"));
    let mut backlog = Vec::new();
    for _ in 0..3 {
        backlog.push(create(store, &busy).await);
    }
    let others = create(store, &other).await;
    let claim = |store| async move { claim_within(store, 1).await.unwrap().map(|c| c.job.id) };
    assert_eq!(claim(store).await, Some(backlog[0]));
    assert_eq!(claim(store).await, Some(others));
    assert_eq!(
        claim(store).await,
        None,
        "the backlog's owner runs one already"
    );
    record(store, completion(backlog[0])).await.unwrap();
    assert_eq!(claim(store).await, Some(backlog[1]));
    assert_eq!(claim(store).await, None);
}

/// A claim written in the same group as new jobs keeps the cap too: the group's own new
/// jobs are not claimed past it (a burst of one owner's jobs took every free worker).
pub(crate) async fn a_claim_beside_new_jobs_keeps_the_running_cap(store: &dyn Store) {
    let (busy, other) = (Owner::new("t-bursting"), Owner::new("t-waiting"));
    let running = create(store, &busy).await;
    assert_eq!(
        claim_within(store, 1).await.unwrap().map(|c| c.job.id),
        Some(running)
    );
    let mut writes: Vec<Write> = (0..3)
        .map(|_| Write::Create(new_job(&busy, Admission::UNLIMITED)))
        .collect();
    writes.push(Write::Create(new_job(&other, Admission::UNLIMITED)));
    writes.push(Write::Claim {
        max: 4,
        limits: ClaimLimits::none().owner_max_running(1),
    });
    let written = store.write_all(&writes, Utc::now()).await.unwrap();
    let Some(Written::Claimed(claimed)) = written.last() else {
        panic!("unexpected outcomes: {written:?}");
    };
    // The other owner's job is claimed (in this group or the next claim); none of the
    // capped owner's.
    let mut owners: Vec<Owner> = claimed.iter().map(|c| c.event.owner.clone()).collect();
    while let Some(next) = claim_within(store, 1).await.unwrap() {
        owners.push(next.event.owner);
    }
    assert_eq!(owners, [other], "the capped owner got another worker");
}

/// A kind capped at one running job (on every node together) runs one at a time: its
/// next job waits though workers are free, others' jobs are claimed meanwhile, and a
/// claim in the same group as a new job of that kind does not take it either.
pub(crate) async fn claims_leave_a_kind_at_its_running_cap(store: &dyn Store) {
    let heavy = |owner: &str| NewJob {
        spec: JobSpec::new("heavy", serde_json::json!({})),
        ..new_job(&Owner::new(owner), Admission::UNLIMITED)
    };
    let limits = ClaimLimits {
        kind_max_running: Arc::new([("heavy".to_owned(), 1)].into_iter().collect()),
        ..ClaimLimits::none()
    };
    let claim = |store, limits: ClaimLimits| async move {
        match write_one(store, Write::Claim { max: 1, limits })
            .await
            .unwrap()
        {
            Written::Claimed(claimed) => claimed.into_iter().next().map(|c| c.job.id),
            other => panic!("{other:?}"),
        }
    };
    let (first, _) = create_job(store, heavy("t-heavy-a")).await.unwrap();
    let (second, _) = create_job(store, heavy("t-heavy-b")).await.unwrap();
    let light = create(store, &Owner::new("t-light")).await;
    assert_eq!(claim(store, limits.clone()).await, Some(first.id));
    assert_eq!(
        claim(store, limits.clone()).await,
        Some(light),
        "the other heavy job waits; the light one goes"
    );
    assert_eq!(claim(store, limits.clone()).await, None);
    // Beside a new heavy job, in one group: still none.
    let written = store
        .write_all(
            &[
                Write::Create(heavy("t-heavy-c")),
                Write::Claim {
                    max: 3,
                    limits: limits.clone(),
                },
            ],
            Utc::now(),
        )
        .await
        .unwrap();
    assert!(
        matches!(written.as_slice(), [Written::Created(Ok(_)), Written::Claimed(c)] if c.is_empty()),
        "{written:?}"
    );
    record(store, completion(first.id)).await.unwrap();
    assert_eq!(claim(store, limits.clone()).await, Some(second.id));
    assert_eq!(claim(store, limits.clone()).await, None);
    // An owner's job of another kind behind their waiting heavy ones is not hidden by
    // them (a claim ranks only the head of each owner's queue).
    let queue_owner = "t-heavy-queue";
    for _ in 0..3 {
        create_job(store, heavy(queue_owner)).await.unwrap();
    }
    let behind = create(store, &Owner::new(queue_owner)).await;
    assert_eq!(claim(store, limits).await, Some(behind));
}

pub(crate) async fn an_ended_job_takes_no_more_events(store: &dyn Store) {
    let owner = Owner::new("t-endings");
    let id = create(store, &owner).await;
    claim_next(store).await.unwrap().unwrap();
    let Recorded::Stored { event: moved, .. } = record(store, progress(id, 50)).await.unwrap()
    else {
        panic!("progress of a running job is stored");
    };
    let Recorded::Stored { event: ended, .. } = record(store, completion(id)).await.unwrap() else {
        panic!("the ending of a running job is stored");
    };
    assert!(moved.id < ended.id);
    for late in [progress(id, 60), completion(id)] {
        assert!(matches!(
            record(store, late).await.unwrap(),
            Recorded::Refused(_)
        ));
    }
    let job = store.job(&owner, id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(job.progress, 100);
    assert_eq!(job.last_event_id, ended.id);
    assert_eq!(store.last_event_id().await.unwrap(), ended.id);
    assert!(store.running_jobs().await.unwrap().is_empty());
}

pub(crate) async fn events_resume_exactly_after_an_id_and_only_the_owners(store: &dyn Store) {
    let (alice, bob) = (Owner::new("t-alice"), Owner::new("t-bob"));
    let one = create(store, &alice).await;
    let two = create(store, &alice).await;
    create(store, &bob).await;
    claim_next(store).await.unwrap();
    record(store, progress(one, 10)).await.unwrap();
    record(store, completion(one)).await.unwrap();

    let all = store
        .events_after(&alice, EventId(0), None, 100)
        .await
        .unwrap();
    let kinds: Vec<&str> = all.iter().map(|event| event.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "created",
            "created",
            "status-update",
            "status-update",
            "completion"
        ]
    );
    assert!(all.windows(2).all(|pair| pair[0].id < pair[1].id));
    assert!(all.iter().all(|event| event.owner == alice));

    // From any id on: exactly what came after it, in order.
    for (seen, event) in all.iter().enumerate() {
        let after = store
            .events_after(&alice, event.id, None, 100)
            .await
            .unwrap();
        assert_eq!(after, all[seen + 1..]);
    }
    let limited = store
        .events_after(&alice, EventId(0), None, 2)
        .await
        .unwrap();
    assert_eq!(limited, all[..2]);
    let of_two = store
        .events_after(&alice, EventId(0), Some(two), 100)
        .await
        .unwrap();
    assert_eq!(of_two.len(), 1);
    assert_eq!(of_two[0].job_id, two);
    // Bob's stream carries only his job's event, and none of Alice's job.
    assert_eq!(
        store
            .events_after(&bob, EventId(0), None, 100)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .events_after(&bob, EventId(0), Some(one), 100)
            .await
            .unwrap()
            .is_empty()
    );
}

pub(crate) async fn admission_refuses_past_the_limits_and_stores_nothing(store: &dyn Store) {
    let owner = Owner::new("t-limits");
    let one_in_flight = Admission {
        max_queued: u32::MAX,
        max_in_flight_per_owner: 1,
    };
    create_job(store, new_job(&owner, one_in_flight))
        .await
        .unwrap();
    let busy = create_job(store, new_job(&owner, one_in_flight)).await;
    assert!(matches!(
        busy,
        Err(StoreError::Refused(Refusal::OwnerBusy { max: 1 }))
    ));
    let one_queued = Admission {
        max_queued: 1,
        max_in_flight_per_owner: u32::MAX,
    };
    let full = create_job(store, new_job(&Owner::new("t-other"), one_queued)).await;
    assert!(matches!(
        full,
        Err(StoreError::Refused(Refusal::QueueFull { max: 1 }))
    ));
    assert_eq!(
        store.jobs(&owner, 10, None).await.unwrap().counts.total(),
        1
    );
    assert!(
        store
            .jobs(&Owner::new("t-other"), 10, None)
            .await
            .unwrap()
            .jobs
            .is_empty()
    );
    // One job in flight, so one `created` event: the refused ones wrote nothing.
    assert_eq!(store.last_event_id().await.unwrap(), EventId(1));
}

/// Admission sees every change of a job's state: a running job is still in flight, an
/// ended one is not; a claimed job leaves the queue, a job queued again is back in it,
/// a cancelled one is out of it; removing an ended job changes nothing.
pub(crate) async fn admission_counts_follow_each_job_through_its_life(store: &dyn Store) {
    let in_flight = |max| Admission {
        max_queued: u32::MAX,
        max_in_flight_per_owner: max,
    };
    let queued = |max| Admission {
        max_queued: max,
        max_in_flight_per_owner: u32::MAX,
    };
    let admit = |owner: &'static str, admission: Admission| async move {
        match create_job(store, new_job(&Owner::new(owner), admission)).await {
            Ok((job, _)) => Ok(job.id),
            Err(StoreError::Refused(refusal)) => Err(refusal),
            Err(err) => panic!("unexpected error {err}"),
        }
    };
    let record = |event: JobEvent| async move {
        assert!(matches!(
            record(store, event).await.unwrap(),
            Recorded::Stored { .. }
        ));
    };
    let busy = Err(Refusal::OwnerBusy { max: 2 });
    let full = Err(Refusal::QueueFull { max: 3 });

    let a1 = admit("t-a", in_flight(2)).await.unwrap();
    let a2 = admit("t-a", in_flight(2)).await.unwrap();
    assert_eq!(admit("t-a", in_flight(2)).await, busy);
    // Running is still in flight; ended is not.
    assert_eq!(claim_next(store).await.unwrap().unwrap().job.id, a1);
    assert_eq!(admit("t-a", in_flight(2)).await, busy);
    record(completion(a1)).await;
    let a3 = admit("t-a", in_flight(2)).await.unwrap();
    // Queued: a2, a3. Another owner meets the cluster's queue.
    admit("t-b", queued(3)).await.unwrap();
    assert_eq!(admit("t-b", queued(3)).await, full);
    // A cancelled job leaves the queue.
    record(JobEvent::Cancelled(Cancelled {
        job_id: a2,
        step: None,
        at: Utc::now(),
    }))
    .await;
    admit("t-b", queued(3)).await.unwrap();
    assert_eq!(admit("t-c", queued(3)).await, full);
    // A claimed job leaves it; queued again, it is back.
    assert_eq!(claim_next(store).await.unwrap().unwrap().job.id, a3);
    admit("t-c", queued(3)).await.unwrap();
    record(JobEvent::StatusUpdate(StatusUpdate {
        job_id: a3,
        status: JobStatus::Queued,
        progress: 0,
        step: Some("queued again".to_owned()),
        done: None,
        began: Vec::new(),
        at: Utc::now(),
    }))
    .await;
    assert_eq!(
        admit("t-c", queued(4)).await,
        Err(Refusal::QueueFull { max: 4 })
    );
    // Removing the ended a1 changes no count: t-a has a3 in flight, room for one more.
    record(JobEvent::Removed(JobRemoved {
        job_id: a1,
        at: Utc::now(),
    }))
    .await;
    admit("t-a", in_flight(2)).await.unwrap();
    assert_eq!(admit("t-a", in_flight(2)).await, busy);
}

/// One group with every kind of write: each sees what the ones before it did, and
/// what the group wrote is what the tables hold afterwards.
pub(crate) async fn a_mixed_group_is_written_as_if_one_by_one(store: &dyn Store) {
    let owner = Owner::new("t-group");
    let (first, _) = create_job(store, new_job(&owner, Admission::UNLIMITED))
        .await
        .unwrap();
    let at = Utc::now();
    let progress = |job_id, progress| {
        Write::Record(JobEvent::StatusUpdate(StatusUpdate {
            job_id,
            status: JobStatus::Running,
            progress,
            step: Some(format!("{progress} %")),
            done: None,
            began: Vec::new(),
            at,
        }))
    };
    let two_in_flight = Admission {
        max_queued: u32::MAX,
        max_in_flight_per_owner: 2,
    };
    let written = store
        .write_all(
            &[
                Write::Create(new_job(&owner, two_in_flight)),
                // The owner now has two jobs in flight: the third is refused.
                Write::Create(new_job(&owner, two_in_flight)),
                Write::Claim {
                    max: 5,
                    limits: ClaimLimits::none(),
                },
                progress(first.id, 40),
                progress(first.id, 80),
                Write::Record(JobEvent::Completion(Completion {
                    job_id: first.id,
                    url: None,
                    at,
                })),
                // After its ending, a job takes no more progress.
                progress(first.id, 90),
            ],
            Utc::now(),
        )
        .await
        .unwrap();
    let [
        Written::Created(Ok(second)),
        Written::Created(Err(Refusal::OwnerBusy { max: 2 })),
        Written::Claimed(claimed),
        Written::Recorded(Recorded::Stored { event: p40, .. }),
        Written::Recorded(Recorded::Stored { event: p80, .. }),
        Written::Recorded(Recorded::Stored { event: done, .. }),
        Written::Recorded(Recorded::Refused(_)),
    ] = written.as_slice()
    else {
        panic!("unexpected outcomes: {written:?}");
    };
    let second = &second.0;
    // Both queued jobs were claimed, oldest first, including the one made in this group.
    let claimed: Vec<JobId> = claimed.iter().map(|c| c.job.id).collect();
    assert_eq!(claimed, [first.id, second.id]);
    assert!(p40.id < p80.id && p80.id < done.id);
    let first = store.job(&owner, first.id).await.unwrap().unwrap();
    assert_eq!(first.status, JobStatus::Completed);
    assert_eq!(first.progress, 100, "a completed job shows 100 %");
    assert_eq!(first.last_event_id, done.id);
    let second = store.job(&owner, second.id).await.unwrap().unwrap();
    assert_eq!(second.status, JobStatus::Running);
    let log = store
        .events_after(&owner, EventId(0), None, 100)
        .await
        .unwrap();
    let kinds: Vec<&str> = log.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "created",
            "created",
            "status-update",
            "status-update",
            "status-update",
            "status-update",
            "completion"
        ]
    );
    assert!(log.windows(2).all(|w| w[0].id < w[1].id));
}

pub(crate) async fn tokens_name_their_owner_until_revoked(store: &dyn Store) {
    let info = TokenInfo {
        id: "tok-1".to_owned(),
        owner: Owner::new("t-tokens"),
        label: "ci".to_owned(),
        // Stores keep times to the microsecond (PostgreSQL's precision).
        created_at: Utc::now().trunc_subsecs(6),
        revoked_at: None,
    };
    let hash = [7_u8; 32];
    store.add_token(&info, &hash).await.unwrap();
    assert_eq!(
        store.token_owner(&hash).await.unwrap(),
        Some(info.owner.clone())
    );
    assert_eq!(store.token_owner(&[8_u8; 32]).await.unwrap(), None);
    assert_eq!(store.tokens().await.unwrap(), std::slice::from_ref(&info));
    assert!(store.revoke_token("tok-1", Utc::now()).await.unwrap());
    assert!(!store.revoke_token("tok-1", Utc::now()).await.unwrap());
    assert_eq!(store.token_owner(&hash).await.unwrap(), None);
    assert!(store.tokens().await.unwrap()[0].revoked_at.is_some());
}

/// Fencing: each claim's attempt number is the token of the run it started. Once the job
/// is queued again and claimed by another run, the old run's progress and ending are
/// refused; the new run's are taken.
pub(crate) async fn a_run_that_lost_its_claim_cannot_write(store: &dyn Store) {
    let owner = Owner::new("t-fencing");
    let id = create(store, &owner).await;
    let first = claim_next(store).await.unwrap().unwrap();
    assert_eq!(first.job.attempt, 1);
    let report = |event: JobEvent, attempt: u32| async move {
        match write_one(store, Write::Report { event, attempt })
            .await
            .unwrap()
        {
            Written::Recorded(recorded) => recorded,
            other => panic!("unexpected outcome {other:?}"),
        }
    };
    assert!(matches!(
        report(progress(id, 30), 1).await,
        Recorded::Stored { .. }
    ));
    // Its node is lost: the job is queued again, and another node claims it.
    let requeue = JobEvent::StatusUpdate(StatusUpdate {
        job_id: id,
        status: JobStatus::Queued,
        progress: 0,
        step: Some("queued again".to_owned()),
        done: None,
        began: Vec::new(),
        at: Utc::now(),
    });
    assert!(matches!(
        record(store, requeue).await.unwrap(),
        Recorded::Stored { .. }
    ));
    // Not running at all: the old run is refused even before the new claim.
    assert!(matches!(
        report(progress(id, 40), 1).await,
        Recorded::Refused(_)
    ));
    let second = claim_next(store).await.unwrap().unwrap();
    assert_eq!(second.job.attempt, 2);
    assert!(matches!(
        report(progress(id, 50), 1).await,
        Recorded::Refused(_)
    ));
    assert!(matches!(
        report(completion(id), 1).await,
        Recorded::Refused(_)
    ));
    assert!(matches!(
        report(progress(id, 60), 2).await,
        Recorded::Stored { .. }
    ));
    assert!(matches!(
        report(completion(id), 2).await,
        Recorded::Stored { .. }
    ));
    let job = store.job(&owner, id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(job.attempt, 2);
}

/// A write for a job the store does not hold (removed by another node's sweep a moment
/// before, or never stored) is answered as gone, and fails none of the writes grouped
/// with it.
pub(crate) async fn a_write_for_a_job_not_stored_is_gone_and_fails_no_other(store: &dyn Store) {
    let owner = Owner::new("t-gone");
    let removed = create(store, &owner).await;
    let other = create(store, &owner).await;
    claim_next(store).await.unwrap().unwrap();
    record(store, completion(removed)).await.unwrap();
    let remove = || {
        Write::Record(JobEvent::Removed(JobRemoved {
            job_id: removed,
            at: Utc::now(),
        }))
    };
    let written = store
        .write_all(
            &[
                remove(),
                // A second sweep's removal of the same job, and a job never stored.
                remove(),
                Write::Record(completion(JobId(uuid::Uuid::new_v4()))),
                Write::Record(JobEvent::Cancelled(Cancelled {
                    job_id: other,
                    step: None,
                    at: Utc::now(),
                })),
            ],
            Utc::now(),
        )
        .await
        .unwrap();
    assert!(
        matches!(
            written.as_slice(),
            [
                Written::Recorded(Recorded::Stored { .. }),
                Written::Recorded(Recorded::Gone),
                Written::Recorded(Recorded::Gone),
                Written::Recorded(Recorded::Stored { .. }),
            ]
        ),
        "{written:?}"
    );
    assert!(store.was_removed(&owner, removed).await.unwrap());
    let other = store.job(&owner, other).await.unwrap().unwrap();
    assert_eq!(other.status, JobStatus::Cancelled);
}

/// Two retries of one job sent together (a double click, a request sent twice, two
/// nodes) make one new job; once that retry has ended, the job may be retried again.
pub(crate) async fn a_job_has_one_retry_at_a_time(store: &dyn Store) {
    let owner = Owner::new("t-retries");
    let old = create(store, &owner).await;
    let cancel = |job_id| {
        Write::Record(JobEvent::Cancelled(Cancelled {
            job_id,
            step: None,
            at: Utc::now(),
        }))
    };
    store.write_all(&[cancel(old)], Utc::now()).await.unwrap();
    let retry = || {
        Write::Create(NewJob {
            retry_of: Some(old),
            ..new_job(&owner, Admission::UNLIMITED)
        })
    };
    let written = store
        .write_all(&[retry(), retry()], Utc::now())
        .await
        .unwrap();
    let [Written::Created(Ok(first)), Written::Created(Err(refused))] = written.as_slice() else {
        panic!("unexpected outcomes: {written:?}");
    };
    let first = first.0.id;
    assert_eq!(*refused, Refusal::AlreadyRetried { retry: first });
    // In a group of its own, as from another request or node: the same.
    let again = create_job(
        store,
        NewJob {
            retry_of: Some(old),
            ..new_job(&owner, Admission::UNLIMITED)
        },
    )
    .await;
    assert!(matches!(
        again,
        Err(StoreError::Refused(Refusal::AlreadyRetried { retry })) if retry == first
    ));
    // The retry ended (cancelled): the job may be retried again.
    store.write_all(&[cancel(first)], Utc::now()).await.unwrap();
    let (second, _) = create_job(
        store,
        NewJob {
            retry_of: Some(old),
            ..new_job(&owner, Admission::UNLIMITED)
        },
    )
    .await
    .unwrap();
    assert_eq!(second.retry_of, Some(old));
    assert_eq!(
        store.jobs(&owner, 10, None).await.unwrap().counts.total(),
        3
    );
}
