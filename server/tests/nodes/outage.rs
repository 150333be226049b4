//! The database goes away while a node runs: requests that need it fail with `503` and
//! a JSON body, the running job ends honestly, and the node recovers by itself once the
//! database is back. The outage is a TCP proxy between the node and PostgreSQL that
//! drops every connection and refuses new ones.

use std::str::FromStr;
use std::sync::Arc;

use app::job::JobStatus;
use serde_json::{Value, json};
use sqlx::ConnectOptions;
use sqlx::postgres::PgConnectOptions;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::cluster::{Cluster, run_to_end};

/// A TCP proxy to PostgreSQL that can be cut and restored.
struct Proxy {
    port: u16,
    up: watch::Sender<bool>,
}

impl Proxy {
    async fn start(upstream: String) -> Arc<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (up, _) = watch::channel(true);
        let proxy = Arc::new(Self { port, up });
        let watching = proxy.up.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut up = watching.subscribe();
                if !*up.borrow() {
                    continue; // dropped: the connection is refused
                }
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = up.wait_for(|up| !up) => {} // cut: both ends dropped
                    }
                });
            }
        });
        proxy
    }

    fn set(&self, up: bool) {
        self.up.send_replace(up);
    }
}

#[tokio::test]
async fn while_the_database_is_away_requests_get_503_and_the_node_recovers_when_it_returns() {
    let cluster = Cluster::new().await;
    let direct = PgConnectOptions::from_str(&cluster.db.url).unwrap();
    let proxy = Proxy::start(format!("{}:{}", direct.get_host(), direct.get_port())).await;
    let through_proxy = direct
        .clone()
        .host("127.0.0.1")
        .port(proxy.port)
        .to_url_lossy()
        .to_string();
    let a = cluster
        .node("a", 1, &[("CANDOR_DATABASE_URL", through_proxy.as_str())])
        .await;
    let demo = json!({ "kind": "demo", "params": { "steps": 20, "stepMs": 100 } });
    let running = a.start_job(demo.clone()).await;

    proxy.set(false);
    for response in [
        a.post("/api/jobs", demo.clone()).await,
        a.client.get(a.url("/api/jobs")).send().await.unwrap(),
    ] {
        assert_eq!(response.status(), 503);
        assert!(response.headers().contains_key("retry-after"));
        let body: Value = response.json().await.unwrap();
        assert!(
            body.to_string().contains("database is unavailable"),
            "{body}"
        );
    }

    proxy.set(true);
    // The job that was running ends honestly: it finished (its node kept it), or it
    // failed as lost (its lease ran out while nothing could be written).
    let ended = run_to_end(&a, &running).await;
    match ended.status {
        JobStatus::Completed => {}
        JobStatus::Failed => assert_eq!(ended.error.as_deref(), Some("worker node lost")),
        other => panic!("the running job ended as {other:?}"),
    }
    // And the node works again, by itself.
    let after = a.start_job(demo).await;
    assert_eq!(run_to_end(&a, &after).await.status, JobStatus::Completed);
}
