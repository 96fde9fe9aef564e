#![no_main]
//! Fuzz the evidence formats a verifier reads from untrusted hands: segment files (frames,
//! record bodies, checkpoints, tombstones) and bundles (tar, JSON lines, proofs), with the
//! invariants in `midwatch_fuzz::check_evidence`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| midwatch_fuzz::check_evidence(data));
