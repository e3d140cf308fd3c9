//! Per-call credentials against gRPC C-core (Python grpcio) over TLS with gRPC's test
//! credentials: rgrpc's bearer token into a grpcio server that requires it, and grpcio's
//! `access_token_call_credentials` into an rgrpc server that checks it.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod peer;

use peer::PythonServer;
use rgrpc_conformance::gen::messages::SimpleRequest;
use rgrpc_conformance::gen::test_rgrpc::TestServiceClient;
use rgrpc_conformance::interop::{server, tls};
use rgrpc_runtime::client::BearerToken;
use rgrpc_runtime::server::{ServerCallHead, ServerInterceptor};
use rgrpc_runtime::{Channel, Code, Intercepted, Request, Server, Status};
use tokio::process::Command;

const TEST_TIMEOUT: Duration = Duration::from_secs(120);

async fn client(port: u16, token: Option<&str>) -> TestServiceClient {
    let tls = tls::client_config(true, None, Some(tls::TEST_HOST_OVERRIDE)).expect("test CA");
    let mut builder = Channel::builder(&format!("https://127.0.0.1:{port}")).tls(tls);
    if let Some(token) = token {
        builder = builder.credentials(BearerToken::new(token).expect("token"));
    }
    TestServiceClient::new(builder.connect().await.expect("connect"))
}

#[tokio::test(flavor = "multi_thread")]
async fn rgrpc_bearer_token_into_a_grpcio_server() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let server = PythonServer::start(
            "interop_server.py",
            &[
                "--port=0",
                "--lifetime=300",
                "--use_tls=true",
                "--require_bearer=s3cret",
            ],
        )
        .await;
        let port = server.port;
        // Per channel.
        client(port, Some("s3cret"))
            .await
            .unary_call(SimpleRequest::new())
            .await
            .expect("the token was accepted");
        // Per call, on a channel without credentials.
        let bare = client(port, None).await;
        bare.unary_call(
            Request::new(SimpleRequest::new())
                .with_credentials(BearerToken::new("s3cret").expect("token")),
        )
        .await
        .expect("the per-call token was accepted");
        // Without it, or with another, grpcio refuses.
        let err = bare.unary_call(SimpleRequest::new()).await.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
        let err = client(port, Some("wrong"))
            .await
            .unary_call(SimpleRequest::new())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
        server.stop().await;
    })
    .await
    .expect("test timed out");
}

/// Requires `authorization: Bearer <token>`; records what it saw.
#[derive(Clone)]
struct RequireBearer {
    expected: &'static str,
    seen: Arc<Mutex<Vec<String>>>,
}

impl ServerInterceptor for RequireBearer {
    fn on_call(&self, call: ServerCallHead) -> Intercepted<ServerCallHead> {
        let got = call
            .metadata()
            .get("authorization")
            .unwrap_or("")
            .to_owned();
        let ok = got == self.expected;
        self.seen.lock().expect("lock").push(got);
        if ok {
            Intercepted::proceed(call)
        } else {
            Intercepted::reject(Status::unauthenticated("missing or wrong bearer token"))
        }
    }
}

async fn grpcio_client(port: u16, token: &str) -> (bool, String) {
    let output = Command::new(peer::python())
        .arg(peer::script("interop_client.py"))
        .arg("--server_host=127.0.0.1")
        .arg(format!("--server_port={port}"))
        .arg("--test_case=large_unary")
        .arg("--use_tls=true")
        .arg("--use_test_ca=true")
        .arg(format!(
            "--server_host_override={}",
            tls::TEST_HOST_OVERRIDE
        ))
        .arg(format!("--access_token={token}"))
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run interop_client.py");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn grpcio_access_token_into_an_rgrpc_server() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let builder = server::register(Server::builder())
            .tls(tls::server_config(None, None).expect("test credentials"))
            .interceptor(RequireBearer {
                expected: "Bearer from-grpcio",
                seen: seen.clone(),
            });
        let server = builder.bind("127.0.0.1:0").await.expect("bind");
        let port = server.local_addr().expect("addr").port();
        tokio::spawn(server.serve());

        let (ok, stderr) = grpcio_client(port, "from-grpcio").await;
        assert!(ok, "grpcio's token was refused:\n{stderr}");
        let (ok, stderr) = grpcio_client(port, "another").await;
        assert!(!ok, "a wrong token must fail");
        assert!(stderr.contains("UNAUTHENTICATED"), "{stderr}");
        let seen = seen.lock().expect("lock").clone();
        assert_eq!(seen, ["Bearer from-grpcio", "Bearer another"]);
    })
    .await
    .expect("test timed out");
}
