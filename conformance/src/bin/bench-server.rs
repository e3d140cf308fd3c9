//! The rgrpc benchmark server: `bench.Bench` and `helloworld.Greeter` on 127.0.0.1.
//!
//! `bench-server --port N [--threads T] [--count-allocs]`; prints `PORT n` first, a `STATS`
//! line on SIGUSR1, and exits on SIGINT/SIGTERM. `tonic-bench-server` is the same program on
//! tonic. `RGRPC_BENCH_OBSERVER=none|noop|otel` picks the server's observer (default none);
//! `RGRPC_BENCH_STANDARD_SERVICES=1` adds health and reflection (default off);
//! `RGRPC_BENCH_GRPC_WEB=1` also serves gRPC-Web to any origin (default off): to measure that
//! native calls pay nothing for it, and what a web call costs.

use std::process::ExitCode;

use rgrpc_conformance::bench::alloc::CountingAlloc;
use rgrpc_conformance::bench::creds;
use rgrpc_conformance::bench::server::{self, count_call};
use rgrpc_conformance::bench_observer::Choice;
use rgrpc_conformance::gen::bench::{Payload, StreamRequest};
use rgrpc_conformance::gen::bench_rgrpc::{Bench, BenchServer};
use rgrpc_examples::{Greeter, GreeterServer, HelloReply, HelloRequest, MyGreeter};
use rgrpc_runtime::server::{ServerCallHead, ServerInterceptor};
use rgrpc_runtime::tls::{Identity, ServerTlsConfig};
use rgrpc_runtime::web::GrpcWeb;
use rgrpc_runtime::{Intercepted, Request, Response, ResponseSender, Server, Status, Streaming};

/// `RGRPC_BENCH_STANDARD_SERVICES=1` also serves health and reflection (off by default, so
/// the benchmark serves what tonic's server does).
const STANDARD_SERVICES: &str = "RGRPC_BENCH_STANDARD_SERVICES";

/// `RGRPC_BENCH_GRPC_WEB=1` also serves gRPC-Web, to any origin (off by default).
const GRPC_WEB: &str = "RGRPC_BENCH_GRPC_WEB";

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// The bench service: echoes, streams and swallows payloads, doing no work of its own.
struct BenchService;

impl Bench for BenchService {
    async fn unary(&self, request: Request<Payload>) -> Result<Response<Payload>, Status> {
        count_call();
        Ok(Response::new(request.into_message()))
    }

    async fn server_stream(
        &self,
        request: Request<StreamRequest>,
        mut responses: ResponseSender<Payload>,
    ) -> Result<(), Status> {
        count_call();
        let body = vec![0x5a_u8; request.message().size as usize];
        for _ in 0..request.message().count {
            responses
                .send(Payload {
                    body: body.clone(),
                    ..Default::default()
                })
                .await?;
        }
        Ok(())
    }

    async fn client_stream(
        &self,
        mut request: Request<Streaming<Payload>>,
    ) -> Result<Response<Payload>, Status> {
        count_call();
        while request.message_mut().message().await?.is_some() {}
        Ok(Response::new(Payload::default()))
    }

    async fn bidi_echo(
        &self,
        mut request: Request<Streaming<Payload>>,
        mut responses: ResponseSender<Payload>,
    ) -> Result<(), Status> {
        count_call();
        while let Some(payload) = request.message_mut().message().await? {
            responses.send(payload).await?;
        }
        Ok(())
    }
}

/// The example greeter, counted for the `STATS` line.
struct CountingGreeter(MyGreeter);

impl Greeter for CountingGreeter {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        count_call();
        self.0.say_hello(request).await
    }
}

/// Lets every call through at once: what a ready interceptor costs.
struct PassThrough;

impl ServerInterceptor for PassThrough {
    fn on_call(&self, call: ServerCallHead) -> Intercepted<ServerCallHead> {
        Intercepted::proceed(call)
    }
}

fn main() -> ExitCode {
    let args = server::args_or_exit();
    let observer = match Choice::from_env() {
        Ok(observer) => observer,
        Err(e) => {
            eprintln!("bench-server: {e}");
            return ExitCode::from(2);
        }
    };
    let standard = std::env::var_os(STANDARD_SERVICES).is_some_and(|v| v == "1");
    let grpc_web = std::env::var_os(GRPC_WEB).is_some_and(|v| v == "1");
    let served = server::runtime(args.threads).and_then(|runtime| {
        runtime.block_on(async {
            let mut builder = Server::builder()
                .add_service(BenchServer::new(BenchService))
                .add_service(GreeterServer::new(CountingGreeter(MyGreeter)));
            if standard {
                let (_health, service) = rgrpc_runtime::health::service();
                builder = builder.add_service(service).add_reflection();
            }
            if args.tls {
                let identity = Identity::from_pem(creds::SERVER_CERT, creds::SERVER_KEY)?;
                builder = builder.tls(ServerTlsConfig::new(identity));
            }
            if args.interceptor {
                builder = builder.interceptor(PassThrough);
            }
            if grpc_web {
                builder = builder.grpc_web(GrpcWeb::new().allow_any_origin());
            }
            let server = observer
                .server(builder)
                .bind(("127.0.0.1", args.port))
                .await?;
            server::started(&args, server.local_addr()?.port())?;
            server.serve_with_shutdown(server::shutdown_signal()).await
        })
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-server: {e}");
            ExitCode::FAILURE
        }
    }
}
