//! The orders CSV file: a header `id,date,customer,region,amount`, then one order per
//! row. Reading checks every value and names the row and column of the first bad one;
//! writing produces exactly what reading accepts, so export → import → export gives the
//! same bytes.
//!
//! Rows are numbered as a spreadsheet numbers them: the header is row 1, the first
//! order row 2 (blank lines are skipped and not counted). Line ends may be LF or CRLF, a
//! UTF-8 byte order mark is skipped, fields may be quoted (`"Smith, Jones & Co"`).

use std::fmt;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::NaiveDate;

use super::Order;

/// The columns, in order.
pub const COLUMNS: [&str; 5] = ["id", "date", "customer", "region", "amount"];

/// The longest customer or region name, in characters.
const MAX_TEXT_CHARS: usize = 200;
/// The largest amount, in cents (ten trillion).
const MAX_AMOUNT_CENTS: i64 = 1_000_000_000_000_000;
/// How much of a bad value an error message quotes.
const QUOTE_CHARS: usize = 40;
/// The longest record (a row, with any line breaks inside quotes), in bytes. An order
/// takes well under 1 KiB; a longer one is almost always a quote that is never closed,
/// and would otherwise be held whole in memory.
pub const MAX_RECORD_BYTES: u64 = 64 * 1024;
/// How far the CSV reader reads ahead of the record it is parsing.
const READ_AHEAD: usize = 8 * 1024;

/// A row that is not an order: where, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct RowError {
    pub row: u64,
    pub column: Option<&'static str>,
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(column) => write!(f, "row {}, column {column}: {}", self.row, self.message),
            None => write!(f, "row {}: {}", self.row, self.message),
        }
    }
}

impl RowError {
    fn at(row: u64, column: &'static str, message: impl Into<String>) -> Self {
        Self {
            row,
            column: Some(column),
            message: message.into(),
        }
    }
}

/// Why reading stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Row(#[from] RowError),
    #[error("could not read the file: {0}")]
    Io(#[from] io::Error),
}

/// Reads orders from a CSV file, one at a time, in constant memory.
pub struct OrderReader<R: Read> {
    csv: csv::Reader<Counting<R>>,
    record: csv::ByteRecord,
    bytes_read: Arc<AtomicU64>,
    /// Where reading stops (the current record's start plus the longest record).
    read_limit: Arc<AtomicU64>,
    header_seen: bool,
}

impl<R: Read> OrderReader<R> {
    pub fn new(reader: R) -> Self {
        let bytes_read = Arc::new(AtomicU64::new(0));
        let read_limit = Arc::new(AtomicU64::new(MAX_RECORD_BYTES + READ_AHEAD as u64));
        let csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(READ_AHEAD)
            .from_reader(Counting {
                inner: reader,
                count: bytes_read.clone(),
                limit: read_limit.clone(),
            });
        Self {
            csv,
            record: csv::ByteRecord::new(),
            bytes_read,
            read_limit,
            header_seen: false,
        }
    }

    /// How many bytes of the file have been read so far (a little ahead of the rows
    /// returned: reading is buffered).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Relaxed)
    }

    /// The next order with its row number; `None` after the last one. The header is
    /// checked first: a file without one is refused at row 1.
    pub fn next_order(&mut self) -> Result<Option<(u64, Order)>, ReadError> {
        loop {
            let start = self.csv.position().byte();
            self.read_limit.store(
                start + MAX_RECORD_BYTES + READ_AHEAD as u64,
                Ordering::Relaxed,
            );
            let read = self.csv.read_byte_record(&mut self.record).map_err(csv_io);
            let more = read.map_err(|err| match err.get_ref() {
                Some(inner) if inner.is::<RecordTooLong>() => ReadError::Row(RowError {
                    row: self.csv.position().record() + 1,
                    column: None,
                    message: format!(
                        "is longer than {} KiB (is a quoted field never closed?)",
                        MAX_RECORD_BYTES / 1024
                    ),
                }),
                _ => ReadError::Io(err),
            })?;
            if !more {
                return if self.header_seen {
                    Ok(None)
                } else {
                    Err(RowError {
                        row: 1,
                        column: None,
                        message: format!(
                            "the file is empty; expected the header {}",
                            COLUMNS.join(",")
                        ),
                    }
                    .into())
                };
            }
            let row = self.record.position().map_or(0, |p| p.record() + 1);
            if is_blank(&self.record) {
                continue;
            }
            if !self.header_seen {
                check_header(row, &self.record)?;
                self.header_seen = true;
                continue;
            }
            return Ok(Some((row, parse_order(row, &self.record)?)));
        }
    }
}

/// An I/O error from the csv reader (with `flexible` and byte records it reports
/// nothing else).
fn csv_io(err: csv::Error) -> io::Error {
    match err.into_kind() {
        csv::ErrorKind::Io(err) => err,
        other => io::Error::other(format!("{other:?}")),
    }
}

fn is_blank(record: &csv::ByteRecord) -> bool {
    record.len() == 1 && record[0].is_empty()
}

fn check_header(row: u64, record: &csv::ByteRecord) -> Result<(), RowError> {
    let found: Vec<String> = record
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let field = if i == 0 {
                field.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(field)
            } else {
                field
            };
            String::from_utf8_lossy(field).trim().to_ascii_lowercase()
        })
        .collect();
    if found.iter().map(String::as_str).eq(COLUMNS) {
        Ok(())
    } else {
        Err(RowError {
            row,
            column: None,
            message: format!(
                "expected the header {}, found {}",
                COLUMNS.join(","),
                quote(&found.join(","))
            ),
        })
    }
}

/// One record as an order, or the first column that is wrong and why. (Long for its five
/// columns, each checked in turn with its own message.)
fn parse_order(row: u64, record: &csv::ByteRecord) -> Result<Order, RowError> {
    if record.len() != COLUMNS.len() {
        return Err(RowError {
            row,
            column: None,
            message: format!(
                "expected {} columns ({}), found {}",
                COLUMNS.len(),
                COLUMNS.join(", "),
                record.len()
            ),
        });
    }
    let text = |i: usize| {
        std::str::from_utf8(&record[i])
            .map_err(|_| RowError::at(row, COLUMNS[i], "is not valid UTF-8 text"))
    };
    let id = text(0)?.trim();
    let id = match id.parse::<i64>() {
        Ok(id) if id > 0 => id,
        Ok(_) => {
            return Err(RowError::at(
                row,
                "id",
                format!("{} must be a positive whole number", quote(id)),
            ));
        }
        Err(_) => {
            return Err(RowError::at(
                row,
                "id",
                format!("{} is not a whole number", quote(id)),
            ));
        }
    };
    let date = text(1)?.trim();
    let date = app::kind::parse_date(date).ok_or_else(|| {
        RowError::at(
            row,
            "date",
            format!("{} is not a date (YYYY-MM-DD)", quote(date)),
        )
    })?;
    let name = |i: usize| -> Result<String, RowError> {
        let value = text(i)?;
        if value.trim().is_empty() {
            Err(RowError::at(row, COLUMNS[i], "is empty"))
        } else if value.contains('\0') {
            // PostgreSQL keeps no NUL in text: refused here, on both stores alike.
            Err(RowError::at(row, COLUMNS[i], "contains a NUL character"))
        } else if value.chars().count() > MAX_TEXT_CHARS {
            Err(RowError::at(
                row,
                COLUMNS[i],
                format!("is longer than {MAX_TEXT_CHARS} characters"),
            ))
        } else {
            Ok(value.to_owned())
        }
    };
    let customer = name(2)?;
    let region = name(3)?;
    let amount = text(4)?.trim();
    let amount_cents = parse_cents(amount)
        .map_err(|why| RowError::at(row, "amount", format!("{} {why}", quote(amount))))?;
    Ok(Order {
        id,
        date,
        customer,
        region,
        amount_cents,
    })
}

/// `-12`, `12.5`, `12.50` → cents. Nothing else: no thousands separators, no exponent,
/// no currency sign.
fn parse_cents(raw: &str) -> Result<i64, &'static str> {
    const NOT_A_NUMBER: &str = "is not a number";
    let (negative, digits) = match raw.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || !all_digits(whole)
        || !all_digits(fraction)
        || (digits.contains('.') && fraction.is_empty())
    {
        return Err(NOT_A_NUMBER);
    }
    if fraction.len() > 2 {
        return Err("has more than two decimal places");
    }
    let whole: i64 = whole.parse().map_err(|_| "is too large")?;
    let fraction: i64 = format!("{fraction:0<2}")
        .parse()
        .map_err(|_| NOT_A_NUMBER)?;
    let cents = whole
        .checked_mul(100)
        .and_then(|c| c.checked_add(fraction))
        .filter(|c| *c <= MAX_AMOUNT_CENTS)
        .ok_or("is too large")?;
    Ok(if negative { -cents } else { cents })
}

/// A value as an error message quotes it: in single quotes, shortened, control
/// characters escaped.
fn quote(value: &str) -> String {
    let mut out = String::from("'");
    for (i, c) in value.chars().enumerate() {
        if i == QUOTE_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Counts the bytes read through it, for progress reported from another thread.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
    /// Reading past this many bytes fails with [`RecordTooLong`].
    limit: Arc<AtomicU64>,
}

/// The record being read is longer than [`MAX_RECORD_BYTES`].
#[derive(Debug, thiserror::Error)]
#[error("a record is longer than {MAX_RECORD_BYTES} bytes")]
struct RecordTooLong;

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.count.load(Ordering::Relaxed) >= self.limit.load(Ordering::Relaxed) {
            return Err(io::Error::new(io::ErrorKind::InvalidData, RecordTooLong));
        }
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Writes orders as CSV: the header first, then one row per order.
pub struct OrderWriter<W: Write> {
    csv: csv::Writer<W>,
    id: String,
    date: String,
    amount: String,
}

impl<W: Write> OrderWriter<W> {
    pub fn new(writer: W) -> io::Result<Self> {
        let mut csv = csv::Writer::from_writer(writer);
        csv.write_record(COLUMNS).map_err(csv_io)?;
        Ok(Self {
            csv,
            id: String::with_capacity(20),
            date: String::with_capacity(10),
            amount: String::with_capacity(24),
        })
    }

    pub fn write(
        &mut self,
        id: i64,
        date: NaiveDate,
        customer: &str,
        region: &str,
        amount_cents: i64,
    ) -> io::Result<()> {
        use std::fmt::Write as _;
        self.id.clear();
        self.date.clear();
        self.amount.clear();
        let _ = write!(self.id, "{id}");
        let _ = write!(self.date, "{}", date.format("%Y-%m-%d"));
        let sign = if amount_cents < 0 { "-" } else { "" };
        let cents = amount_cents.unsigned_abs();
        let _ = write!(self.amount, "{sign}{}.{:02}", cents / 100, cents % 100);
        self.csv
            .write_record([self.id.as_str(), &self.date, customer, region, &self.amount])
            .map_err(csv_io)
    }

    /// Flushes and hands back the writer.
    pub fn finish(self) -> io::Result<W> {
        self.csv
            .into_inner()
            .map_err(csv::IntoInnerError::into_error)
    }
}

#[cfg(test)]
mod tests;
