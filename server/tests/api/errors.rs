//! Bad input gets a clear JSON error with the right status, and changes nothing.

use crate::helpers::*;

#[tokio::test]
async fn every_bad_job_request_is_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    // (body, content type, status, code, field)
    let cases: &[(&str, &str, u16, &str, Option<&str>)] = &[
        ("{", "application/json", 400, "malformed_json", None),
        ("", "application/json", 400, "malformed_json", None),
        ("[]", "application/json", 400, "malformed_json", None),
        (
            r#"{"kind":"demo","params":{"steps":1,"stepMs":1}}"#,
            "text/plain",
            415,
            "unsupported_media_type",
            None,
        ),
        (
            r#"{"kind":"mine","params":{}}"#,
            "application/json",
            422,
            "unknown_kind",
            Some("kind"),
        ),
        (
            r#"{"params":{}}"#,
            "application/json",
            422,
            "invalid_field",
            Some("kind"),
        ),
        (
            r#"{"kind":"demo"}"#,
            "application/json",
            422,
            "invalid_field",
            Some("params"),
        ),
        (
            r#"{"kind":"demo","params":{"stepMs":1}}"#,
            "application/json",
            422,
            "invalid_field",
            Some("params.steps"),
        ),
        (
            r#"{"kind":"demo","params":{"steps":"ten","stepMs":1}}"#,
            "application/json",
            422,
            "invalid_field",
            Some("params.steps"),
        ),
        (
            r#"{"kind":"demo","params":{"steps":0,"stepMs":1}}"#,
            "application/json",
            422,
            "invalid_field",
            Some("params.steps"),
        ),
        (
            r#"{"kind":"demo","params":{"steps":101,"stepMs":1}}"#,
            "application/json",
            422,
            "invalid_field",
            Some("params.steps"),
        ),
        (
            r#"{"kind":"demo","params":{"steps":5,"stepMs":60001}}"#,
            "application/json",
            422,
            "invalid_field",
            Some("params.stepMs"),
        ),
        (
            r#"{"kind":"demo","params":{"steps":5,"stepMs":1,"failAt":9}}"#,
            "application/json",
            422,
            "invalid_field",
            Some("params.failAt"),
        ),
        (
            r#"{"kind":"demo","params":{"steps":5,"stepMs":1,"fail":2}}"#,
            "application/json",
            422,
            "invalid_field",
            Some("params.fail"),
        ),
        (
            r#"{"kind":"export","params":{"rows":0}}"#,
            "application/json",
            422,
            "invalid_field",
            Some("params.rows"),
        ),
        (
            r#"{"kind":"export","params":{"rows":10000001}}"#,
            "application/json",
            422,
            "invalid_field",
            Some("params.rows"),
        ),
        (
            r#"{"kind":"export","params":{"rows":184467440737095516160}}"#,
            "application/json",
            422,
            "invalid_field",
            Some("params.rows"),
        ),
        (
            r#"{"kind":"export","params":{"rows":2.5}}"#,
            "application/json",
            422,
            "invalid_field",
            Some("params.rows"),
        ),
    ];
    for (body, content_type, status, code, field) in cases {
        let response = app
            .client
            .post(app.url("/api/jobs"))
            .header("content-type", *content_type)
            .body(*body)
            .send()
            .await
            .unwrap();
        let (got, error) = error_of(response).await;
        assert_eq!(got, *status, "{body}: {error}");
        assert_eq!(error["error"]["code"], *code, "{body}: {error}");
        assert!(!error["error"]["message"].as_str().unwrap().is_empty());
        match field {
            Some(field) => assert_eq!(error["error"]["field"], *field, "{body}: {error}"),
            None => assert!(error["error"].get("field").is_none(), "{body}: {error}"),
        }
    }
    assert!(app.list().await.is_empty(), "no bad request stored a job");
    let last = app.get_json("/api/jobs").await;
    assert_eq!(last["lastEventId"], 0, "no bad request wrote an event");
}

#[tokio::test]
async fn oversized_bodies_and_wrong_methods_get_json_errors() {
    let app = spawn_app().await;
    let padding = "x".repeat(100 * 1024);
    let body = format!(r#"{{"kind":"demo","params":{{"steps":1,"stepMs":1}},"pad":"{padding}"}}"#);
    let response = app
        .client
        .post(app.url("/api/jobs"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let (status, error) = error_of(response).await;
    assert_eq!(status, 413);
    assert_eq!(error["error"]["code"], "payload_too_large");

    let response = app
        .client
        .delete(app.url("/api/jobs"))
        .send()
        .await
        .unwrap();
    let (status, error) = error_of(response).await;
    assert_eq!(status, 405);
    assert_eq!(error["error"]["code"], "method_not_allowed");
    assert!(app.list().await.is_empty());
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_not_found() {
    let app = spawn_app().await;
    let unknown = uuid::Uuid::new_v4();
    for (method, path) in [
        ("GET", format!("/api/jobs/{unknown}")),
        ("GET", "/api/jobs/not-a-uuid".to_owned()),
        ("POST", format!("/api/jobs/{unknown}/cancel")),
        ("GET", format!("/api/jobs/{unknown}/events")),
        ("GET", format!("/downloads/{unknown}/orders.csv")),
        ("GET", "/api/nothing-here".to_owned()),
    ] {
        let response = app
            .client
            .request(method.parse().unwrap(), app.url(&path))
            .send()
            .await
            .unwrap();
        let (status, error) = error_of(response).await;
        assert_eq!(status, 404, "{method} {path}");
        assert_eq!(error["error"]["code"], "not_found", "{method} {path}");
    }
}

#[tokio::test]
async fn bad_cursors_and_limits_are_refused() {
    let app = spawn_app().await;
    let job = app.demo(1, 0).await;
    for bad in ["-1", "abc", "1.5", "99999999999999999999999", " 12x"] {
        for path in ["/api/events".to_owned(), job.links.events.clone()] {
            let response = app
                .client
                .get(app.url(&path))
                .header("Last-Event-ID", bad)
                .send()
                .await
                .unwrap();
            let (status, error) = error_of(response).await;
            assert_eq!(status, 400, "{path} Last-Event-ID {bad:?}");
            assert_eq!(error["error"]["field"], "Last-Event-ID");
        }
        let response = app
            .client
            .get(app.url(&format!("/api/events?after={bad}")))
            .send()
            .await
            .unwrap();
        let (status, error) = error_of(response).await;
        assert_eq!(status, 400, "after={bad:?}");
        assert_eq!(error["error"]["field"], "after");
    }
    for bad in ["0", "1001", "x", "-5"] {
        let response = app
            .client
            .get(app.url(&format!("/api/jobs?limit={bad}")))
            .send()
            .await
            .unwrap();
        let (status, error) = error_of(response).await;
        assert_eq!(status, 400, "limit={bad}");
        assert_eq!(error["error"]["field"], "limit");
    }
}
