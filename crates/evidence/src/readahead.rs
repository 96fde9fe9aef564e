//! Read-ahead advice. A search that is about to read many scattered blocks (index blocks of
//! many segments, records spread over a log larger than memory) names them all to the kernel
//! first, so the disk serves them together instead of one after another. Advice only: a
//! refusal changes nothing but speed, and systems without it read as before.

use std::fs::File;

/// Start reading `len` bytes at `at` into the page cache; returns without waiting.
pub(crate) fn will_need(file: &File, at: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{Advice, fadvise};
        // Advice: a refusal only costs speed.
        let _ = fadvise(file, at, std::num::NonZeroU64::new(len), Advice::WillNeed);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, at, len);
}

/// Reads of `file` are scattered: no read-ahead around each one.
pub(crate) fn scattered(file: &File) {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{Advice, fadvise};
        let _ = fadvise(file, 0, None, Advice::Random);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}
