//! Replays the fuzz corpora on stable: every file under `fuzz/corpus/<target>/` (the
//! committed seeds and what fuzzing kept) and `fuzz/regressions/<target>/` (every crash
//! fuzzing ever found, kept once fixed) goes through the same entry point as its fuzz target
//! (`rgrpc_runtime::fuzzing`). `make fuzz` fuzzes on nightly; this keeps what it found
//! fixed on every `make test`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use rgrpc_runtime::fuzzing::TARGETS;

#[test]
fn every_corpus_and_regression_file_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut failures = Vec::new();
    for (name, entry) in TARGETS {
        let mut seeds = 0;
        for kind in ["corpus", "regressions"] {
            let Ok(dir) = std::fs::read_dir(root.join(kind).join(name)) else {
                continue;
            };
            for file in dir {
                let path = file.expect("directory entry").path();
                let data = std::fs::read(&path).expect("read corpus file");
                if kind == "corpus" {
                    seeds += 1;
                }
                if catch_unwind(AssertUnwindSafe(|| entry(&data))).is_err() {
                    failures.push(path.display().to_string());
                }
            }
        }
        assert!(seeds > 0, "no corpus for fuzz target {name}");
    }
    assert!(failures.is_empty(), "fuzz inputs that fail: {failures:#?}");
}
