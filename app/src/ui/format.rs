//! Human formatting of durations, job timing, amounts and rates.

use chrono::{DateTime, TimeDelta, Utc};

use crate::event::{Amount, Unit};
use crate::job::{Job, JobStatus, Processed, group_digits, tenths};
use crate::kind::format_bytes;

/// "40 ms", "2.4 s", "12 s", "3 min 05 s", "2 h 07 min".
pub(crate) fn duration(delta: TimeDelta) -> String {
    let millis = delta.num_milliseconds().max(0);
    let seconds = millis / 1000;
    match seconds {
        // A step can take a few milliseconds; "0.0 s" would say nothing.
        0 => format!("{millis} ms"),
        1..10 => format!("{} s", tenths(millis.unsigned_abs(), 1000)),
        10..60 => format!("{seconds} s"),
        60..3600 => format!("{} min {:02} s", seconds / 60, seconds % 60),
        _ => format!("{} h {:02} min", seconds / 3600, (seconds % 3600) / 60),
    }
}

/// The progress bar's fill for `percent`: "scaleX(0.42)". A transform, not a width, so
/// that the bar's animation runs without layout (and without float printing).
pub(crate) fn bar_scale(percent: u8) -> String {
    let percent = percent.min(100);
    format!("scaleX({}.{:02})", percent / 100, percent % 100)
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

/// "12,345 rows", "3.2 MB".
pub(crate) fn amount(amount: Amount) -> String {
    match amount.unit {
        Unit::Rows if amount.count == 1 => "1 row".to_owned(),
        Unit::Rows => format!("{} rows", group_digits(amount.count)),
        Unit::Bytes => format_bytes(amount.count),
    }
}

/// What a job processed, and how fast: "12,345 rows · 41,200 rows/s".
pub(crate) fn processed(processed: &Processed) -> String {
    let done = amount(processed.latest);
    match processed.per_second() {
        Some(rate) => {
            let per_second = Amount {
                count: rate.round() as u64,
                unit: processed.latest.unit,
            };
            let rate = match per_second.unit {
                Unit::Rows => format!("{} rows", group_digits(per_second.count)),
                Unit::Bytes => format_bytes(per_second.count),
            };
            format!("{done} · {rate}/s")
        }
        None => done,
    }
}

/// One step of an ended job's timeline: its name and how long it took.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StepSpan {
    pub step: String,
    pub took: TimeDelta,
}

/// What took how long: each step until the next began, the last until the job ended.
/// Empty until the job has ended.
pub(crate) fn timeline(job: &Job) -> Vec<StepSpan> {
    let Some(finished) = job.finished_at else {
        return Vec::new();
    };
    let ends = job
        .steps
        .iter()
        .skip(1)
        .map(|next| next.at)
        .chain([finished]);
    job.steps
        .iter()
        .zip(ends)
        .map(|(mark, end)| StepSpan {
            step: mark.step.clone(),
            took: end - mark.at,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{JobId, JobSpec, StepMark};

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(TimeDelta::milliseconds(42)), "42 ms");
        assert_eq!(duration(TimeDelta::milliseconds(999)), "999 ms");
        assert_eq!(duration(TimeDelta::milliseconds(2_420)), "2.4 s");
        assert_eq!(duration(TimeDelta::seconds(12)), "12 s");
        assert_eq!(duration(TimeDelta::seconds(185)), "3 min 05 s");
        assert_eq!(duration(TimeDelta::seconds(7620)), "2 h 07 min");
        assert_eq!(duration(TimeDelta::seconds(-3)), "0 ms");
        // Tenths round half up, with integers only.
        assert_eq!(duration(TimeDelta::milliseconds(1_950)), "2.0 s");
        assert_eq!(duration(TimeDelta::milliseconds(9_949)), "9.9 s");
    }

    #[test]
    fn the_bar_scales_to_the_percentage() {
        assert_eq!(bar_scale(0), "scaleX(0.00)");
        assert_eq!(bar_scale(7), "scaleX(0.07)");
        assert_eq!(bar_scale(42), "scaleX(0.42)");
        assert_eq!(bar_scale(100), "scaleX(1.00)");
        assert_eq!(bar_scale(250), "scaleX(1.00)");
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

    #[test]
    fn amounts_and_rates_read_naturally() {
        let at = DateTime::from_timestamp(1_764_000_000, 0).unwrap();
        let rows = |count| Amount {
            count,
            unit: Unit::Rows,
        };
        let mut seen = Processed {
            first: rows(1_000),
            first_at: at,
            latest: rows(1_000),
            latest_at: at,
        };
        // One report: a count, no rate yet.
        assert_eq!(processed(&seen), "1,000 rows");
        seen.latest = rows(83_500);
        seen.latest_at = at + TimeDelta::seconds(2);
        assert_eq!(processed(&seen), "83,500 rows · 41,250 rows/s");
        let bytes = Processed {
            first: Amount {
                count: 0,
                unit: Unit::Bytes,
            },
            first_at: at,
            latest: Amount {
                count: 25_000_000,
                unit: Unit::Bytes,
            },
            latest_at: at + TimeDelta::seconds(2),
        };
        assert_eq!(processed(&bytes), "25.0 MB · 12.5 MB/s");
        assert_eq!(amount(rows(1)), "1 row");
    }

    #[test]
    fn the_timeline_says_what_took_how_long() {
        let at = |ms: i64| DateTime::from_timestamp_millis(1_764_000_000_000 + ms).unwrap();
        let mut job = Job::new(
            JobId(uuid::Uuid::from_u128(1)),
            JobSpec::new("demo", serde_json::json!({})),
            "Demo".into(),
            at(0),
        );
        job.steps = vec![
            StepMark {
                step: "Starting".into(),
                at: at(100),
            },
            StepMark {
                step: "Step 1 of 2".into(),
                at: at(150),
            },
            StepMark {
                step: "Step 2 of 2".into(),
                at: at(1_150),
            },
        ];
        // Not ended: no timeline yet.
        assert_eq!(timeline(&job), vec![]);
        job.finished_at = Some(at(3_650));
        let took: Vec<(String, i64)> = timeline(&job)
            .into_iter()
            .map(|span| (span.step, span.took.num_milliseconds()))
            .collect();
        assert_eq!(
            took,
            vec![
                ("Starting".to_owned(), 50),
                ("Step 1 of 2".to_owned(), 1_000),
                ("Step 2 of 2".to_owned(), 2_500)
            ]
        );
    }
}
