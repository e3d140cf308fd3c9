//! `bench-client` on tonic: the same flags, load loop and `RESULT` line.
//!
//! Streaming requests are fed through a `tokio::sync::mpsc` channel wrapped as a stream,
//! the usual way to send from a loop with tonic.

use std::process::ExitCode;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};
use tonic_bench::harness::creds;
use tonic_bench::bench::bench_client::BenchClient;
use tonic_bench::bench::{Payload, StreamRequest};
use tonic_bench::harness::alloc::CountingAlloc;
use tonic_bench::harness::load::{self, BenchConn, Meter};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// One tonic channel (one HTTP/2 connection); each task holds its own clone of the client.
#[derive(Clone)]
struct Conn(BenchClient<Channel>);

fn payload(body: &[u8]) -> Payload {
    Payload {
        body: body.to_vec(),
    }
}

impl BenchConn for Conn {
    async fn unary(&mut self, body: &[u8]) -> Result<usize, String> {
        let reply = self
            .0
            .unary(payload(body))
            .await
            .map_err(|s| s.to_string())?;
        Ok(reply.into_inner().body.len())
    }

    async fn server_stream(
        &mut self,
        count: u32,
        size: u32,
        meter: &mut Meter,
    ) -> Result<(), String> {
        let request = StreamRequest { count, size };
        let mut stream = self
            .0
            .server_stream(request)
            .await
            .map_err(|s| s.to_string())?
            .into_inner();
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
        let (tx, rx) = mpsc::channel(64);
        let call = self.0.client_stream(ReceiverStream::new(rx));
        let send = async move {
            for _ in 0..count {
                // Past the stop, or once the call has ended (its status says why), stop
                // sending; dropping `tx` then ends the request stream.
                if meter.stopped() || tx.send(payload(body)).await.is_err() {
                    return;
                }
                meter.message(body.len());
            }
        };
        let (result, ()) = tokio::join!(call, send);
        result.map(drop).map_err(|s| s.to_string())
    }

    async fn bidi(&mut self, body: &[u8], meter: &mut Meter) -> Result<(), String> {
        let (tx, rx) = mpsc::channel(1);
        // Queue the first message before awaiting the call: a server may hold its response
        // headers until it has something to send.
        let mut start = Instant::now();
        tx.send(payload(body)).await.map_err(|e| e.to_string())?;
        let mut replies = self
            .0
            .bidi_echo(ReceiverStream::new(rx))
            .await
            .map_err(|s| s.to_string())?
            .into_inner();
        loop {
            let echo = replies
                .message()
                .await
                .map_err(|s| s.to_string())?
                .ok_or("the server ended the stream early")?;
            meter.round_trip(start.elapsed());
            meter.message(echo.body.len());
            if meter.stopped() {
                break;
            }
            start = Instant::now();
            tx.send(payload(body)).await.map_err(|e| e.to_string())?;
        }
        drop(tx);
        while replies
            .message()
            .await
            .map_err(|s| s.to_string())?
            .is_some()
        {}
        Ok(())
    }
}

fn main() -> ExitCode {
    load::main("tonic", |args| async move {
        if args.interceptor {
            return Err("--interceptor is rgrpc's only".to_owned());
        }
        let https = args.addr.starts_with("https://");
        let mut endpoint = Channel::from_shared(args.addr).map_err(|e| e.to_string())?;
        if https {
            let tls = ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(creds::CA))
                .domain_name(creds::SERVER_NAME);
            endpoint = endpoint.tls_config(tls).map_err(|e| e.to_string())?;
        }
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        Ok(Conn(BenchClient::new(channel)))
    })
}
