//! The data jobs work on is shared too: orders imported through one node are in the
//! shared database for every node's exports, and a file one node wrote is served by
//! any node (the data directory is shared, as on a shared volume).

use app::job::{Job, JobStatus};
use serde_json::json;

use crate::cluster::{Cluster, run_to_end};

#[tokio::test]
async fn orders_imported_through_one_node_are_exported_by_another_and_served_by_any() {
    let cluster = Cluster::new().await;
    let a = cluster.node("a", 0, &[]).await;
    let b = cluster.node("b", 2, &[]).await;
    let mut csv = String::from("id,date,customer,region,amount\n");
    for id in 1..=1_000 {
        csv.push_str(&format!(
            "{id},2025-03-{:02},Customer {id},North,{id}.25\n",
            id % 28 + 1
        ));
    }
    let part = reqwest::multipart::Part::bytes(csv.clone().into_bytes())
        .file_name("orders.csv")
        .mime_str("text/csv")
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("kind", "import")
        .part("file", part);
    let response = a
        .client
        .post(a.url("/api/jobs"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let import: Job = response.json().await.unwrap();
    let import = run_to_end(&a, &import).await;
    assert_eq!(import.status, JobStatus::Completed, "{:?}", import.error);

    let export = a
        .start_job(json!({ "kind": "export", "params": { "source": "orders" } }))
        .await;
    let export = run_to_end(&a, &export).await;
    assert_eq!(export.status, JobStatus::Completed, "{:?}", export.error);
    let url = export.result_url.expect("an export links its file");
    let exported = a.download(&url).await;
    assert_eq!(exported.lines().count(), 1_001, "a header and every order");
    assert_eq!(
        exported,
        b.download(&url).await,
        "the same file from either node"
    );
    assert!(
        exported.contains("1000,2025-03-21,Customer 1000,North,1000.25"),
        "{exported:.200}"
    );
}
