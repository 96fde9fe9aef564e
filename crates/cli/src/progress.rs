//! A one-line progress meter for long file work, drawn on stderr only when it is a terminal.

use std::io::Write;
use std::time::{Duration, Instant};

/// Progress of reading an input of known or unknown size.
pub struct Progress {
    total: Option<u64>,
    started: Instant,
    last: Instant,
    drawn: bool,
}

impl Progress {
    /// A meter for an input of `total` bytes, if known.
    pub fn new(total: Option<u64>) -> Progress {
        let now = Instant::now();
        Progress {
            total,
            started: now,
            last: now,
            drawn: false,
        }
    }

    /// Redraw at most a few times a second.
    pub fn update(&mut self, bytes: u64, events: u64) {
        if self.last.elapsed() < Duration::from_millis(200) {
            return;
        }
        self.last = Instant::now();
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let mb = bytes as f64 / 1_048_576.0;
        let pct = self
            .total
            .filter(|t| *t > 0)
            .map(|t| format!("{:5.1}% ", 100.0 * bytes as f64 / t as f64))
            .unwrap_or_default();
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{pct}{mb:.1} MB, {events} events, {:.0} events/s   ",
            events as f64 / secs
        );
        let _ = err.flush();
        self.drawn = true;
    }

    /// Erase the meter so the next stderr line starts clean.
    pub fn clear(&mut self) {
        if self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r{:60}\r", "");
            let _ = err.flush();
            self.drawn = false;
        }
    }
}
