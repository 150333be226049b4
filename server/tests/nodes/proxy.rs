//! The README's reverse-proxy example (`deploy/nginx.conf`), run by a real nginx in front
//! of two nodes: streams pass through live, and browsers are spread over both nodes.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use app::job::JobStatus;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::cluster::{Cluster, until_running};
use crate::process::{PATIENCE, Server, free_port, token_client};

/// The example configuration with this test's ports and paths.
fn configure(example: &str, nodes: [&Server; 2], listen: u16) -> String {
    let port = |server: &Server| server.base.rsplit(':').next().unwrap().to_owned();
    let config = example
        .replace("127.0.0.1:3001", &format!("127.0.0.1:{}", port(nodes[0])))
        .replace("127.0.0.1:3002", &format!("127.0.0.1:{}", port(nodes[1])))
        .replace("listen 8080;", &format!("listen 127.0.0.1:{listen};"));
    assert_ne!(
        config, example,
        "the example names the ports this test replaces"
    );
    config
}

async fn start_nginx(dir: &Path, config: &str, port: u16) -> Child {
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    std::fs::write(dir.join("nginx.conf"), config).unwrap();
    let nginx = ["nginx", "/usr/sbin/nginx"]
        .into_iter()
        .find(|bin| std::process::Command::new(bin).arg("-v").output().is_ok())
        .expect("nginx is installed (the README's test command installs it)");
    let child = Command::new(nginx)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .args(["-e", "stderr", "-g"])
        // One process, in the foreground: dropping the child stops all of nginx.
        .arg(format!(
            "daemon off; master_process off; pid {};",
            dir.join("nginx.pid").display()
        ))
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("nginx starts");
    // nginx says nothing when it is ready: wait until its port takes connections.
    tokio::time::timeout(PATIENCE, async {
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("nginx listens");
    child
}

#[tokio::test]
async fn the_readmes_nginx_example_streams_live_and_spreads_browsers_over_two_nodes() {
    let cluster = Cluster::new().await;
    let a = cluster.node("a", 1, &[]).await;
    let b = cluster.node("b", 1, &[]).await;
    let listen = free_port();
    let example = include_str!("../../../deploy/nginx.conf");
    let dir = tempfile::tempdir().unwrap();
    let _nginx = start_nginx(dir.path(), &configure(example, [&a, &b], listen), listen).await;
    let front = a.behind(&format!("http://127.0.0.1:{listen}"));

    // Live: a running job's progress arrives through the proxy while it still runs.
    let mut stream = front.events("/api/events", None).await;
    let job = front
        .start_job(json!({ "kind": "demo", "params": { "steps": 20, "stepMs": 200 } }))
        .await;
    let id = job.id;
    until_running(&mut stream, &job).await;
    assert_eq!(
        a.job(id).await.status,
        JobStatus::Running,
        "not held back to the end"
    );
    drop(stream);

    // Spread: streams opened through the proxy land on both nodes.
    let client = token_client(&a.token);
    let mut streams = Vec::new();
    for _ in 0..4 {
        let response = client.get(front.url("/api/events")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        streams.push(response);
    }
    let mut open = Vec::new();
    for node in [&a, &b] {
        let held: Value = client
            .get(node.url("/api/streams"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        open.push(held["open"].as_u64().unwrap());
    }
    assert_eq!(open.iter().sum::<u64>(), 4, "{open:?}");
    assert!(
        open.iter().all(|n| *n >= 1),
        "both nodes serve streams: {open:?}"
    );
}
