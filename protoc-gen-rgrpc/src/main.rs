//! `protoc-gen-rgrpc`: reads a `CodeGeneratorRequest` on stdin, writes a
//! `CodeGeneratorResponse` on stdout. Every failure is reported in the response's `error`
//! field, as the plugin protocol asks; the exit code is non-zero only if stdin/stdout fail.

use std::io::{Read, Write};
use std::process::ExitCode;

use protobuf::plugin::CodeGeneratorRequest;
use protobuf::Message;

fn main() -> ExitCode {
    // Panics are caught and reported in the response; keep them off protoc's stderr.
    std::panic::set_hook(Box::new(|_| {}));
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut input) {
        eprintln!("protoc-gen-rgrpc: reading stdin: {e}");
        return ExitCode::FAILURE;
    }
    let response = match CodeGeneratorRequest::parse_from_bytes(&input) {
        Ok(request) => protoc_gen_rgrpc::run(&request),
        Err(e) => protoc_gen_rgrpc::error_response(format!("invalid CodeGeneratorRequest: {e}")),
    };
    let written = response
        .write_to_bytes()
        .map_err(|e| e.to_string())
        .and_then(|bytes| {
            std::io::stdout()
                .write_all(&bytes)
                .map_err(|e| e.to_string())
        });
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("protoc-gen-rgrpc: writing response: {e}");
            ExitCode::FAILURE
        }
    }
}
