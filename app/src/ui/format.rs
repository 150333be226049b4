//! Human formatting of durations and job timing.

use chrono::{DateTime, TimeDelta, Utc};

use crate::job::{Job, JobStatus};

/// "0.4 s", "12 s", "3 min 05 s", "2 h 07 min".
pub(crate) fn duration(delta: TimeDelta) -> String {
    let millis = delta.num_milliseconds().max(0);
    let seconds = millis / 1000;
    match seconds {
        0..10 => format!("{:.1} s", millis as f64 / 1000.0),
        10..60 => format!("{seconds} s"),
        60..3600 => format!("{} min {:02} s", seconds / 60, seconds % 60),
        _ => format!("{} h {:02} min", seconds / 3600, (seconds % 3600) / 60),
    }
}

/// What a job's timing line says: how long it has waited, run, or took.
pub(crate) fn timing(job: &Job, now: DateTime<Utc>) -> String {
    match (job.status, job.started_at, job.finished_at) {
        (JobStatus::Queued, _, _) => format!("queued for {}", duration(now - job.created_at)),
        (JobStatus::Running, Some(started), _) => match eta(job.progress, now - started) {
            Some(left) => format!(
                "running for {} · about {} left",
                duration(now - started),
                duration(left)
            ),
            None => format!("running for {}", duration(now - started)),
        },
        (_, Some(started), Some(finished)) => format!("took {}", duration(finished - started)),
        (_, None, Some(finished)) => format!(
            "ended after {} in the queue",
            duration(finished - job.created_at)
        ),
        _ => String::new(),
    }
}

/// How long a job that reached `progress` % in `elapsed` still needs at the rate it has
/// kept so far; `None` until it has made enough progress for a rate to mean anything.
pub(crate) fn eta(progress: u8, elapsed: TimeDelta) -> Option<TimeDelta> {
    let progress = i64::from(progress.min(100));
    let elapsed = elapsed.num_milliseconds();
    if progress < 2 || progress == 100 || elapsed < 1000 {
        return None;
    }
    Some(TimeDelta::milliseconds(
        elapsed * (100 - progress) / progress,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(TimeDelta::milliseconds(420)), "0.4 s");
        assert_eq!(duration(TimeDelta::seconds(12)), "12 s");
        assert_eq!(duration(TimeDelta::seconds(185)), "3 min 05 s");
        assert_eq!(duration(TimeDelta::seconds(7620)), "2 h 07 min");
        assert_eq!(duration(TimeDelta::seconds(-3)), "0.0 s");
    }

    #[test]
    fn the_eta_follows_the_rate_so_far() {
        assert_eq!(
            eta(25, TimeDelta::seconds(10)),
            Some(TimeDelta::seconds(30))
        );
        assert_eq!(
            eta(50, TimeDelta::seconds(90)),
            Some(TimeDelta::seconds(90))
        );
        // Too early to tell, or nothing left.
        assert_eq!(eta(1, TimeDelta::seconds(10)), None);
        assert_eq!(eta(40, TimeDelta::milliseconds(500)), None);
        assert_eq!(eta(100, TimeDelta::seconds(10)), None);
    }
}
