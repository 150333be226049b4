//! Folded parts of a card (`<details>`) that cost nothing while folded.

use leptos::html::Details;
use leptos::prelude::*;

use crate::job::JobId;
use crate::state;

/// Whether the `<details>` behind `node` is open (tracked), for content that only an
/// open one shows (`<Show when=open>`): 200 folded cards then update no log lines and
/// build no timelines that nobody sees. It starts open, so that the server renders the
/// content (readable before any WASM has loaded, by unfolding) and the browser hydrates
/// it; once hydrated, it follows the element. Wire the element's `toggle` event to
/// [`follow`].
pub(crate) fn open_state(node: NodeRef<Details>) -> RwSignal<bool> {
    let open = RwSignal::new(true);
    // Effects run only in the browser, after hydration.
    Effect::new(move |_| {
        if let Some(details) = node.get() {
            open.set(details.open());
        }
    });
    open
}

/// The `toggle` handler that keeps [`open_state`] current, and tells the page's store
/// that job `id`'s card is unfolded (it keeps the job while it is).
pub(crate) fn follow(
    node: NodeRef<Details>,
    open: RwSignal<bool>,
    id: JobId,
) -> impl Fn(leptos::ev::Event) {
    move |_| {
        let now = node.get_untracked().is_some_and(|details| details.open());
        if now != open.get_untracked() {
            state::unfold(id, now);
        }
        open.set(now);
    }
}
