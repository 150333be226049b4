//! `import`: a CSV file of orders is accepted at once, then loaded completely or not at
//! all, with a failure that names the bad row and column.

use app::event::JobEvent;
use app::job::{Job, JobStatus};
use serde_json::{Value, json};

use crate::helpers::*;

const HEADER: &str = "id,date,customer,region,amount\n";

/// A file of `rows` valid orders with ids from `first`.
fn orders_csv(first: u64, rows: u64) -> String {
    let mut csv = String::from(HEADER);
    for id in first..first + rows {
        csv.push_str(&format!(
            "{id},2025-03-{:02},Customer {id},North,{id}.25\n",
            id % 28 + 1
        ));
    }
    csv
}

async fn failure_of(app: &TestApp, job: &Job) -> String {
    let ended = app.wait_until_ended(job).await;
    assert_eq!(ended.status, JobStatus::Failed, "{ended:?}");
    ended.error.unwrap()
}

/// The imported orders, as the table holds them (an export of the table).
async fn table(app: &TestApp) -> String {
    String::from_utf8(app.export(json!({"source": "orders"})).await).unwrap()
}

#[tokio::test]
async fn an_export_imports_completely_and_exports_back_byte_for_byte() {
    // Every batch's progress is written (not coalesced), so the test sees it advance;
    // and it is written between batches only because writers take turns (an import
    // that began its next batch at once used to starve its own progress events).
    let app = spawn_app_with(|config| {
        config.progress_interval = std::time::Duration::from_millis(1);
    })
    .await;
    let exported = app.export(json!({"rows": 100_000})).await;

    let job = app.import(exported.clone()).await;
    assert_eq!(job.status, JobStatus::Queued, "accepted at once, run later");
    assert!(
        job.title.starts_with("Import orders.csv ("),
        "{}",
        job.title
    );
    let events = app.job_events_to_end(&job, None).await;
    let progress: Vec<u8> = events
        .iter()
        .filter_map(|e| match decode(e) {
            JobEvent::StatusUpdate(update) => Some(update.progress),
            _ => None,
        })
        .collect();
    assert!(
        progress.iter().filter(|p| (1..100).contains(*p)).count() >= 2,
        "progress advances by bytes while it loads: {progress:?}"
    );
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    let ended = app.job(&job).await;
    assert_eq!(ended.status, JobStatus::Completed, "{:?}", ended.error);
    assert_eq!(ended.step.as_deref(), Some("Imported 100,000 orders"));

    // With data in the table, a plain export reads the table, not sample data.
    let again = app.export(json!({})).await;
    assert!(
        again == exported,
        "export → import → export changed the file"
    );
    let north = String::from_utf8(
        app.export(json!({"region": "North", "from": "2024-06-01", "to": "2024-06-30"}))
            .await,
    )
    .unwrap();
    let rows: Vec<&str> = north.lines().skip(1).collect();
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|r| r.contains(",North,") && r.contains(",2024-06-")),
        "{rows:?}"
    );
}

#[tokio::test]
async fn each_bad_row_fails_the_import_with_its_row_and_column_and_loads_nothing() {
    let app = spawn_app().await;
    let first = app.import(orders_csv(1, 3)).await;
    assert_eq!(
        app.wait_until_ended(&first).await.status,
        JobStatus::Completed
    );
    let before = table(&app).await;
    assert_eq!(before.lines().count(), 4);

    // 25,000 good rows first, so that batches were written before the bad one.
    let good = orders_csv(1000, 25_000);
    let bad_row = 25_002; // the header is row 1
    let cases = [
        (
            "25999,2025-01-01,Late,North",
            format!(
                "row {bad_row}: expected 5 columns (id, date, customer, region, amount), found 4"
            ),
        ),
        (
            "25999,2025-02-30,Late,North,1.00",
            format!("row {bad_row}, column date: '2025-02-30' is not a date (YYYY-MM-DD)"),
        ),
        (
            "25999,2025-01-01,Late,North,abc",
            format!("row {bad_row}, column amount: 'abc' is not a number"),
        ),
        (
            "1000,2025-01-01,Again,North,1.00",
            format!("row {bad_row}, column id: order 1000 is a duplicate (it is already in row 2)"),
        ),
        (
            "2,2025-01-01,Again,North,1.00",
            format!(
                "row {bad_row}, column id: order 2 is a duplicate (it is already in an earlier import)"
            ),
        ),
        // A quote never closed: 2 MB of one record.
        (
            &*format!("25999,2025-01-01,\"{}", "x".repeat(2 << 20)),
            format!("row {bad_row}: is longer than 64 KiB (is a quoted field never closed?)"),
        ),
    ];
    for (row, reason) in cases {
        let job = app.import(format!("{good}{row}\n")).await;
        assert_eq!(failure_of(&app, &job).await, reason);
        assert_eq!(
            table(&app).await,
            before,
            "nothing of the failed import stays ({reason})"
        );
    }
}

#[tokio::test]
async fn bom_crlf_quotes_and_a_lone_header_are_read_as_a_person_expects() {
    let app = spawn_app().await;
    let header_only = app
        .import("\u{feff}id,date,customer,region,amount\r\n")
        .await;
    let ended = app.wait_until_ended(&header_only).await;
    assert_eq!(ended.status, JobStatus::Completed, "{:?}", ended.error);
    assert_eq!(ended.step.as_deref(), Some("Imported 0 orders"));

    let job = app
        .import(
            "\u{feff}id,date,customer,region,amount\r\n\
             7,2024-12-24,\"Smith, Jones & Co\",South,1234.5\r\n\
             8,2024-12-25,\"Say \"\"hi\"\"\",South,-3\r\n",
        )
        .await;
    assert_eq!(
        app.wait_until_ended(&job).await.status,
        JobStatus::Completed
    );
    assert_eq!(
        table(&app).await,
        "id,date,customer,region,amount\n\
         7,2024-12-24,\"Smith, Jones & Co\",South,1234.50\n\
         8,2024-12-25,\"Say \"\"hi\"\"\",South,-3.00\n"
    );
}

/// The error body's status, code and field.
async fn refusal(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("a JSON error body");
    let error = &body["error"];
    (
        status,
        error["code"].as_str().unwrap_or_default().to_owned(),
        error["field"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn uploads_past_the_limits_are_refused_before_any_job_exists() {
    let app = spawn_app_with(|config| config.upload_max_bytes = 10_000).await;
    let big = orders_csv(1, 1_000).into_bytes();
    assert!(big.len() > 10_000);
    let cases = [
        (
            app.post_form("import", &[], ("orders.csv", "text/csv", big))
                .await,
            (413, "payload_too_large", "params.file"),
        ),
        (
            app.post_form(
                "import",
                &[],
                ("photo.png", "image/png", b"\x89PNG".to_vec()),
            )
            .await,
            (415, "unsupported_media_type", "params.file"),
        ),
        (
            app.post_form("import", &[], ("orders.csv", "text/csv", Vec::new()))
                .await,
            (422, "invalid_field", "params.file"),
        ),
        (
            app.post_form(
                "import",
                &[("color", "red")],
                ("orders.csv", "text/csv", orders_csv(1, 1).into_bytes()),
            )
            .await,
            (422, "invalid_field", "params.color"),
        ),
        (
            app.post_form(
                "nothing",
                &[],
                ("orders.csv", "text/csv", orders_csv(1, 1).into_bytes()),
            )
            .await,
            (422, "unknown_kind", "kind"),
        ),
        (
            app.post_job(json!({"kind": "import", "params": {}})).await,
            (422, "invalid_field", "params.file"),
        ),
    ];
    for (response, (status, code, field)) in cases {
        assert_eq!(
            refusal(response).await,
            (status, code.to_owned(), field.to_owned())
        );
    }
    let refused_json = app
        .client
        .post(app.url("/api/jobs"))
        .header("content-type", "text/csv")
        .body(orders_csv(1, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(refused_json.status(), 415);
    assert!(app.list().await.is_empty(), "no job was created");
    assert_eq!(app.stored_uploads(), 0, "refused uploads are not kept");
}

#[tokio::test]
async fn a_failed_import_can_be_retried_with_its_file() {
    let app = spawn_app().await;
    let job = app
        .import(format!("{HEADER}1,2024-01-01,A,North,x\n"))
        .await;
    let reason = failure_of(&app, &job).await;
    assert_eq!(reason, "row 2, column amount: 'x' is not a number");
    let response = app
        .client
        .post(app.url(&format!("/api/jobs/{}/retry", job.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let retry: Job = response.json().await.unwrap();
    assert_eq!(retry.title, job.title);
    assert_eq!(
        failure_of(&app, &retry).await,
        reason,
        "the retry read the same file"
    );
}

#[tokio::test]
async fn compress_gzips_an_upload_with_progress_by_bytes() {
    let app = spawn_app().await;
    let original = orders_csv(1, 50_000).into_bytes();
    let response = app
        .post_form(
            "compress",
            &[("level", "9")],
            ("orders.csv", "application/octet-stream", original.clone()),
        )
        .await;
    assert_eq!(response.status(), 202, "{:?}", response.text().await);
    let job: Job = response.json().await.unwrap();
    assert_eq!(job.spec.params["level"], 9);
    let ended = app.wait_until_ended(&job).await;
    assert_eq!(ended.status, JobStatus::Completed, "{:?}", ended.error);
    let url = ended.result_url.unwrap();
    assert_eq!(url, format!("/downloads/{}/orders.csv.gz", job.id));
    let response = app.client.get(app.url(&url)).send().await.unwrap();
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    let short_id: String = job.id.to_string().chars().take(8).collect();
    assert_eq!(
        disposition,
        format!("attachment; filename=\"candor-orders-{short_id}.csv.gz\"")
    );
    let gz = app
        .client
        .get(app.url(&url))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(
        gz.len() < original.len() / 3,
        "{} of {}",
        gz.len(),
        original.len()
    );
    let mut unpacked = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut unpacked).unwrap();
    assert!(unpacked == original, "the download unpacks to the upload");
}
