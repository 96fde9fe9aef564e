#![no_main]
//! Fuzz the `entra-signin` source: `parse` and the shared framing, with the invariants in
//! `midwatch_fuzz::check`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| midwatch_fuzz::check("entra-signin", data));
