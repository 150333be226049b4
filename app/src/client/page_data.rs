//! The data the server rendered the page with, read back from the page's head.

use crate::state::{PAGE_DATA_ID, PageData};

/// Reads the [`PageData`] the server wrote into the page.
#[cfg(feature = "hydrate")]
pub(crate) fn embedded_page_data() -> Result<PageData, String> {
    let text = web_sys::window()
        .and_then(|window| window.document())
        .and_then(|document| document.get_element_by_id(PAGE_DATA_ID))
        .and_then(|element| element.text_content())
        .ok_or_else(|| "the page carries no data; reload it".to_owned())?;
    serde_json::from_str(&text).map_err(|err| format!("the page's data is unreadable ({err})"))
}

#[cfg(not(feature = "hydrate"))]
pub(crate) fn embedded_page_data() -> Result<PageData, String> {
    Err(format!(
        "the page's data (#{PAGE_DATA_ID}) is read only in the browser"
    ))
}
