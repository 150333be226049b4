//! The page is rendered on the server with the real state of every job.

use crate::helpers::*;

#[tokio::test]
async fn the_first_paint_shows_every_job_and_its_state() {
    let app = spawn_app().await;
    let job = app
        .start(
            serde_json::json!({"kind": "demo", "params": {"steps": 2, "stepMs": 0, "failAt": 2}}),
        )
        .await;
    app.wait_until_ended(&job).await;
    let response = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = response.text().await.unwrap();
    assert!(
        html.contains(&format!("data-job-id=\"{}\"", job.id)),
        "{html}"
    );
    assert!(html.contains("data-status=\"failed\""), "{html}");
    assert!(html.contains("asked to fail at step 2"), "{html}");
    assert!(html.contains("role=\"progressbar\""));
    assert!(html.contains("Start a job"));
    // The tab's first title counts what runs (nothing, now).
    assert!(html.contains("<title>Candor</title>"), "{html}");
    // The form's defaults are in the HTML, not only in the script that hydrates it.
    assert!(html.contains(r#"name="steps" value="10""#), "{html}");
    // The browser hydrates from the same data, carried in the page.
    let data = html
        .split(r#"<script type="application/json" id="page-data">"#)
        .nth(1)
        .and_then(|rest| rest.split("</script>").next())
        .expect("the page carries its data");
    let data: app::PageData = serde_json::from_str(data).unwrap();
    let list = data.jobs.expect("the jobs were read");
    assert_eq!(list.jobs.len(), 1);
    assert_eq!(list.jobs[0].id, job.id);
    assert!(data.kinds.iter().any(|kind| kind.name == "demo"));
}

#[tokio::test]
async fn pages_are_compressed_for_browsers_that_ask() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-encoding"], "gzip");
}

#[tokio::test]
async fn unknown_pages_are_404() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/no-such-page"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn the_page_allows_only_its_own_scripts_and_this_renders_nonce() {
    let app = spawn_app().await;
    let first = app.client.get(app.url("/")).send().await.unwrap();
    let policy = first.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(first.headers()["referrer-policy"], "same-origin");
    let html = first.text().await.unwrap();
    let nonce = policy
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a nonce in script-src")
        .to_owned();
    assert!(nonce.len() >= 16, "{nonce}");
    // The one inline script (the hydration loader) carries exactly that nonce.
    assert!(
        html.contains(&format!(r#"<script type="module" nonce="{nonce}">"#)),
        "{html}"
    );
    for directive in [
        "default-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{policy}");
    }
    let script_src = policy
        .split(';')
        .find(|d| d.trim().starts_with("script-src"))
        .unwrap();
    assert!(!script_src.contains("unsafe-inline"), "{policy}");
    // Every render has a nonce of its own.
    let second = app.client.get(app.url("/")).send().await.unwrap();
    assert_ne!(
        second.headers()["content-security-policy"]
            .to_str()
            .unwrap(),
        policy
    );
}
