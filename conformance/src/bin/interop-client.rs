//! `interop-client --server_host=H --server_port=N --test_case=NAME [--use_tls=false]
//! [--soak_*=…]`: the gRPC interop test client (see `rgrpc_conformance::interop::client`).
//!
//! Exits 0 when the case passes, 1 with a message naming the case and the mismatch when it
//! fails, 2 on a bad command line. `--test_case=all` (an rgrpc addition) runs every case
//! and prints one line per case.

use std::process::ExitCode;
use std::time::Duration;

use rgrpc_conformance::interop;
use rgrpc_conformance::interop::client::{self, Config, SoakConfig, TestCase};
use rgrpc_conformance::interop::flags::{FlagError, Flags};

const USAGE: &str = "usage: interop-client --server_port=N [--server_host=localhost] \
[--test_case=large_unary|all|…] [--use_tls=false] [--use_test_ca=false] [--ca_file=F] \
[--server_host_override=NAME] [--soak_iterations=10] \
[--soak_max_failures=0] [--soak_per_iteration_max_acceptable_latency_ms=1000] \
[--soak_overall_timeout_seconds=10] [--soak_min_time_ms_between_rpcs=0] \
[--soak_request_size=271828] [--soak_response_size=314159]";

const FLAGS: &[&str] = &[
    "server_host",
    "server_port",
    "test_case",
    "use_tls",
    "use_test_ca",
    "ca_file",
    "server_host_override",
    "soak_iterations",
    "soak_max_failures",
    "soak_per_iteration_max_acceptable_latency_ms",
    "soak_overall_timeout_seconds",
    "soak_min_time_ms_between_rpcs",
    "soak_request_size",
    "soak_response_size",
];

#[tokio::main]
async fn main() -> ExitCode {
    let (config, cases) = match parse(std::env::args().skip(1)) {
        Ok(parsed) => parsed,
        Err(FlagError::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(FlagError::Invalid(message)) => {
            eprintln!("interop-client: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut failed = 0;
    for &case in &cases {
        match client::run(case, &config).await {
            Ok(()) => eprintln!("interop-client: {case}: passed"),
            Err(failure) => {
                failed += 1;
                eprintln!("interop-client: {case}: FAILED: {failure}");
            }
        }
    }
    if cases.len() > 1 {
        eprintln!(
            "interop-client: {} passed, {failed} failed",
            cases.len() - failed
        );
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn parse(args: impl Iterator<Item = String>) -> Result<(Config, Vec<TestCase>), FlagError> {
    let flags = Flags::parse(args, FLAGS)?;
    let tls = if flags.bool_or("use_tls", false)? {
        let config = interop::tls::client_config(
            flags.bool_or("use_test_ca", false)?,
            flags.get("ca_file"),
            flags.get("server_host_override"),
        )
        .map_err(|e| FlagError::Invalid(format!("--use_tls: {e}")))?;
        Some(config)
    } else {
        None
    };
    let server_port: u16 = flags
        .get("server_port")
        .ok_or_else(|| FlagError::Invalid("--server_port is required".into()))?
        .parse()
        .map_err(|e| FlagError::Invalid(format!("--server_port: {e}")))?;
    let name = flags.get("test_case").unwrap_or("large_unary");
    let cases = if name == "all" {
        TestCase::ALL.to_vec()
    } else {
        vec![TestCase::from_name(name).ok_or_else(|| {
            let known: Vec<&str> = TestCase::ALL.iter().map(|c| c.name()).collect();
            FlagError::Invalid(format!(
                "unknown --test_case={name} (known: all, {})",
                known.join(", ")
            ))
        })?]
    };
    let defaults = SoakConfig::default();
    let millis = |name, default: Duration| -> Result<Duration, FlagError> {
        let ms = flags.parse_or(name, u64::try_from(default.as_millis()).unwrap_or(u64::MAX))?;
        Ok(Duration::from_millis(ms))
    };
    let soak = SoakConfig {
        iterations: flags.parse_or("soak_iterations", defaults.iterations)?,
        max_failures: flags.parse_or("soak_max_failures", defaults.max_failures)?,
        max_acceptable_latency: millis(
            "soak_per_iteration_max_acceptable_latency_ms",
            defaults.max_acceptable_latency,
        )?,
        overall_timeout: Duration::from_secs(flags.parse_or(
            "soak_overall_timeout_seconds",
            defaults.overall_timeout.as_secs(),
        )?),
        min_time_between_rpcs: millis(
            "soak_min_time_ms_between_rpcs",
            defaults.min_time_between_rpcs,
        )?,
        request_size: flags.parse_or("soak_request_size", defaults.request_size)?,
        response_size: flags.parse_or("soak_response_size", defaults.response_size)?,
    };
    let config = Config {
        server_host: flags.get("server_host").unwrap_or("localhost").to_owned(),
        server_port,
        soak,
        tls,
    };
    Ok((config, cases))
}
