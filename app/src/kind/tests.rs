//! The declared-parameter checks that the form and the server share.

use serde_json::json;

use super::*;

fn fields() -> Vec<ParamField> {
    vec![
        ParamField {
            name: "rows".into(),
            label: "Rows".into(),
            hint: None,
            required: true,
            input: Input::Integer {
                min: 1,
                max: 10_000_000,
                default: Some(10_000),
            },
        },
        ParamField {
            name: "region".into(),
            label: "Region".into(),
            hint: None,
            required: false,
            input: Input::Choice {
                options: vec![Choice::new("North", "North"), Choice::new("South", "South")],
                default: None,
            },
        },
        ParamField {
            name: "from".into(),
            label: "From".into(),
            hint: None,
            required: false,
            input: Input::Date,
        },
    ]
}

fn field_of(params: serde_json::Value) -> Result<(), String> {
    check_params(&fields(), &params).map_err(|e| e.field)
}

#[test]
fn declared_params_are_checked_with_field_paths() {
    assert_eq!(field_of(json!({ "rows": 1 })), Ok(()));
    assert_eq!(
        field_of(json!({ "rows": 10_000_000, "region": "North", "from": "2024-02-29" })),
        Ok(())
    );
    assert_eq!(field_of(json!({})), Err("params.rows".into()));
    assert_eq!(field_of(json!(null)), Err("params.rows".into()));
    assert_eq!(field_of(json!({ "rows": 0 })), Err("params.rows".into()));
    assert_eq!(
        field_of(json!({ "rows": 10_000_001 })),
        Err("params.rows".into())
    );
    assert_eq!(field_of(json!({ "rows": 1.5 })), Err("params.rows".into()));
    assert_eq!(field_of(json!({ "rows": "5" })), Err("params.rows".into()));
    assert_eq!(
        field_of(json!({ "rows": 5, "region": "Mars" })),
        Err("params.region".into())
    );
    assert_eq!(
        field_of(json!({ "rows": 5, "from": "2023-02-29" })),
        Err("params.from".into())
    );
    assert_eq!(
        field_of(json!({ "rows": 5, "color": "red" })),
        Err("params.color".into())
    );
    assert_eq!(field_of(json!([1])), Err("params".into()));
}

#[test]
fn messages_say_what_was_wrong() {
    let err = check_params(&fields(), &json!({ "rows": 10_000_001 })).unwrap_err();
    assert_eq!(
        err.message,
        "must be between 1 and 10,000,000, got 10,000,001"
    );
    let err = check_params(&fields(), &json!({ "rows": 1, "color": 1 })).unwrap_err();
    assert_eq!(
        err.message,
        "is not a parameter of this kind (it takes rows, region, from)"
    );
}

#[test]
fn typed_text_becomes_json_values() {
    let [rows, region, from] = fields().try_into().unwrap();
    assert_eq!(rows.parse_text(" 1,000 "), Ok(Some(json!(1000))));
    assert_eq!(rows.parse_text(""), Ok(None));
    assert!(rows.parse_text("ten").is_err());
    assert!(rows.parse_text("0").is_err());
    assert_eq!(region.parse_text("South"), Ok(Some(json!("South"))));
    assert!(region.parse_text("Mars").is_err());
    assert_eq!(from.parse_text("2024-01-31"), Ok(Some(json!("2024-01-31"))));
    assert!(from.parse_text("2024-1-31").is_err());
    assert!(from.parse_text("31.01.2024").is_err());
    assert_eq!(rows.default_text(), "10000");
    assert_eq!(region.default_text(), "");
}

#[test]
fn dates_are_strict() {
    assert!(parse_date("2024-02-29").is_some());
    for bad in [
        "2023-02-29",
        "2024-13-01",
        "24-01-01",
        "2024-01-1",
        "2024/01/01",
        "+2024-01-01",
        "",
    ] {
        assert!(parse_date(bad).is_none(), "{bad:?}");
    }
}

#[test]
fn byte_counts_read_well() {
    assert_eq!(format_bytes(0), "0 B");
    assert_eq!(format_bytes(999), "999 B");
    assert_eq!(format_bytes(1_500), "1.5 KB");
    assert_eq!(format_bytes(44_900_000), "44.9 MB");
}

proptest::proptest! {
    /// What a person types into a number field is taken exactly when it is a whole
    /// number in range (thousands separators allowed), and then as that number.
    #[test]
    fn typed_numbers_are_taken_exactly_in_range(n in proptest::prelude::any::<i64>(), grouped: bool, junk in "\\PC{0,6}") {
        let rows = fields().swap_remove(0);
        let text = if grouped { group(n) } else { n.to_string() };
        let in_range = (1..=10_000_000).contains(&n);
        proptest::prop_assert_eq!(rows.parse_text(&text).ok().flatten(), in_range.then(|| json!(n)));
        // Anything else typed after the number makes it no number at all.
        if !junk.trim().is_empty() && !junk.chars().all(|c| c.is_ascii_digit() || c == ',' || c == '_' || c.is_whitespace()) {
            let typed = format!("{text}{junk}");
            proptest::prop_assert!(rows.parse_text(&typed).is_err(), "{}", typed);
        }
    }
}

fn group(n: i64) -> String {
    let sign = if n < 0 { "-" } else { "" };
    format!("{sign}{}", crate::job::group_digits(n.unsigned_abs()))
}
