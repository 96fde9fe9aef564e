#![no_main]
//! Fuzz the `ocsf` source: `parse` and the shared framing, with the invariants in
//! `midwatch_fuzz::check`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| midwatch_fuzz::check("ocsf", data));
