//! HTTPS with HTTP/2, given a certificate (here a self-signed one made by the test with
//! `openssl`): `curl --http2` starts a job and reads its event stream over `h2`, and
//! HTTP/1.1 clients are still served.

use std::path::{Path, PathBuf};

use tokio::process::Command;

use crate::process::{PATIENCE, Server, data_dir, free_port};

/// A self-signed certificate for 127.0.0.1 and localhost, and its key.
pub(crate) fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    (cert, key)
}

/// Runs curl (trusting the test's certificate); its output, with `-w`'s at the end.
async fn curl(args: &[&str]) -> String {
    let output = tokio::time::timeout(
        PATIENCE,
        Command::new("curl")
            .args(["--silent", "--show-error", "--insecure", "--max-time", "60"])
            .args(args)
            .output(),
    )
    .await
    .expect("curl finishes")
    .expect("curl runs");
    assert!(
        output.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn curl_starts_a_job_and_reads_its_stream_over_http2() {
    let data = data_dir();
    let (cert, key) = self_signed(data.path());
    let port = free_port();
    let server = Server::start(
        data.path(),
        port,
        &[
            ("CANDOR_TLS_CERT", cert.to_str().unwrap()),
            ("CANDOR_TLS_KEY", key.to_str().unwrap()),
            ("CANDOR_ADMIN_ADDR", "off"),
        ],
    )
    .await;
    server.wait_for_log("Candor is up on https://").await;
    let base = format!("https://127.0.0.1:{port}");
    let auth = format!("Authorization: Bearer {}", server.token);

    let answer = curl(&[
        "--http2",
        "-H",
        &auth,
        "-H",
        "content-type: application/json",
        "-d",
        r#"{"kind":"demo","params":{"steps":3,"stepMs":50}}"#,
        "-w",
        "\n%{http_version} %{http_code}",
        &format!("{base}/api/jobs"),
    ])
    .await;
    let (body, protocol) = answer.rsplit_once('\n').unwrap();
    assert_eq!(protocol, "2 202", "{answer}");
    let job: app::job::Job = serde_json::from_str(body).unwrap();

    // The one-job stream ends with the job's ending, and curl with it.
    let stream = curl(&[
        "--http2",
        "-N",
        "-H",
        &auth,
        "-w",
        "\n%{http_version}",
        &format!("{base}/api/jobs/{}/events", job.id),
    ])
    .await;
    let (events, protocol) = stream.rsplit_once('\n').unwrap();
    assert_eq!(protocol, "2", "{stream}");
    for event in [
        "event: created",
        "event: status-update",
        "event: completion",
    ] {
        assert!(events.contains(event), "{event} in {events}");
    }

    // HTTP/1.1 clients are served too.
    let kinds = curl(&[
        "--http1.1",
        "-o",
        "/dev/null",
        "-w",
        "%{http_version} %{http_code}",
        &format!("{base}/healthz"),
    ])
    .await;
    assert_eq!(kinds, "1.1 200");
    // And no one is served in the clear.
    let clear = Command::new("curl")
        .args([
            "--silent",
            "--max-time",
            "5",
            &format!("http://127.0.0.1:{port}/api/kinds"),
        ])
        .output()
        .await
        .unwrap();
    assert!(!clear.status.success() || clear.stdout.is_empty());
}
