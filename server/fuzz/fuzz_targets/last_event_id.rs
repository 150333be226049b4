//! Any text as a `Last-Event-ID`: parsing never panics, and an accepted id prints back
//! exactly as it was sent (ASCII digits, nothing else, no silent rounding).
#![no_main]

use app::event::EventId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(id) = text.parse::<EventId>() {
        assert!(text.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(id.to_string().parse::<EventId>().unwrap(), id);
        assert_eq!(
            id.to_string().trim_start_matches('0'),
            text.trim_start_matches('0')
        );
    }
});
