#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| protoc_gen_rgrpc::fuzz_entry(data));
