//! `import`: loads an uploaded CSV file of orders into the `orders` table.
//!
//! A blocking thread reads and checks the file row by row (constant memory) and hands
//! batches to the loader, which writes each batch in one transaction. The first bad row
//! (see [`crate::orders::file`]) or duplicate id fails the job with its row and column,
//! and the import is removed whole: the table keeps nothing of it. Progress is by bytes
//! of the file, the step counts rows.

use std::path::PathBuf;

use app::job::{JobId, group_digits};
use app::event::Unit;
use app::kind::{Input, ParamField, Upload, format_bytes};
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::jobs::kind::JobKind;
use crate::jobs::{JobContext, JobError, Outcome};
use crate::orders::file::ReadError;
use crate::orders::{Order, OrderReader, OrdersTable};

pub(super) struct Import;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ImportParams {
    file: Upload,
}

/// Rows per batch (one transaction each).
const BATCH_ROWS: usize = 10_000;

/// The content types a CSV file arrives with: browsers say `text/csv` (or, on Windows,
/// Excel's type), curl says `application/octet-stream`.
const CONTENT_TYPES: [&str; 6] = [
    "text/csv",
    "application/csv",
    "text/plain",
    "application/vnd.ms-excel",
    "application/octet-stream",
    "text/comma-separated-values",
];

impl JobKind for Import {
    const NAME: &'static str = "import";
    const LABEL: &'static str = "Import orders";
    const DESCRIPTION: &'static str = "Loads a CSV file of orders (id, date, customer, region, amount) into the orders table: every row or none.";

    type Params = ImportParams;

    /// A rerun first removes what the interrupted run loaded, then starts over.
    const SAFE_TO_RERUN: bool = true;

    /// An import loads the whole orders table at disk speed: one at a time, on all nodes
    /// together, so the others' jobs keep the rest of the workers.
    const MAX_RUNNING: Option<u32> = Some(1);

    fn params() -> Vec<ParamField> {
        vec![ParamField {
            name: "file".into(),
            label: "CSV file".into(),
            hint: Some("columns id, date, customer, region, amount; the header is row 1".into()),
            required: true,
            input: Input::File {
                extensions: vec![".csv".into(), ".txt".into()],
                content_types: CONTENT_TYPES.map(String::from).to_vec(),
                max_bytes: 0,
            },
        }]
    }

    fn title(params: &ImportParams) -> String {
        format!(
            "Import {} ({})",
            params.file.name,
            format_bytes(params.file.bytes)
        )
    }

    async fn run(ctx: JobContext, params: ImportParams) -> Result<Outcome, JobError> {
        ctx.progress(0, &format!("Reading {}", params.file.name));
        ctx.log(format!(
            "Importing {} ({})",
            params.file.name,
            format_bytes(params.file.bytes)
        ));
        let table = ctx.orders().clone();
        let job = ctx.job_id();
        table.begin_import(job).await.map_err(database)?;
        let unfinished = Unfinished {
            table: table.clone(),
            job,
            armed: true,
        };
        match load(
            &ctx,
            &table,
            ctx.upload_path(&params.file),
            params.file.bytes,
        )
        .await
        {
            Ok(rows) => {
                let outcome = match make_visible(&table, job, rows).await {
                    Ok(outcome) => outcome,
                    Err(err) => {
                        unfinished.abandon().await;
                        return Err(err);
                    }
                };
                unfinished.disarm();
                let step = format!("Imported {} orders", group_digits(rows));
                ctx.log(step.clone());
                ctx.progress(100, &step);
                Ok(outcome)
            }
            Err(err) => {
                unfinished.abandon().await;
                Err(err)
            }
        }
    }
}

/// Makes a loaded import part of the table, if its job still runs: a cancel recorded
/// first wins (`Cancelled`, nothing made visible). The outcome takes the import back
/// should a cancel be recorded after this, before the job's completion.
pub(in crate::jobs) async fn make_visible(
    table: &OrdersTable,
    job: JobId,
    rows: u64,
) -> Result<Outcome, JobError> {
    if !table.finish_import(job, rows).await.map_err(database)? {
        return Err(JobError::Cancelled);
    }
    let table = table.clone();
    Ok(Outcome::nothing().undone_by(async move {
        if let Err(err) = table.withdraw_import(job).await {
            tracing::error!(error = %err, "could not take back an import whose job was cancelled");
        }
    }))
}

/// What the reading thread hands the loader.
enum Batch {
    Orders {
        orders: Vec<(u64, Order)>,
        bytes_read: u64,
    },
    Failed(JobError),
}

/// Reads, checks and loads the file; returns how many orders it loaded.
async fn load(
    ctx: &JobContext,
    table: &OrdersTable,
    path: PathBuf,
    total: u64,
) -> Result<u64, JobError> {
    let (batches, mut incoming) = mpsc::channel(2);
    let reader_ctx = ctx.clone();
    let reader = tokio::task::spawn_blocking(move || read_batches(&reader_ctx, &path, &batches));
    let step = format!("Loading orders from {}", format_bytes(total));
    let mut rows = 0u64;
    let mut logged_tenth = 0;
    while let Some(batch) = incoming.recv().await {
        let (orders, bytes_read) = match batch {
            Batch::Orders { orders, bytes_read } => (orders, bytes_read),
            Batch::Failed(err) => return Err(err),
        };
        ctx.check_cancelled()?;
        if let Err(duplicate) = table
            .insert_batch(ctx.job_id(), &orders)
            .await
            .map_err(database)?
        {
            return Err(JobError::failed(duplicate.to_string()));
        }
        rows += orders.len() as u64;
        let percent = u8::try_from(bytes_read * 100 / total.max(1))
            .unwrap_or(100)
            .min(99);
        ctx.processed(rows, Unit::Rows);
        ctx.progress(percent, &step);
        // A line for each tenth of the file read.
        if percent / 10 > logged_tenth {
            logged_tenth = percent / 10;
            ctx.log(format!(
                "Loaded {} orders ({} read)",
                group_digits(rows),
                format_bytes(bytes_read.min(total))
            ));
        }
    }
    reader
        .await
        .map_err(|e| JobError::failed(format!("reading the file stopped unexpectedly: {e}")))?;
    // The reader also stops early when the job is cancelled: that is no complete file.
    ctx.check_cancelled()?;
    Ok(rows)
}

/// Runs on a blocking thread: reads the file into batches until its end, the first bad
/// row, or cancellation.
fn read_batches(ctx: &JobContext, path: &std::path::Path, batches: &mpsc::Sender<Batch>) {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(err) => {
            let _ = batches.blocking_send(Batch::Failed(JobError::io(
                "could not open the uploaded file",
                err,
            )));
            return;
        }
    };
    let mut reader = OrderReader::new(std::io::BufReader::with_capacity(256 * 1024, file));
    let mut orders = Vec::with_capacity(BATCH_ROWS);
    loop {
        let next = match reader.next_order() {
            Ok(next) => next,
            Err(ReadError::Row(err)) => {
                let _ = batches.blocking_send(Batch::Failed(JobError::failed(err.to_string())));
                return;
            }
            Err(ReadError::Io(err)) => {
                let _ = batches.blocking_send(Batch::Failed(JobError::io(
                    "could not read the uploaded file",
                    err,
                )));
                return;
            }
        };
        let done = next.is_none();
        orders.extend(next);
        if done || orders.len() == BATCH_ROWS {
            if ctx.is_cancelled() {
                return;
            }
            let batch = Batch::Orders {
                orders: std::mem::replace(&mut orders, Vec::with_capacity(BATCH_ROWS)),
                bytes_read: reader.bytes_read(),
            };
            if batches.blocking_send(batch).is_err() || done {
                return;
            }
        }
    }
}

fn database(err: sqlx::Error) -> JobError {
    JobError::failed(format!("the database refused the import: {err}"))
}

/// An import that has not finished: removed unless it is disarmed, also when the job's
/// code is stopped (cancelled, timed out) in the middle of an `await`, even that of
/// making it visible (which may have been done when the code was stopped).
struct Unfinished {
    table: OrdersTable,
    job: JobId,
    armed: bool,
}

impl Unfinished {
    fn disarm(mut self) {
        self.armed = false;
    }

    /// Removes the import now, before the job's ending is recorded.
    async fn abandon(mut self) {
        self.armed = false;
        remove(self.table.clone(), self.job).await;
    }
}

impl Drop for Unfinished {
    fn drop(&mut self) {
        if self.armed
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(remove(self.table.clone(), self.job));
        }
    }
}

async fn remove(table: OrdersTable, job: JobId) {
    if let Err(err) = table.withdraw_import(job).await {
        tracing::error!(error = %err, "could not remove an unfinished import; the next start-up will");
    }
}
