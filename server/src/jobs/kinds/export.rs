//! `export`: writes orders as a CSV file (id, date, customer, region, amount).
//!
//! The source is the `orders` table once an import has loaded data into it, and
//! otherwise synthetic sample data: deterministic, so row `n` is the same in every
//! export and two exports of the same size are byte-identical. Either can be filtered by
//! region and date. The file is written on a blocking thread (constant memory), with
//! progress by rows written.

use std::path::Path;
use std::time::Duration;

use app::event::Unit;
use app::job::{FieldError, group_digits};
use app::kind::{Choice, Input, ParamField, parse_date};
use chrono::{Days, NaiveDate};
use futures::StreamExt;
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::jobs::kind::JobKind;
use crate::jobs::{JobContext, JobError, Outcome};
use crate::orders::{Filter, Order, OrderWriter};

pub(super) struct Export;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ExportParams {
    /// `auto` (the default): the table if it has orders, else sample data.
    #[serde(default)]
    source: Source,
    /// How many rows of sample data to make (before filtering).
    #[serde(default)]
    rows: Option<u64>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Source {
    #[default]
    Auto,
    Orders,
    Sample,
}

impl ExportParams {
    fn filter(&self) -> Filter {
        Filter {
            region: self.region.clone(),
            from: self.from.as_deref().and_then(parse_date),
            to: self.to.as_deref().and_then(parse_date),
        }
    }

    fn sample_rows(&self) -> u64 {
        self.rows.unwrap_or(DEFAULT_ROWS)
    }
}

/// The name of the export's result file.
const FILE_NAME: &str = "orders.csv";
/// Rows between two progress reports (and cancellation checks).
const REPORT_EVERY: u64 = 1_000;
/// Sample rows when `rows` is not given.
const DEFAULT_ROWS: u64 = 10_000;
/// Orders handed from the table to the writing thread at a time.
const CHUNK_ROWS: usize = 1_000;

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
    const NAME: &'static str = "export";
    const LABEL: &'static str = "Export orders";
    const DESCRIPTION: &'static str = "Writes orders as a CSV file to download: the imported orders if there are any, else sample data.";

    type Params = ExportParams;

    const TIME_LIMIT: Option<Duration> = Some(Duration::from_secs(30 * 60));

    /// An export writes to a temporary name and publishes only a complete file:
    /// running it again is harmless.
    const SAFE_TO_RERUN: bool = true;

    fn params() -> Vec<ParamField> {
        let optional = |name: &str, label: &str, hint: &str, input| ParamField {
            name: name.into(),
            label: label.into(),
            hint: Some(hint.into()),
            required: false,
            input,
        };
        vec![
            optional(
                "source",
                "Source",
                "automatic: the imported orders if there are any, else sample data",
                Input::Choice {
                    options: vec![
                        Choice::new("auto", "Automatic"),
                        Choice::new("orders", "Imported orders"),
                        Choice::new("sample", "Sample data"),
                    ],
                    default: Some("auto".into()),
                },
            ),
            optional(
                "rows",
                "Rows of sample data",
                "1 to 10,000,000",
                Input::Integer {
                    min: 1,
                    max: 10_000_000,
                    default: Some(DEFAULT_ROWS as i64),
                },
            ),
            optional(
                "region",
                "Region",
                "only orders of this region",
                Input::Text { max_chars: 200 },
            ),
            optional(
                "from",
                "From",
                "only orders on or after this date",
                Input::Date,
            ),
            optional(
                "to",
                "To",
                "only orders on or before this date",
                Input::Date,
            ),
        ]
    }

    fn validate(params: &ExportParams) -> Result<(), FieldError> {
        let filter = params.filter();
        match (filter.from, filter.to) {
            (Some(from), Some(to)) if to < from => Err(FieldError::new(
                "to",
                format!("must not be before from ({from})"),
            )),
            _ => Ok(()),
        }
    }

    fn title(params: &ExportParams) -> String {
        let mut title = match params.source {
            Source::Sample => format!("Export {} sample rows", group_digits(params.sample_rows())),
            Source::Orders => "Export imported orders".to_owned(),
            Source::Auto => "Export orders".to_owned(),
        };
        let filter = params.filter();
        let mut only = Vec::new();
        only.extend(filter.region.clone());
        match (filter.from, filter.to) {
            (Some(from), Some(to)) => only.push(format!("{from} to {to}")),
            (Some(from), None) => only.push(format!("from {from}")),
            (None, Some(to)) => only.push(format!("until {to}")),
            (None, None) => {}
        }
        if !only.is_empty() {
            title.push_str(&format!(" ({})", only.join(", ")));
        }
        title
    }

    async fn run(ctx: JobContext, params: ExportParams) -> Result<Outcome, JobError> {
        let artifact = ctx.artifact(FILE_NAME).await?;
        let path = artifact.partial_path().to_owned();
        let filter = params.filter();
        let from_table = match params.source {
            Source::Orders => true,
            Source::Sample => false,
            Source::Auto => ctx.orders().has_loaded_data().await.map_err(database)?,
        };
        if from_table {
            export_table(&ctx, &path, &filter).await?;
        } else {
            let rows = params.sample_rows();
            let writer_ctx = ctx.clone();
            tokio::task::spawn_blocking(move || write_sample(&writer_ctx, &path, rows, &filter))
                .await
                .map_err(|e| JobError::failed(format!("the export stopped unexpectedly: {e}")))??;
        }
        artifact.commit().await
    }
}

fn database(err: sqlx::Error) -> JobError {
    JobError::failed(format!("could not read the orders table: {err}"))
}

/// Streams the table's orders to a writing thread, a chunk at a time.
async fn export_table(ctx: &JobContext, path: &Path, filter: &Filter) -> Result<(), JobError> {
    ctx.step("Counting the matching orders");
    let total = ctx.orders().count(filter).await.map_err(database)?;
    ctx.log(format!(
        "Exporting {} imported orders to {FILE_NAME}",
        group_digits(total)
    ));
    let (chunks, mut incoming) = mpsc::channel::<Vec<Order>>(4);
    let writer_ctx = ctx.clone();
    let path = path.to_owned();
    let writer = tokio::task::spawn_blocking(move || {
        let mut file = ReportFile::create(&path)?;
        let mut written = 0u64;
        while let Some(chunk) = incoming.blocking_recv() {
            for order in &chunk {
                file.write(
                    order.id,
                    order.date,
                    &order.customer,
                    &order.region,
                    order.amount_cents,
                )?;
            }
            written += chunk.len() as u64;
            writer_ctx.check_cancelled()?;
            report(
                &writer_ctx,
                written,
                total.max(written),
                "imported orders",
                false,
            );
        }
        file.finish()?;
        report(&writer_ctx, written, written, "imported orders", true);
        Ok::<_, JobError>(())
    });
    let mut orders = ctx.orders().stream(filter).chunks(CHUNK_ROWS);
    while let Some(chunk) = orders.next().await {
        let chunk = chunk
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(database)?;
        if chunks.send(chunk).await.is_err() {
            break;
        }
    }
    drop(chunks);
    writer
        .await
        .map_err(|e| JobError::failed(format!("the export stopped unexpectedly: {e}")))?
}

/// Reports `written` of `total` rows.
/// The step names one phase ("Writing 1,000 rows of sample data"); the count moves
/// separately, so the step timeline shows phases, not every chunk.
fn report(ctx: &JobContext, written: u64, total: u64, what: &str, done: bool) {
    let percent = u8::try_from(written * 100 / total.max(1)).unwrap_or(100);
    ctx.processed(written, Unit::Rows);
    if done {
        let step = format!("Wrote {} rows of {what}", group_digits(written));
        ctx.log(format!("{step} to {FILE_NAME}"));
        ctx.progress(100, &step);
    } else {
        let step = format!("Writing {} rows of {what}", group_digits(total));
        ctx.progress(percent.min(99), &step);
    }
}

/// The CSV file being written, synced to disk when finished.
struct ReportFile {
    writer: OrderWriter<std::io::BufWriter<std::fs::File>>,
}

impl ReportFile {
    fn create(path: &Path) -> Result<Self, JobError> {
        let file = std::fs::File::create(path)
            .map_err(|e| JobError::io("could not create the report file", e))?;
        let writer = OrderWriter::new(std::io::BufWriter::with_capacity(256 * 1024, file))
            .map_err(|e| JobError::io("could not write the report", e))?;
        Ok(Self { writer })
    }

    fn write(
        &mut self,
        id: i64,
        date: NaiveDate,
        customer: &str,
        region: &str,
        cents: i64,
    ) -> Result<(), JobError> {
        self.writer
            .write(id, date, customer, region, cents)
            .map_err(|e| JobError::io("could not write the report", e))
    }

    fn finish(self) -> Result<(), JobError> {
        use std::io::Write as _;
        let mut buffered = self
            .writer
            .finish()
            .map_err(|e| JobError::io("could not write the report", e))?;
        buffered
            .flush()
            .map_err(|e| JobError::io("could not write the report", e))?;
        let file = buffered
            .into_inner()
            .map_err(|e| JobError::io("could not write the report", e.into_error()))?;
        file.sync_all()
            .map_err(|e| JobError::io("could not save the report to disk", e))
    }
}

/// One synthetic order.
struct SampleOrder {
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

fn order(id: u64) -> SampleOrder {
    let h = mix(id);
    let start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default();
    SampleOrder {
        date: start.checked_add_days(Days::new(h % 731)).unwrap_or(start),
        customer: CUSTOMERS[((h >> 12) % CUSTOMERS.len() as u64) as usize],
        region: REGIONS[((h >> 20) % REGIONS.len() as u64) as usize],
        amount: 100 + (h >> 28) % 999_900,
    }
}

fn write_sample(ctx: &JobContext, path: &Path, rows: u64, filter: &Filter) -> Result<(), JobError> {
    ctx.log(format!(
        "Generating {} rows of sample data (no orders imported yet)",
        group_digits(rows)
    ));
    let mut file = ReportFile::create(path)?;
    let mut written = 0u64;
    for id in 1..=rows {
        let order = order(id);
        if filter.accepts(order.date, order.region) {
            file.write(
                id as i64,
                order.date,
                order.customer,
                order.region,
                order.amount as i64,
            )?;
            written += 1;
        }
        if id.is_multiple_of(REPORT_EVERY) {
            ctx.check_cancelled()?;
            report(ctx, id, rows, "sample data", false);
        }
    }
    file.finish()?;
    report(ctx, written, written, "sample data", true);
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
