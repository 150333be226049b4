//! `export`: writes a CSV report of `rows` orders (id, date, customer, region, amount).
//!
//! The data is synthetic but deterministic: row `n` is the same in every export, so two
//! exports of the same size are byte-identical. The file is streamed to disk from a
//! blocking thread (constant memory), with progress by rows written.

use std::io::Write;
use std::time::Duration;

use app::job::{ExportParams, group_digits};
use chrono::{Days, NaiveDate};

use super::kind::JobKind;
use super::{JobContext, JobError, Outcome};

pub(super) struct Export;

/// The name of the export's result file.
const FILE_NAME: &str = "orders.csv";
/// Rows between two progress reports (and cancellation checks).
const REPORT_EVERY: u64 = 1_000;

const REGIONS: [&str; 5] = ["North", "South", "East", "West", "Central"];
const CUSTOMERS: [&str; 12] = [
    "Acme Corp",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark Industries",
    "Wayne Enterprises",
    "Hooli",
    "Vandelay Industries",
    "Soylent",
    "Tyrell Corp",
    "Cyberdyne",
    "Wonka Industries",
];

impl JobKind for Export {
    type Params = ExportParams;

    const TIME_LIMIT: Option<Duration> = Some(Duration::from_secs(30 * 60));

    /// An export writes to a temporary name and publishes only a complete file, and the
    /// same rows every time: running it again is harmless.
    const SAFE_TO_RERUN: bool = true;

    async fn run(ctx: JobContext, params: ExportParams) -> Result<Outcome, JobError> {
        let artifact = ctx.artifact(FILE_NAME).await?;
        let path = artifact.partial_path().to_owned();
        let writer_ctx = ctx.clone();
        tokio::task::spawn_blocking(move || write_report(&writer_ctx, &path, params.rows))
            .await
            .map_err(|e| JobError::failed(format!("the export stopped unexpectedly: {e}")))??;
        artifact.commit().await
    }
}

/// One synthetic order.
struct Order {
    id: u64,
    date: NaiveDate,
    customer: &'static str,
    region: &'static str,
    /// In cents.
    amount: u64,
}

/// splitmix64: a fixed, well-mixed hash, so row `n` never changes between versions.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn order(id: u64) -> Order {
    let h = mix(id);
    let start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default();
    Order {
        id,
        date: start.checked_add_days(Days::new(h % 731)).unwrap_or(start),
        customer: CUSTOMERS[((h >> 12) % CUSTOMERS.len() as u64) as usize],
        region: REGIONS[((h >> 20) % REGIONS.len() as u64) as usize],
        amount: 100 + (h >> 28) % 999_900,
    }
}

fn write_report(ctx: &JobContext, path: &std::path::Path, rows: u64) -> Result<(), JobError> {
    let io = |what: &'static str| move |e: std::io::Error| JobError::io(what, e);
    let file = std::fs::File::create(path).map_err(io("could not create the report file"))?;
    let mut csv = csv::Writer::from_writer(std::io::BufWriter::with_capacity(256 * 1024, file));
    let csv_error = |e: csv::Error| match e.into_kind() {
        csv::ErrorKind::Io(e) => JobError::io("could not write the report", e),
        other => JobError::failed(format!("could not write the report: {other:?}")),
    };
    csv.write_record(["id", "date", "customer", "region", "amount"])
        .map_err(csv_error)?;
    let total = group_digits(rows);
    let mut date = String::with_capacity(10);
    let mut amount = String::with_capacity(12);
    for id in 1..=rows {
        let order = order(id);
        date.clear();
        amount.clear();
        use std::fmt::Write as _;
        let _ = write!(date, "{}", order.date.format("%Y-%m-%d"));
        let _ = write!(amount, "{}.{:02}", order.amount / 100, order.amount % 100);
        csv.write_record([
            order.id.to_string().as_str(),
            &date,
            order.customer,
            order.region,
            &amount,
        ])
        .map_err(csv_error)?;
        if id.is_multiple_of(REPORT_EVERY) || id == rows {
            ctx.check_cancelled()?;
            let percent = u8::try_from(id * 100 / rows).unwrap_or(100);
            let step = if id == rows {
                format!("Wrote {total} rows")
            } else {
                format!("Writing rows: {} of {total}", group_digits(id))
            };
            ctx.progress(percent, &step);
        }
    }
    let mut buffered = csv.into_inner().map_err(|e| {
        JobError::io(
            "could not write the report",
            std::io::Error::other(e.to_string()),
        )
    })?;
    buffered.flush().map_err(io("could not write the report"))?;
    let file = buffered
        .into_inner()
        .map_err(|e| JobError::io("could not write the report", e.into_error()))?;
    file.sync_all()
        .map_err(io("could not save the report to disk"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_deterministic_and_plausible() {
        let a = order(42);
        let b = order(42);
        assert_eq!(
            (a.date, a.customer, a.region, a.amount),
            (b.date, b.customer, b.region, b.amount)
        );
        for id in 1..2000 {
            let o = order(id);
            assert!(o.amount >= 100 && o.amount < 1_000_000, "{}", o.amount);
            assert!(o.date.format("%Y").to_string().starts_with("202"));
        }
        // Not all the same.
        assert_ne!(order(1).amount, order(2).amount);
    }
}
