//! The terminal client, `candor submit` and `candor follow`, run as a user would run it
//! against the real server: its exit code, what it prints, and how it rides out a
//! server restart.

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::Notify;

use crate::process::{PATIENCE, Server, collect_until, data_dir, decode, free_port};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn candor(server: &Server, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_candor"));
    command
        .args(args)
        .env("CANDOR_URL", &server.base)
        .env("CANDOR_TOKEN", &server.token)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

async fn run(server: &Server, args: &[&str]) -> Run {
    let output = tokio::time::timeout(PATIENCE, candor(server, args).output())
        .await
        .expect("the client finishes")
        .expect("the client runs");
    Run {
        code: output.status.code().expect("an exit code"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

#[tokio::test]
async fn submit_follows_a_job_to_its_end_and_says_how_it_ended() {
    let data = data_dir();
    let server = Server::start(data.path(), free_port(), &[("CANDOR_ADMIN_ADDR", "off")]).await;

    let done = run(
        &server,
        &[
            "submit", "demo", "--steps", "3", "--stepMs", "20", "--follow",
        ],
    )
    .await;
    assert_eq!(done.code, 0, "{}", done.stderr);
    let id = done.stdout.lines().next().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{}", done.stdout);
    assert!(done.stderr.contains("Step 3 of 3"), "{}", done.stderr);
    assert!(done.stderr.contains("completed"), "{}", done.stderr);

    // Failure: exit 1, with the reason and the step.
    let failed = run(
        &server,
        &[
            "submit", "demo", "--steps", "3", "--stepMs", "20", "--failAt", "2", "--follow",
        ],
    )
    .await;
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(
        failed
            .stderr
            .contains("failed at \u{201c}Step 2 of 3\u{201d}: "),
        "{}",
        failed.stderr
    );

    // An export saved to a file: its path on stdout, the rows in the file.
    let file = data.path().join("export.csv");
    let saved = run(
        &server,
        &[
            "submit",
            "export",
            "--rows",
            "1000",
            "--output",
            file.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(saved.code, 0, "{}", saved.stderr);
    assert_eq!(saved.stdout.lines().last(), file.to_str());
    let csv = std::fs::read_to_string(&file).unwrap();
    assert_eq!(csv.lines().count(), 1001, "a header and 1,000 rows");

    // Refused input: exit 4 with Candor's reason.
    let refused = run(&server, &["submit", "demo", "--steps", "0"]).await;
    assert_eq!(refused.code, 4, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("422") || refused.stderr.contains("400"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("steps"), "{}", refused.stderr);

    // Cancelled while followed: exit 3.
    let long = server
        .start_job(json!({"kind": "demo", "params": {"steps": 100, "stepMs": 200}}))
        .await;
    let follower = candor(&server, &["follow", &long.id.to_string()]).output();
    let mut events = server.events(&long.links.events, None).await;
    collect_until(
        &mut events,
        |e| matches!(decode(e), app::event::JobEvent::StatusUpdate(u) if u.progress > 0),
    )
    .await;
    let (cancelled, _) = tokio::join!(follower, async {
        let response = server
            .post(&format!("/api/jobs/{}/cancel", long.id), json!({}))
            .await;
        assert_eq!(response.status(), 200);
    });
    let cancelled = cancelled.unwrap();
    assert_eq!(cancelled.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&cancelled.stderr).contains("cancelled"));
}

/// Too many jobs in flight at once: `candor submit` waits as long as Candor asks (`429`
/// with `Retry-After`) and sends the request again, instead of giving up.
#[tokio::test]
async fn submit_waits_out_a_busy_answer_and_tries_again() {
    let data = data_dir();
    let server = Server::start(
        data.path(),
        free_port(),
        &[
            ("CANDOR_ADMIN_ADDR", "off"),
            ("CANDOR_OWNER_MAX_IN_FLIGHT", "1"),
        ],
    )
    .await;
    server
        .start_job(json!({"kind": "demo", "params": {"steps": 4, "stepMs": 500}}))
        .await;
    let second = run(
        &server,
        &[
            "submit", "demo", "--steps", "1", "--stepMs", "0", "--follow",
        ],
    )
    .await;
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(
        second
            .stderr
            .contains("Candor is busy (429 Too Many Requests); trying again in 5 s"),
        "{}",
        second.stderr
    );
    assert!(second.stderr.contains("completed"), "{}", second.stderr);
}

#[tokio::test]
async fn follow_rides_out_a_server_restart_and_sees_the_job_to_its_end() {
    let data = data_dir();
    let port = free_port();
    let env = [("CANDOR_ADMIN_ADDR", "off")];
    let server = Server::start(data.path(), port, &env).await;
    // An export is safe to run again: after the crash it is queued again and completes.
    let export = server
        .start_job(json!({"kind": "export", "params": {"rows": 1_000_000}}))
        .await;
    let mut follower = candor(&server, &["follow", &export.id.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The follower prints each new step (no terminal here, so no bar): once it has
    // printed one, it is following.
    let stderr = Arc::new(Mutex::new(String::new()));
    let line = Arc::new(Notify::new());
    {
        let (stderr, line) = (stderr.clone(), line.clone());
        let mut lines = BufReader::new(follower.stderr.take().unwrap()).lines();
        tokio::spawn(async move {
            while let Ok(Some(next)) = lines.next_line().await {
                stderr.lock().unwrap().push_str(&format!("{next}\n"));
                line.notify_waiters();
            }
        });
    }
    tokio::time::timeout(PATIENCE, async {
        loop {
            let notified = line.notified();
            if stderr.lock().unwrap().contains("Writing") {
                return;
            }
            notified.await;
        }
    })
    .await
    .expect("the follower shows the export writing");

    server.kill9().await;
    let server = Server::start(data.path(), port, &env).await;
    let status = tokio::time::timeout(PATIENCE, follower.wait())
        .await
        .expect("the follower ends")
        .unwrap();
    let mut stdout = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut follower.stdout.take().unwrap(), &mut stdout)
        .await
        .unwrap();
    let stderr = stderr.lock().unwrap().clone();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("queued to run again"),
        "the restart's re-queue was followed: {stderr}"
    );
    let url = stdout.lines().last().unwrap();
    assert!(
        url.starts_with(&format!("{}/downloads/{}/", server.base, export.id)),
        "{stdout}"
    );
    assert_eq!(server.job(export.id).await.attempt, 2);
}
