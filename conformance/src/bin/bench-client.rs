//! The rgrpc benchmark client: drives `bench.Bench` and prints calls/s, messages/s, MB/s,
//! latency percentiles and a `RESULT` line.
//!
//! `bench-client --addr http://127.0.0.1:N --mode unary|server-stream|client-stream|bidi
//! --concurrency C --duration S --size B [--connections K] [--threads T] [--warmup S]
//! [--stream-count N] [--count-allocs]`. `tonic-bench-client` is the same program on tonic.
//! `RGRPC_BENCH_OBSERVER=none|noop|otel` picks the channel's observer (default none).

use std::process::ExitCode;
use std::time::Instant;

use rgrpc_conformance::bench::alloc::CountingAlloc;
use rgrpc_conformance::bench::creds;
use rgrpc_conformance::bench::load::{self, BenchConn, Meter};
use rgrpc_conformance::bench_observer::Choice;
use rgrpc_conformance::gen::bench::{Payload, StreamRequest};
use rgrpc_conformance::gen::bench_rgrpc::BenchClient;
use rgrpc_runtime::client::{ClientCallHead, ClientInterceptor};
use rgrpc_runtime::tls::{ClientTlsConfig, TrustRoots};
use rgrpc_runtime::{Channel, Intercepted};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// One rgrpc channel (one HTTP/2 connection), shared by the tasks assigned to it.
#[derive(Clone)]
struct Conn(BenchClient);

fn payload(body: &[u8]) -> Payload {
    Payload {
        body: body.to_vec(),
        ..Default::default()
    }
}

impl BenchConn for Conn {
    async fn unary(&mut self, body: &[u8]) -> Result<usize, String> {
        let reply = self
            .0
            .unary(payload(body))
            .await
            .map_err(|s| s.to_string())?;
        Ok(reply.message().body.len())
    }

    async fn server_stream(
        &mut self,
        count: u32,
        size: u32,
        meter: &mut Meter,
    ) -> Result<(), String> {
        let request = StreamRequest {
            count,
            size,
            ..Default::default()
        };
        let mut stream = self
            .0
            .server_stream(request)
            .await
            .map_err(|s| s.to_string())?;
        while let Some(message) = stream.message().await.map_err(|s| s.to_string())? {
            meter.message(message.body.len());
            if meter.stopped() {
                break; // dropping the stream cancels the call
            }
        }
        Ok(())
    }

    async fn client_stream(
        &mut self,
        count: u32,
        body: &[u8],
        meter: &mut Meter,
    ) -> Result<(), String> {
        let mut call = self.0.client_stream(()).await.map_err(|s| s.to_string())?;
        for _ in 0..count {
            if meter.stopped() {
                return Ok(()); // dropping the call cancels it
            }
            call.send(payload(body)).await.map_err(|s| s.to_string())?;
            meter.message(body.len());
        }
        call.finish().await.map_err(|s| s.to_string())?;
        Ok(())
    }

    async fn bidi(&mut self, body: &[u8], meter: &mut Meter) -> Result<(), String> {
        let (mut requests, mut replies) = self.0.bidi_echo(()).await.map_err(|s| s.to_string())?;
        while !meter.stopped() {
            let start = Instant::now();
            requests
                .send(payload(body))
                .await
                .map_err(|s| s.to_string())?;
            let echo = replies
                .message()
                .await
                .map_err(|s| s.to_string())?
                .ok_or("the server ended the stream early")?;
            meter.round_trip(start.elapsed());
            meter.message(echo.body.len());
        }
        requests.close().map_err(|s| s.to_string())?;
        while replies
            .message()
            .await
            .map_err(|s| s.to_string())?
            .is_some()
        {}
        Ok(())
    }
}

/// Lets every call through at once: what a ready interceptor costs.
struct PassThrough;

impl ClientInterceptor for PassThrough {
    fn on_call(&self, call: ClientCallHead) -> Intercepted<ClientCallHead> {
        Intercepted::proceed(call)
    }
}

fn main() -> ExitCode {
    let observer = match Choice::from_env() {
        Ok(observer) => observer,
        Err(e) => {
            eprintln!("bench-client: {e}");
            return ExitCode::from(2);
        }
    };
    load::main("rgrpc", |args| async move {
        let mut builder = observer.channel(Channel::builder(&args.addr));
        if args.addr.starts_with("https://") {
            let roots = TrustRoots::from_pem(creds::CA).map_err(|e| e.to_string())?;
            let tls = ClientTlsConfig::new()
                .trust_roots(roots)
                .server_name(creds::SERVER_NAME);
            builder = builder.tls(tls);
        }
        if args.interceptor {
            builder = builder.interceptor(PassThrough);
        }
        let channel = builder.connect().await.map_err(|s| s.to_string())?;
        Ok(Conn(BenchClient::new(channel)))
    })
}
