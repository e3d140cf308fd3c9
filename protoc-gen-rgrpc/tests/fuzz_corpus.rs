//! Replays the plugin's fuzz corpus on stable: every file under `fuzz/corpus/plugin/` (the
//! CodeGeneratorRequests protoc sends for this repository's protos, and what fuzzing kept)
//! and `fuzz/regressions/plugin/` (crashes fuzzing found, kept once fixed) goes through
//! `protoc_gen_rgrpc::fuzz_entry`, the fuzz target's entry point.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

#[test]
fn every_corpus_and_regression_file_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut failures = Vec::new();
    let mut seeds = 0;
    for kind in ["corpus", "regressions"] {
        let Ok(dir) = std::fs::read_dir(root.join(kind).join("plugin")) else {
            continue;
        };
        for file in dir {
            let path = file.expect("directory entry").path();
            let data = std::fs::read(&path).expect("read corpus file");
            seeds += usize::from(kind == "corpus");
            if catch_unwind(AssertUnwindSafe(|| protoc_gen_rgrpc::fuzz_entry(&data))).is_err() {
                failures.push(path.display().to_string());
            }
        }
    }
    assert!(seeds > 0, "no corpus for the plugin's fuzz target");
    assert!(failures.is_empty(), "fuzz inputs that fail: {failures:#?}");
}
