//! Command-line flags of the bench servers and clients. Hand-parsed (`--flag value`) so the
//! harness needs no dependency that tonic's side would also have to pull in.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Flags of `bench-server`, `tonic-bench-server` and `h2-ceiling-server`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerArgs {
    /// `--port N`: the loopback port; 0 picks a free one (printed as `PORT n`).
    pub port: u16,
    /// `--threads T`: tokio worker threads (default 1).
    pub threads: usize,
    /// `--count-allocs`: count heap allocations (reported on SIGUSR1).
    pub count_allocs: bool,
    /// `--tls`: serve TLS with gRPC's test certificate (`server1.pem`).
    pub tls: bool,
    /// `--interceptor`: install one interceptor that lets every call through at once
    /// (rgrpc only: what a ready interceptor costs).
    pub interceptor: bool,
}

/// Usage of the servers.
pub const SERVER_USAGE: &str = "usage: SERVER --port N [--threads T] [--count-allocs] [--tls] \
    [--interceptor]\n\
    Serves on 127.0.0.1:N (0 = any free port; the first line printed is `PORT n`).\n\
    On SIGUSR1 prints `STATS calls=.. allocations=.. alloc_bytes=..`; exits on SIGINT/SIGTERM.";

impl ServerArgs {
    /// Parses the flags after the program name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<ServerArgs, String> {
        let mut parsed = ServerArgs {
            port: 0,
            threads: 1,
            count_allocs: false,
            tls: false,
            interceptor: false,
        };
        let mut port = None;
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            match flag.as_str() {
                "--port" => port = Some(value(&flag, args.next())?),
                "--threads" => parsed.threads = positive(&flag, args.next())?,
                "--count-allocs" => parsed.count_allocs = true,
                "--tls" => parsed.tls = true,
                "--interceptor" => parsed.interceptor = true,
                "-h" | "--help" => return Err(SERVER_USAGE.into()),
                _ => return Err(format!("unknown flag {flag:?}\n{SERVER_USAGE}")),
            }
        }
        parsed.port = port.ok_or_else(|| format!("--port is required\n{SERVER_USAGE}"))?;
        Ok(parsed)
    }
}

/// The call shape a client drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `Unary`, back to back on each of `concurrency` tasks; latency per call.
    Unary,
    /// `ServerStream` calls of `stream_count` messages of `size` bytes, one after another.
    ServerStream,
    /// `ClientStream` calls sending `stream_count` messages of `size` bytes.
    ClientStream,
    /// One `BidiEcho` stream per task, ping-pong: send one message, wait for its echo.
    Bidi,
}

impl Mode {
    /// The name used on the command line and in `RESULT` lines.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Unary => "unary",
            Mode::ServerStream => "server-stream",
            Mode::ClientStream => "client-stream",
            Mode::Bidi => "bidi",
        }
    }
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "unary" => Ok(Mode::Unary),
            "server-stream" => Ok(Mode::ServerStream),
            "client-stream" => Ok(Mode::ClientStream),
            "bidi" => Ok(Mode::Bidi),
            _ => Err(format!(
                "unknown mode {s:?} (unary, server-stream, client-stream, bidi)"
            )),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Flags of `bench-client` and `tonic-bench-client`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientArgs {
    /// `--addr http://127.0.0.1:N`.
    pub addr: String,
    /// `--mode unary|server-stream|client-stream|bidi` (default unary).
    pub mode: Mode,
    /// `--concurrency C`: tasks making calls at once (default 1).
    pub concurrency: usize,
    /// `--duration S`: the measured time, after the warm-up (default 5 s).
    pub duration: Duration,
    /// `--warmup S`: load before measuring starts (default 1 s).
    pub warmup: Duration,
    /// `--size B`: payload bytes per message (default 64).
    pub size: usize,
    /// `--connections K`: HTTP/2 connections the tasks are spread over (default 1).
    pub connections: usize,
    /// `--threads T`: tokio worker threads (default 1).
    pub threads: usize,
    /// `--stream-count N`: messages per streaming call (default: about 4 MiB worth, at
    /// least 64).
    pub stream_count: u32,
    /// `--count-allocs`: count heap allocations and report them per call or message.
    pub count_allocs: bool,
    /// `--interceptor`: install one interceptor that lets every call through at once
    /// (rgrpc only). An `https://` address means TLS, trusting gRPC's test CA and
    /// verifying `foo.test.google.fr`.
    pub interceptor: bool,
}

/// Usage of the clients.
pub const CLIENT_USAGE: &str = "usage: CLIENT --addr http[s]://127.0.0.1:N \
    [--mode unary|server-stream|client-stream|bidi] [--concurrency C] [--duration S] \
    [--warmup S] [--size B] [--connections K] [--threads T] [--stream-count N] \
    [--count-allocs] [--interceptor]\n\
    Prints a summary and one `RESULT key=value ...` line.";

impl ClientArgs {
    /// Parses the flags after the program name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<ClientArgs, String> {
        let mut parsed = ClientArgs {
            addr: String::new(),
            mode: Mode::Unary,
            concurrency: 1,
            duration: Duration::from_secs(5),
            warmup: Duration::from_secs(1),
            size: 64,
            connections: 1,
            threads: 1,
            stream_count: 0,
            count_allocs: false,
            interceptor: false,
        };
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            match flag.as_str() {
                "--addr" => parsed.addr = value(&flag, args.next())?,
                "--mode" => parsed.mode = value(&flag, args.next())?,
                "--concurrency" => parsed.concurrency = positive(&flag, args.next())?,
                "--duration" => parsed.duration = seconds(&flag, args.next())?,
                "--warmup" => parsed.warmup = seconds(&flag, args.next())?,
                "--size" => parsed.size = value(&flag, args.next())?,
                "--connections" => parsed.connections = positive(&flag, args.next())?,
                "--threads" => parsed.threads = positive(&flag, args.next())?,
                "--stream-count" => parsed.stream_count = positive(&flag, args.next())?,
                "--count-allocs" => parsed.count_allocs = true,
                "--interceptor" => parsed.interceptor = true,
                "-h" | "--help" => return Err(CLIENT_USAGE.into()),
                _ => return Err(format!("unknown flag {flag:?}\n{CLIENT_USAGE}")),
            }
        }
        if parsed.addr.is_empty() {
            return Err(format!("--addr is required\n{CLIENT_USAGE}"));
        }
        if parsed.duration.is_zero() {
            return Err("--duration must be more than 0".into());
        }
        if parsed.size > u32::MAX as usize {
            return Err("--size must fit in 32 bits".into());
        }
        if parsed.stream_count == 0 {
            parsed.stream_count = default_stream_count(parsed.size);
        }
        Ok(parsed)
    }
}

/// About 4 MiB per streaming call, at least 64 messages: long enough that opening the call
/// is a small part of it, short enough that calls keep starting during a run.
fn default_stream_count(size: usize) -> u32 {
    ((4 << 20) / size.max(1)).clamp(64, 1 << 16) as u32
}

fn value<T: FromStr>(flag: &str, value: Option<String>) -> Result<T, String>
where
    T::Err: fmt::Display,
{
    let value = value.ok_or_else(|| format!("{flag} needs a value"))?;
    value.parse().map_err(|e| format!("{flag} {value:?}: {e}"))
}

fn positive<T: FromStr + Default + PartialEq>(flag: &str, v: Option<String>) -> Result<T, String>
where
    T::Err: fmt::Display,
{
    let parsed: T = value(flag, v)?;
    if parsed == T::default() {
        return Err(format!("{flag} must be at least 1"));
    }
    Ok(parsed)
}

fn seconds(flag: &str, v: Option<String>) -> Result<Duration, String> {
    let secs: f64 = value(flag, v)?;
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{flag} {secs}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn server_flags() {
        let parsed = ServerArgs::parse(args("--port 0 --threads 2 --count-allocs")).unwrap();
        assert_eq!(
            parsed,
            ServerArgs {
                port: 0,
                threads: 2,
                count_allocs: true,
                tls: false,
                interceptor: false,
            }
        );
        let parsed = ServerArgs::parse(args("--port 0 --tls --interceptor")).unwrap();
        assert!(parsed.tls && parsed.interceptor);
        assert!(ServerArgs::parse(args("--threads 2")).is_err());
        assert!(ServerArgs::parse(args("--port 1 --threads 0")).is_err());
        assert!(ServerArgs::parse(args("--port 1 --bogus")).is_err());
    }

    #[test]
    fn client_flags_and_defaults() {
        let parsed = ClientArgs::parse(args("--addr http://127.0.0.1:1")).unwrap();
        assert_eq!(parsed.mode, Mode::Unary);
        assert_eq!(parsed.concurrency, 1);
        assert_eq!(parsed.size, 64);
        assert_eq!(parsed.stream_count, 65536);
        let parsed = ClientArgs::parse(args(
            "--addr a --mode bidi --concurrency 64 --duration 0.5 --warmup 0 --size 65536 \
             --connections 4 --threads 2 --count-allocs",
        ))
        .unwrap();
        assert_eq!(parsed.mode, Mode::Bidi);
        assert_eq!(parsed.concurrency, 64);
        assert_eq!(parsed.duration, Duration::from_millis(500));
        assert_eq!(parsed.warmup, Duration::ZERO);
        assert_eq!(parsed.connections, 4);
        assert_eq!(parsed.threads, 2);
        assert_eq!(parsed.stream_count, 64);
        assert!(parsed.count_allocs);
        assert!(!parsed.interceptor);
        assert!(
            ClientArgs::parse(args("--addr a --interceptor"))
                .unwrap()
                .interceptor
        );
    }

    #[test]
    fn client_flag_errors() {
        assert!(ClientArgs::parse(args("--mode unary")).is_err());
        assert!(ClientArgs::parse(args("--addr a --mode sideways")).is_err());
        assert!(ClientArgs::parse(args("--addr a --duration 0")).is_err());
        assert!(ClientArgs::parse(args("--addr a --duration -1")).is_err());
        assert!(ClientArgs::parse(args("--addr a --concurrency")).is_err());
    }
}
