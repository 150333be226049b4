//! Shared by the test binaries: a client that acts for an API token's owner.

/// A client whose every request carries `Authorization: Bearer <token>`.
pub(crate) fn token_client(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}
