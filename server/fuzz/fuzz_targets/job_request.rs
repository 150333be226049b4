//! Any bytes as a `POST /api/jobs` JSON body: the parser never panics; it accepts a
//! request only for a known kind with params that pass that kind's own checks, and an
//! accepted spec, sent again, is accepted again with the same title.
#![no_main]

use libfuzzer_sys::fuzz_target;
use server::http::request::parse_job_request;
use server::jobs::builtin_kinds;

fuzz_target!(|data: &[u8]| {
    let kinds = builtin_kinds();
    if let Ok((spec, title)) = parse_job_request(data, &kinds) {
        assert!(kinds.names().any(|name| name == spec.kind));
        assert!(!title.is_empty());
        let again = serde_json::json!({"kind": spec.kind, "params": spec.params});
        let (same, same_title) = parse_job_request(again.to_string().as_bytes(), &kinds)
            .expect("an accepted spec is accepted again");
        assert_eq!(same.params, spec.params);
        assert_eq!(same_title, title);
    }
});
