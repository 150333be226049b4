//! Any bytes as an orders CSV: the reader never panics, every row it accepts is
//! well-formed, and writing the accepted rows back and reading them again gives the
//! same orders.
#![no_main]

use libfuzzer_sys::fuzz_target;
use server::orders::{OrderReader, OrderWriter};

fuzz_target!(|data: &[u8]| {
    let mut reader = OrderReader::new(data);
    let mut orders = Vec::new();
    loop {
        match reader.next_order() {
            Ok(Some((row, order))) => {
                assert!(row >= 2, "the header is row 1");
                assert!(order.id > 0);
                assert!(!order.customer.trim().is_empty());
                orders.push(order);
            }
            Ok(None) => break,
            Err(err) => {
                // A refusal names where: "row N, column C: …" (or says why the file
                // could not be read at all).
                assert!(!err.to_string().is_empty());
                return;
            }
        }
    }
    assert!(reader.bytes_read() <= data.len() as u64);
    let mut writer = OrderWriter::new(Vec::new()).unwrap();
    for o in &orders {
        writer
            .write(o.id, o.date, &o.customer, &o.region, o.amount_cents)
            .unwrap();
    }
    let written = writer.finish().unwrap();
    let mut again = OrderReader::new(written.as_slice());
    for order in &orders {
        let (_, read) = again.next_order().unwrap().expect("as many rows as written");
        assert_eq!(&read, order);
    }
    assert!(again.next_order().unwrap().is_none());
});
