//! The `orders` table. An import writes its rows in batches (one transaction each), all
//! marked with the import's job id; they count as data only once the import is marked
//! `loaded`, in one last small transaction. An import that fails, is cancelled or is cut
//! short by a crash is deleted whole (`ON DELETE CASCADE` from `imports`), so readers
//! never see part of one.
//!
//! The table lives with the jobs: in SQLite, or in the shared PostgreSQL database. Each
//! statement is written once, with `$N` parameters (both databases take them), and
//! compiled for each database by [`with_pool!`], as the store's own are.

use std::collections::HashMap;

use app::job::JobId;
use chrono::{NaiveDate, Utc};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use sqlx::QueryBuilder;

use super::{Order, RowError};
use crate::store::Database;
use crate::store::database::with_pool;

/// Rows per `INSERT` statement (7 values each, within SQLite's 32,766 variables).
const ROWS_PER_STATEMENT: usize = 1_000;
/// Rows removed per transaction when an import is abandoned.
const DELETE_CHUNK: i64 = 10_000;

/// Which loaded orders to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub region: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl Filter {
    /// Whether an order of this date and region passes (for orders not in the table).
    pub fn accepts(&self, date: NaiveDate, region: &str) -> bool {
        self.region.as_ref().is_none_or(|r| r == region)
            && self.from.is_none_or(|from| date >= from)
            && self.to.is_none_or(|to| date <= to)
    }
}

/// Access to the orders table (in the same database as the jobs).
#[derive(Clone, Debug)]
pub struct OrdersTable {
    db: Database,
}

/// The loaded orders with the filter's conditions (`$1` region, `$2` from, `$3` to).
macro_rules! loaded_orders {
    ($columns:literal) => {
        concat!(
            "SELECT ",
            $columns,
            " FROM orders o JOIN imports i ON i.job_id = o.import_id AND i.state = 'loaded' \
             WHERE (CAST($1 AS TEXT) IS NULL OR o.region = $1) \
             AND (CAST($2 AS TEXT) IS NULL OR o.date >= $2) \
             AND (CAST($3 AS TEXT) IS NULL OR o.date <= $3)"
        )
    };
}

impl OrdersTable {
    /// The table in the store's database; its writes take their turn with the store's.
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// This writer's turn (SQLite: one writer at a time, in arrival order).
    async fn turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        self.db.turn().await
    }

    /// How a writing transaction begins (SQLite: with the write lock taken at once).
    fn begin(&self) -> &'static str {
        self.db.begin_write()
    }

    /// Starts loading the import of job `job`, first removing whatever an earlier,
    /// interrupted attempt of the same job left.
    pub async fn begin_import(&self, job: JobId) -> Result<(), sqlx::Error> {
        let _turn = self.turn().await;
        with_pool!(self.db.db(), pool => {
            let mut tx = pool.begin_with(self.begin()).await?;
            sqlx::query("DELETE FROM imports WHERE job_id = $1")
                .bind(job.to_string())
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO imports (job_id, state, started_at) VALUES ($1, 'loading', $2)",
            )
            .bind(job.to_string())
            .bind(Utc::now())
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        })
    }

    /// Adds a batch of `(row number, order)` to the import, in one transaction. An id
    /// that the batch repeats, or that is already in the table, refuses the whole batch
    /// with the first such row. (Long for its two statements, built for each chunk.)
    pub async fn insert_batch(
        &self,
        job: JobId,
        batch: &[(u64, Order)],
    ) -> Result<Result<(), RowError>, sqlx::Error> {
        let mut first_row: HashMap<i64, u64> = HashMap::with_capacity(batch.len());
        for (row, order) in batch {
            if let Some(first) = first_row.insert(order.id, *row) {
                return Ok(Err(duplicate(*row, order.id, &format!("row {first}"))));
            }
        }
        let _turn = self.turn().await;
        with_pool!(self.db.db(), pool => {
        let mut tx = pool.begin_with(self.begin()).await?;
        for chunk in batch.chunks(ROWS_PER_STATEMENT) {
            let mut existing =
                QueryBuilder::new("SELECT o.id, o.source_row, o.import_id = ");
            existing.push_bind(job.to_string());
            existing.push(
                ", i.state FROM orders o JOIN imports i ON i.job_id = o.import_id WHERE o.id IN (",
            );
            let mut ids = existing.separated(", ");
            for (_, order) in chunk {
                ids.push_bind(order.id);
            }
            existing.push(")");
            let found: HashMap<i64, (i64, bool, String)> = existing
                .build_query_as::<(i64, i64, bool, String)>()
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .map(|(id, source_row, same_import, state)| (id, (source_row, same_import, state)))
                .collect();
            // The first row of the chunk, in file order, whose id is taken.
            if let Some((row, order, (source_row, same_import, state))) = chunk
                .iter()
                .find_map(|(row, order)| Some((row, order, found.get(&order.id)?)))
            {
                let first = if *same_import {
                    format!("row {source_row}")
                } else if state == "loaded" {
                    "an earlier import".to_owned()
                } else {
                    "an import that is running".to_owned()
                };
                return Ok(Err(duplicate(*row, order.id, &first)));
            }
            let mut insert = QueryBuilder::new(
                "INSERT INTO orders (id, date, customer, region, amount_cents, import_id, source_row) ",
            );
            insert.push_values(chunk, |mut values, (row, order)| {
                values
                    .push_bind(order.id)
                    .push_bind(order.date.format("%Y-%m-%d").to_string())
                    .push_bind(order.customer.clone())
                    .push_bind(order.region.clone())
                    .push_bind(order.amount_cents)
                    .push_bind(job.to_string())
                    .push_bind(i64::try_from(*row).unwrap_or(i64::MAX));
            });
            insert.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(Ok(()))
        })
    }

    /// Makes the import's rows part of the table, all at once, if its job is still
    /// running: `false` if the job ended meanwhile (a cancel), and nothing was loaded.
    pub async fn finish_import(&self, job: JobId, rows: u64) -> Result<bool, sqlx::Error> {
        let _turn = self.turn().await;
        let loaded = with_pool!(self.db.db(), pool => {
            sqlx::query(
                "UPDATE imports SET state = 'loaded', rows = $1, loaded_at = $2 WHERE job_id = $3 \
                 AND EXISTS (SELECT 1 FROM jobs WHERE id = $3 AND status = 'running')",
            )
            .bind(i64::try_from(rows).unwrap_or(i64::MAX))
            .bind(Utc::now())
            .bind(job.to_string())
            .execute(pool)
            .await
            .map(|done| done.rows_affected() > 0)
        })?;
        Ok(loaded)
    }

    /// Takes back a loaded import whose job did not complete after all (a cancel was
    /// recorded between its load and its completion): its rows leave the table at once,
    /// then are removed.
    pub async fn withdraw_import(&self, job: JobId) -> Result<(), sqlx::Error> {
        {
            let _turn = self.turn().await;
            with_pool!(self.db.db(), pool => {
                sqlx::query("UPDATE imports SET state = 'loading' WHERE job_id = $1 AND state = 'loaded'")
                    .bind(job.to_string())
                    .execute(pool)
                    .await
                    .map(drop)
            })?;
        }
        self.abandon_import(job).await
    }

    /// Removes an import that did not finish, with every row it wrote. The rows go in
    /// small transactions, so other writers (other jobs' events) wait for none of them
    /// long; they are invisible all the while, as the import is not loaded.
    pub async fn abandon_import(&self, job: JobId) -> Result<(), sqlx::Error> {
        let state: Option<String> = with_pool!(self.db.db(), pool => {
            sqlx::query_scalar("SELECT state FROM imports WHERE job_id = $1")
                .bind(job.to_string())
                .fetch_optional(pool)
                .await
        })?;
        if state.as_deref() != Some("loading") {
            return Ok(());
        }
        loop {
            let _turn = self.turn().await;
            let deleted = with_pool!(self.db.db(), pool => {
                sqlx::query(
                    "DELETE FROM orders WHERE id IN \
                     (SELECT id FROM orders WHERE import_id = $1 LIMIT $2)",
                )
                .bind(job.to_string())
                .bind(DELETE_CHUNK)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
            })?;
            if deleted == 0 {
                break;
            }
        }
        let _turn = self.turn().await;
        with_pool!(self.db.db(), pool => {
            sqlx::query("DELETE FROM imports WHERE job_id = $1 AND state = 'loading'")
                .bind(job.to_string())
                .execute(pool)
                .await
                .map(drop)
        })?;
        Ok(())
    }

    /// Removes every import that did not finish: at start-up, when none can be running.
    pub async fn abandon_unfinished(&self) -> Result<u64, sqlx::Error> {
        with_pool!(self.db.db(), pool => {
            sqlx::query("DELETE FROM imports WHERE state = 'loading'")
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })
    }

    /// Whether the table holds any loaded order.
    pub async fn has_loaded_data(&self) -> Result<bool, sqlx::Error> {
        with_pool!(self.db.db(), pool => {
            sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM orders o JOIN imports i \
                 ON i.job_id = o.import_id AND i.state = 'loaded')",
            )
            .fetch_one(pool)
            .await
        })
    }

    /// How many loaded orders match `filter`.
    pub async fn count(&self, filter: &Filter) -> Result<u64, sqlx::Error> {
        let count: i64 = with_pool!(self.db.db(), pool => {
            sqlx::query_scalar(loaded_orders!("COUNT(*)"))
                .bind(filter.region.as_deref())
                .bind(filter.from.map(|d| d.format("%Y-%m-%d").to_string()))
                .bind(filter.to.map(|d| d.format("%Y-%m-%d").to_string()))
                .fetch_one(pool)
                .await
        })?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// The loaded orders that match `filter`, by id, read as they are consumed.
    pub fn stream<'a>(&'a self, filter: &Filter) -> BoxStream<'a, Result<Order, sqlx::Error>> {
        let region = filter.region.clone();
        let from = filter.from.map(|d| d.format("%Y-%m-%d").to_string());
        let to = filter.to.map(|d| d.format("%Y-%m-%d").to_string());
        let rows = with_pool!(self.db.db(), pool => {
            sqlx::query_as::<_, (i64, String, String, String, i64)>(concat!(
                loaded_orders!("o.id, o.date, o.customer, o.region, o.amount_cents"),
                " ORDER BY o.id"
            ))
            .bind(region)
            .bind(from)
            .bind(to)
            .fetch(pool)
        });
        rows.and_then(|(id, date, customer, region, amount_cents)| async move {
            let date = app::kind::parse_date(&date).ok_or_else(|| {
                sqlx::Error::Decode(format!("order {id} has the date {date:?}").into())
            })?;
            Ok(Order {
                id,
                date,
                customer,
                region,
                amount_cents,
            })
        })
        .boxed()
    }
}

fn duplicate(row: u64, id: i64, first: &str) -> RowError {
    RowError {
        row,
        column: Some("id"),
        message: format!("order {id} is a duplicate (it is already in {first})"),
    }
}
