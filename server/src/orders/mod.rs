//! Orders: the data that `import` loads and `export` writes.
//!
//! - [`file`]: the CSV format (id, date, customer, region, amount): reading rows with
//!   errors that name the row and column, and writing them back byte for byte.
//! - [`table`]: the `orders` table: an import is loaded batch by batch and becomes
//!   visible all at once, or not at all.

pub mod file;
pub mod table;

use chrono::NaiveDate;

pub use file::{OrderReader, OrderWriter, RowError};
pub use table::{Filter, OrdersTable};

/// One order, as a row of the file and of the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    /// A positive whole number, unique in the table.
    pub id: i64,
    pub date: NaiveDate,
    pub customer: String,
    pub region: String,
    /// In cents; may be negative (a refund).
    pub amount_cents: i64,
}
