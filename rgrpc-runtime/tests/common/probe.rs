//! [`Probe`]: an Echo service that reports what its handler saw (extensions left by
//! interceptors, metadata, deadline, credentials) and counts how often a handler ran.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rgrpc_runtime::{Code, Request, Response, ResponseSender, Server, Status, Streaming};

use super::{EchoRequest, EchoResponse, EchoServer};
use crate::gen::echo_rgrpc::Echo;

/// What interceptors leave for the handler.
#[derive(Clone, Debug, Default)]
pub struct Trail(pub Vec<&'static str>);

/// A service that reports what it saw and counts how often a handler ran.
#[derive(Clone, Default)]
pub struct Probe {
    pub handled: Arc<AtomicUsize>,
}

impl Echo for Probe {
    async fn unary(&self, req: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        self.handled.fetch_add(1, Ordering::SeqCst);
        if req.message().sleep_ms > 0 {
            tokio::time::sleep(Duration::from_millis(req.message().sleep_ms.into())).await;
        }
        let trail = req.extensions().get::<Trail>().cloned().unwrap_or_default();
        let order: Vec<&str> = req.metadata().get_all("x-order").collect();
        let message = format!(
            "trail={:?} order={:?} deadline={} auth={}",
            trail.0,
            order,
            req.deadline().is_some(),
            req.metadata().get("authorization").unwrap_or("-"),
        );
        Ok(Response::new(EchoResponse {
            message,
            ..Default::default()
        }))
    }
    async fn server_stream(
        &self,
        req: Request<EchoRequest>,
        mut out: ResponseSender<EchoResponse>,
    ) -> Result<(), Status> {
        self.handled.fetch_add(1, Ordering::SeqCst);
        for i in 0..req.message().count {
            out.send(EchoResponse {
                message: i.to_string(),
                ..Default::default()
            })
            .await?;
        }
        if req.message().fail_code != 0 {
            return Err(Status::new(
                Code::from_i32(req.message().fail_code),
                "asked to fail",
            ));
        }
        Ok(())
    }
    async fn client_stream(
        &self,
        req: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoResponse>, Status> {
        self.handled.fetch_add(1, Ordering::SeqCst);
        let mut requests = req.into_message();
        let mut n = 0;
        while requests.message().await?.is_some() {
            n += 1;
        }
        Ok(Response::new(EchoResponse {
            message: n.to_string(),
            ..Default::default()
        }))
    }
    async fn bidi(
        &self,
        _: Request<Streaming<EchoRequest>>,
        _: ResponseSender<EchoResponse>,
    ) -> Result<(), Status> {
        self.handled.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// A server of [`Probe`] on a free loopback port: `(http://addr, the probe)`.
pub async fn probe_server(
    configure: impl FnOnce(rgrpc_runtime::ServerBuilder) -> rgrpc_runtime::ServerBuilder,
) -> (String, Probe) {
    let probe = Probe::default();
    let server = configure(Server::builder().add_service(EchoServer::new(probe.clone())))
        .bind("127.0.0.1:0")
        .await
        .expect("bind");
    let uri = format!("http://{}", server.local_addr().expect("addr"));
    tokio::spawn(server.serve());
    (uri, probe)
}
