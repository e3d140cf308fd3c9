//! `interop-server --port=N [--use_tls=false [--tls_cert_file=F --tls_key_file=F]]
//! [--host=ADDR]`: the gRPC interop test server
//! (`grpc.testing.TestService`, see `rgrpc_conformance::interop::server`), with
//! `grpc.health.v1.Health` and server reflection beside it.
//!
//! Flags are the spec's, as `--name=value` or `--name value`; `--host` (default `0.0.0.0`)
//! is an rgrpc addition so runners can stay on loopback. `--port=0` (the default) picks a
//! free port. Once listening, the first line on stdout is `PORT <n>`. Stops gracefully on
//! SIGINT or SIGTERM. gRPC-Web is served on the same port, over HTTP/1.1 and HTTP/2, to
//! any origin ([`server::grpc_web`]).

use std::process::ExitCode;
use std::time::Duration;

use rgrpc_conformance::interop;
use rgrpc_conformance::interop::flags::{FlagError, Flags};
use rgrpc_conformance::interop::server;
use rgrpc_runtime::Server;

const USAGE: &str = "usage: interop-server [--port=N] [--use_tls=false] [--tls_cert_file=F] \
[--tls_key_file=F] [--host=ADDR]";

#[tokio::main]
async fn main() -> ExitCode {
    let known = ["port", "use_tls", "tls_cert_file", "tls_key_file", "host"];
    let flags = match Flags::parse(std::env::args().skip(1), &known) {
        Ok(flags) => flags,
        Err(FlagError::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => return usage_error(&e.to_string()),
    };
    let port: u16 = match flags.parse_or("port", 0) {
        Ok(port) => port,
        Err(e) => return usage_error(&e.to_string()),
    };
    let use_tls = match flags.bool_or("use_tls", false) {
        Ok(use_tls) => use_tls,
        Err(e) => return usage_error(&e.to_string()),
    };
    let host = flags.get("host").unwrap_or("0.0.0.0");

    // Health and reflection beside TestService, as operators' tools (grpcurl, buf curl,
    // probes) expect; a graceful stop reports NOT_SERVING first. gRPC-Web on the same port.
    let (_health, builder) = server::register_with_standard_services(Server::builder());
    let mut builder = builder
        .grpc_web(server::grpc_web())
        .shutdown_grace(Duration::from_secs(1));
    if use_tls {
        let (cert, key) = (flags.get("tls_cert_file"), flags.get("tls_key_file"));
        if cert.is_some() != key.is_some() {
            return usage_error("--tls_cert_file and --tls_key_file go together");
        }
        match interop::tls::server_config(cert, key) {
            Ok(config) => builder = builder.tls(config),
            Err(e) => {
                eprintln!("interop-server: --use_tls: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let server = match builder.bind((host, port)).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("interop-server: cannot listen on {host}:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match server.local_addr() {
        Ok(addr) => println!("PORT {}", addr.port()),
        Err(e) => {
            eprintln!("interop-server: no local address: {e}");
            return ExitCode::FAILURE;
        }
    }
    match server.serve_with_shutdown(stop_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("interop-server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("interop-server: {message}\n{USAGE}");
    ExitCode::from(2)
}

/// SIGINT or SIGTERM, whichever comes first.
async fn stop_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            eprintln!("interop-server: cannot watch SIGTERM ({e}); stopping on SIGINT only");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
