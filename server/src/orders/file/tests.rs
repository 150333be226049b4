//! Reading and writing the orders file.

use super::*;

fn read_all(input: &[u8]) -> Result<Vec<(u64, Order)>, String> {
    let mut reader = OrderReader::new(input);
    let mut orders = Vec::new();
    loop {
        match reader.next_order() {
            Ok(Some(order)) => orders.push(order),
            Ok(None) => return Ok(orders),
            Err(err) => return Err(err.to_string()),
        }
    }
}

fn order(id: i64, customer: &str, cents: i64) -> Order {
    Order {
        id,
        date: NaiveDate::from_ymd_opt(2024, 2, 29).unwrap(),
        customer: customer.into(),
        region: "North".into(),
        amount_cents: cents,
    }
}

#[test]
fn bom_crlf_quotes_and_blank_lines_read_as_a_person_expects() {
    let input = "\u{feff}id,date,customer,region,amount\r\n\
                 1,2024-02-29,\"Smith, Jones & Co\",North,12.5\r\n\
                 \r\n\
                 2,2024-02-29,\"Say \"\"hi\"\"\",North,-3\r\n";
    assert_eq!(
        read_all(input.as_bytes()),
        Ok(vec![
            (2, order(1, "Smith, Jones & Co", 1250)),
            (3, order(2, "Say \"hi\"", -300)),
        ])
    );
}

#[test]
fn a_header_alone_is_no_orders_and_an_empty_file_is_refused() {
    assert_eq!(read_all(b"id,date,customer,region,amount\n"), Ok(vec![]));
    assert_eq!(read_all(b"ID, Date ,customer,region,amount"), Ok(vec![]));
    assert_eq!(
        read_all(b""),
        Err("row 1: the file is empty; expected the header id,date,customer,region,amount".into())
    );
    assert_eq!(
        read_all(b"1,2024-01-01,A,B,1\n"),
        Err(
            "row 1: expected the header id,date,customer,region,amount, found '1,2024-01-01,a,b,1'"
                .into()
        )
    );
}

#[test]
fn each_bad_value_is_named_by_row_and_column() {
    let bad = |row: &str| {
        read_all(format!("id,date,customer,region,amount\n1,2024-01-01,A,B,1\n{row}\n").as_bytes())
            .unwrap_err()
    };
    assert_eq!(
        bad("2,2024-01-01,A,B,abc"),
        "row 3, column amount: 'abc' is not a number"
    );
    assert_eq!(
        bad("2,2024-01-01,A\0B,B,1"),
        "row 3, column customer: contains a NUL character"
    );
    assert_eq!(
        bad("2,2024-01-01,A,B,1.234"),
        "row 3, column amount: '1.234' has more than two decimal places"
    );
    assert_eq!(
        bad("2,2024-01-01,A,B,1,000.00"),
        "row 3: expected 5 columns (id, date, customer, region, amount), found 6"
    );
    assert_eq!(
        bad("2,2024-01-01,A,B"),
        "row 3: expected 5 columns (id, date, customer, region, amount), found 4"
    );
    assert_eq!(
        bad("2,2024-13-01,A,B,1"),
        "row 3, column date: '2024-13-01' is not a date (YYYY-MM-DD)"
    );
    assert_eq!(
        bad("x,2024-01-01,A,B,1"),
        "row 3, column id: 'x' is not a whole number"
    );
    assert_eq!(
        bad("0,2024-01-01,A,B,1"),
        "row 3, column id: '0' must be a positive whole number"
    );
    assert_eq!(bad("2,2024-01-01,,B,1"), "row 3, column customer: is empty");
    assert_eq!(
        bad("2,2024-01-01,A,B,1e5"),
        "row 3, column amount: '1e5' is not a number"
    );
    assert_eq!(
        bad("2,2024-01-01,A,B,."),
        "row 3, column amount: '.' is not a number"
    );
    assert_eq!(
        bad("2,2024-01-01,A,B,99999999999999999999"),
        "row 3, column amount: '99999999999999999999' is too large"
    );
    let long = "z".repeat(100);
    assert_eq!(
        bad(&format!("2,2024-01-01,A,B,{long}")),
        format!(
            "row 3, column amount: '{}…' is not a number",
            "z".repeat(40)
        )
    );
}

#[test]
fn invalid_utf8_is_named_too() {
    let mut input = b"id,date,customer,region,amount\n1,2024-01-01,".to_vec();
    input.extend_from_slice(&[0xff, 0xfe]);
    input.extend_from_slice(b",B,1\n");
    assert_eq!(
        read_all(&input),
        Err("row 2, column customer: is not valid UTF-8 text".into())
    );
}

#[test]
fn what_is_written_reads_back_and_writes_the_same_bytes() {
    let orders = [
        order(1, "Smith, Jones & Co", 1250),
        order(2, "Say \"hi\"", -5),
        order(3, "Plain", 0),
    ];
    let write = |orders: &[Order]| {
        let mut writer = OrderWriter::new(Vec::new()).unwrap();
        for o in orders {
            writer
                .write(o.id, o.date, &o.customer, &o.region, o.amount_cents)
                .unwrap();
        }
        writer.finish().unwrap()
    };
    let first = write(&orders);
    assert!(String::from_utf8_lossy(&first).contains("\"Smith, Jones & Co\",North,12.50\n"));
    let read: Vec<Order> = read_all(&first)
        .unwrap()
        .into_iter()
        .map(|(_, o)| o)
        .collect();
    assert_eq!(read, orders);
    assert_eq!(write(&read), first);
}

#[test]
fn a_record_past_the_bound_fails_at_its_row_having_read_little_of_the_file() {
    use std::io::Read as _;
    // A good row, then a quote that is never closed, then 600 MB more.
    let start = "id,date,customer,region,amount\n1,2024-02-29,A,North,1\n2,2024-02-29,\"";
    let endless = start.as_bytes().chain(io::repeat(b'x').take(600 << 20));
    let mut reader = OrderReader::new(endless);
    assert!(matches!(reader.next_order(), Ok(Some((2, _)))));
    let err = reader.next_order().unwrap_err().to_string();
    assert_eq!(
        err,
        "row 3: is longer than 64 KiB (is a quoted field never closed?)"
    );
    let read = reader.bytes_read();
    assert!(
        read < MAX_RECORD_BYTES + 32 * 1024,
        "only the bound and a little more was read: {read} bytes"
    );
    // A record just under the bound is read (and judged on its values).
    let long_text = format!(
        "id,date,customer,region,amount\n1,2024-02-29,\"{}\",North,1\n",
        "y".repeat(60 * 1024)
    );
    let err = read_all(long_text.as_bytes()).unwrap_err();
    assert!(err.starts_with("row 2, column customer"), "{err}");
}
