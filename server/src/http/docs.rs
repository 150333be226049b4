//! `GET /docs/behind-a-proxy`: the README's advice for running Candor behind a proxy,
//! which the page links to when a proxy holds its event stream back.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// The section's heading in the README.
const HEADING: &str = "### Behind a proxy";

/// The section, from its heading to the next one of its level or above.
fn section(readme: &str) -> &str {
    let Some(start) = readme.find(HEADING) else {
        return "";
    };
    let rest = &readme[start..];
    let end = rest[HEADING.len()..]
        .find("\n## ")
        .into_iter()
        .chain(rest[HEADING.len()..].find("\n### "))
        .min()
        .map_or(rest.len(), |end| end + HEADING.len());
    &rest[..end]
}

pub(super) async fn behind_a_proxy() -> Response {
    let mut response = section(include_str!("../../../README.md"))
        .to_owned()
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/markdown; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_has_the_section_the_page_links_to() {
        let text = section(include_str!("../../../README.md"));
        assert!(text.starts_with(HEADING), "{text:.80}");
        assert!(text.contains("proxy_buffering off"));
        assert!(!text[HEADING.len()..].contains("\n### "));
    }
}
