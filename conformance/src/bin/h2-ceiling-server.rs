//! The ceiling for a gRPC server on `h2`: answers every request with one precomputed
//! `helloworld.HelloReply`, doing nothing a gRPC server must do beyond reading the body and
//! writing headers, one DATA frame and `grpc-status: 0` trailers.
//!
//! `h2-ceiling-server --port N [--threads T] [--count-allocs]`, with the same `PORT` and
//! `STATS` lines as `bench-server`. The bench compares rgrpc's server with this to show how
//! much of the time is the gRPC layer and how much is HTTP/2 itself.
//!
//! Requests are answered inline in the connection's own task (no task per request), and the
//! connection is driven once per batch: every stream that is ready is read and answered
//! before h2 writes, so one write carries many responses. Flushing once per batch instead of
//! once per response measured about twice the throughput at `-c 8 -m 32`.

use std::future::poll_fn;
use std::process::ExitCode;
use std::task::{Context, Poll};

use bytes::Bytes;
use h2::server::SendResponse;
use h2::RecvStream;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Response};
use rgrpc_conformance::bench::alloc::CountingAlloc;
use rgrpc_conformance::bench::server::{self, count_call};
use tokio::net::{TcpListener, TcpStream};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// `HelloReply { message: "Hello world" }` with its 5-byte gRPC frame prefix.
const REPLY: &[u8] = b"\x00\x00\x00\x00\x0d\x0a\x0bHello world";

/// A request whose body is still being read.
struct Pending {
    body: RecvStream,
    respond: SendResponse<Bytes>,
}

impl Pending {
    /// Reads what has arrived of the body; once it has all arrived, queues the reply.
    /// `Ready` when the request is finished with (answered, or failed).
    fn poll(&mut self, cx: &mut Context<'_>, trailers: &HeaderMap) -> Poll<()> {
        loop {
            match self.body.poll_data(cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    // Give the window back at once, or the connection window drains.
                    let _ = self.body.flow_control().release_capacity(chunk.len());
                }
                Poll::Ready(Some(Err(_))) => return Poll::Ready(()),
                Poll::Ready(None) => break,
                Poll::Pending => return Poll::Pending,
            }
        }
        let mut head = Response::new(());
        head.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        if let Ok(mut send) = self.respond.send_response(head, false) {
            let _ = send.send_data(Bytes::from_static(REPLY), false);
            let _ = send.send_trailers(trailers.clone());
        }
        count_call();
        Poll::Ready(())
    }
}

async fn serve_connection(tcp: TcpStream) {
    let _ = tcp.set_nodelay(true);
    // The same windows as rgrpc's server defaults.
    let mut conn = match h2::server::Builder::new()
        .initial_window_size(1024 * 1024)
        .initial_connection_window_size(2 * 1024 * 1024)
        .handshake::<_, Bytes>(tcp)
        .await
    {
        Ok(conn) => conn,
        Err(_) => return,
    };
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    let mut pending: Vec<Pending> = Vec::new();
    let _ = poll_fn(|cx| loop {
        // Take every stream h2 has ready. Each poll also reads from the socket and writes
        // out whatever replies were queued since the last one.
        loop {
            match conn.poll_accept(cx) {
                Poll::Ready(Some(Ok((request, respond)))) => pending.push(Pending {
                    body: request.into_body(),
                    respond,
                }),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => break,
            }
        }
        let before = pending.len();
        pending.retain_mut(|p| p.poll(cx, &trailers).is_pending());
        if pending.len() == before {
            return Poll::Pending;
        }
        // Some replies were queued: go round so h2 writes them in one go.
    })
    .await;
}

fn main() -> ExitCode {
    let args = server::args_or_exit();
    let served = server::runtime(args.threads).and_then(|runtime| {
        runtime.block_on(async {
            let listener = TcpListener::bind(("127.0.0.1", args.port)).await?;
            server::started(&args, listener.local_addr()?.port())?;
            let shutdown = server::shutdown_signal();
            tokio::pin!(shutdown);
            loop {
                tokio::select! {
                    _ = &mut shutdown => return Ok(()),
                    accepted = listener.accept() => match accepted {
                        Ok((tcp, _)) => {
                            tokio::spawn(serve_connection(tcp));
                        }
                        Err(e) => {
                            eprintln!("accept failed: {e}");
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        }
                    },
                }
            }
        })
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("h2-ceiling-server: {e}");
            ExitCode::FAILURE
        }
    }
}
