//! The page of a `candor` binary however it was built: `cargo build` and `cargo test`
//! build it without cargo-leptos, and the binary runs here with no LEPTOS_* setting.

use crate::process::{Server, data_dir, free_port};

/// The page asks for the bundle cargo-leptos writes (`/pkg/candor.js`,
/// `/pkg/candor.wasm`), not for one named by settings that only cargo-leptos passes (a
/// page asking for `/pkg/_bg.wasm` never hydrates).
#[tokio::test]
async fn a_binary_started_without_cargo_leptos_serves_a_page_that_loads_its_bundle() {
    let data = data_dir();
    let server = Server::start(data.path(), free_port(), &[]).await;
    let page = reqwest::Client::new()
        .get(server.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("/pkg/candor.js"), "{page}");
    assert!(page.contains("/pkg/candor.wasm"), "{page}");
    assert!(!page.contains("_bg.wasm"), "{page}");
}
