#![no_main]
//! Fuzz Sigma rule files: loading, compiling, correlation parsing and matching, with the
//! invariants in `midwatch_fuzz::check_rules`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| midwatch_fuzz::check_rules(data));
