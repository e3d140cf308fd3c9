//! Per-call credentials over loopback: what reaches the server over TLS, refusal over
//! plaintext TCP before anything is sent, per channel and per call, asynchronous sources,
//! and gRFC A54's restricted codes.

mod common;
mod gen;

use std::sync::atomic::Ordering;

use common::probe::probe_server;
use common::tls::{client_tls, server_tls};
use common::{bounded, echo, EchoClient};
use rgrpc_runtime::client::{
    BearerToken, CallCredentials, CompositeCredentials, CredentialsAnswer, CredentialsContext,
    StaticMetadata,
};
use rgrpc_runtime::{Channel, Code, MetadataMap, Request, Server, Status};

/// `(https://addr, probe)`.
async fn tls_probe() -> (String, common::probe::Probe) {
    let (uri, probe) = probe_server(|b| b.tls(server_tls())).await;
    (uri.replace("http://", "https://"), probe)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bearer_token_reaches_the_server_over_tls() {
    bounded(async {
        let (uri, _) = tls_probe().await;
        let channel = Channel::builder(&uri)
            .tls(client_tls())
            .credentials(BearerToken::new("s3cret").expect("token"))
            .connect()
            .await
            .expect("connect");
        let reply = EchoClient::new(channel)
            .unary(echo(""))
            .await
            .expect("unary");
        assert!(
            reply.message().message.ends_with("auth=Bearer s3cret"),
            "{}",
            reply.message().message
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_refused_over_plaintext_before_anything_is_sent() {
    bounded(async {
        let (uri, probe) = probe_server(|b| b).await;
        let channel = Channel::builder(&uri)
            .credentials(BearerToken::new("s3cret").expect("token"))
            .connect()
            .await
            .expect("connect");
        let client = EchoClient::new(channel);
        let err = client.unary(echo("")).await.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
        assert!(err.message().contains("plaintext"), "{}", err.message());
        // Per call, too.
        let plain = EchoClient::new(Channel::connect(&uri).await.expect("connect"));
        let err = plain
            .unary(Request::new(echo("")).with_credentials(BearerToken::new("t").expect("token")))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated);
        assert_eq!(
            probe.handled.load(Ordering::SeqCst),
            0,
            "nothing reached the server"
        );
        // Explicitly allowed: sent.
        let allowed = Channel::builder(&uri)
            .credentials(BearerToken::new("s3cret").expect("token"))
            .allow_insecure_credentials(true)
            .connect()
            .await
            .expect("connect");
        let reply = EchoClient::new(allowed)
            .unary(echo(""))
            .await
            .expect("unary");
        assert!(reply.message().message.ends_with("auth=Bearer s3cret"));
        // Metadata declared not secret needs no opt-in.
        let tenant = StaticMetadata::new()
            .with("x-order", "tenant-a")
            .expect("md")
            .not_secret();
        let channel = Channel::builder(&uri)
            .credentials(tenant)
            .connect()
            .await
            .expect("connect");
        let reply = EchoClient::new(channel)
            .unary(echo(""))
            .await
            .expect("unary");
        assert!(
            reply.message().message.contains("order=[\"tenant-a\"]"),
            "{}",
            reply.message().message
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unix_socket_is_protected_enough() {
    bounded(async {
        let dir = std::env::temp_dir().join(format!("rgrpc-creds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("s.sock");
        let probe = common::probe::Probe::default();
        let server = Server::builder()
            .add_service(common::EchoServer::new(probe.clone()))
            .remove_stale_socket(true)
            .bind_unix(&path)
            .expect("bind");
        tokio::spawn(server.serve());
        let channel = Channel::builder(&format!("unix:{}", path.display()))
            .credentials(BearerToken::new("local").expect("token"))
            .connect()
            .await
            .expect("connect");
        let reply = EchoClient::new(channel)
            .unary(echo(""))
            .await
            .expect("unary");
        assert!(reply.message().message.ends_with("auth=Bearer local"));
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await
}

/// Fetches its token asynchronously; or fails with the given code.
struct Fetched(Result<&'static str, Code>);

impl CallCredentials for Fetched {
    fn apply(&self, call: &CredentialsContext<'_>, _: &mut MetadataMap) -> CredentialsAnswer {
        let answer = self.0;
        let audience = call.service_url();
        CredentialsAnswer::pending(async move {
            tokio::task::yield_now().await;
            match answer {
                Ok(token) => {
                    let mut md = MetadataMap::new();
                    md.append("x-order", &audience).expect("md");
                    md.insert("authorization", &format!("Bearer {token}"))
                        .expect("md");
                    Ok(md)
                }
                Err(code) => Err(Status::new(code, "token service said no")),
            }
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_and_call_credentials_compose_and_async_sources_work() {
    bounded(async {
        let (uri, probe) = tls_probe().await;
        let api_key = StaticMetadata::new()
            .with("x-order", "api-key")
            .expect("md");
        let channel = Channel::builder(&uri)
            .tls(client_tls())
            .credentials(api_key)
            .connect()
            .await
            .expect("connect");
        let client = EchoClient::new(channel);
        // The channel's credentials, then the call's (asynchronous) ones.
        let reply = client
            .unary(Request::new(echo("")).with_credentials(Fetched(Ok("fresh"))))
            .await
            .expect("unary");
        let host = uri.trim_start_matches("https://");
        assert_eq!(
            reply.message().message,
            format!(
                "trail=[] order=[\"api-key\", \"https://{host}/rgrpc.test.Echo\"] deadline=false \
                 auth=Bearer fresh"
            )
        );
        // A composite as one source.
        let both = CompositeCredentials::new()
            .with(BearerToken::new("b").expect("token"))
            .with(
                StaticMetadata::new()
                    .with("x-order", "composite")
                    .expect("md"),
            );
        let reply = client
            .unary(Request::new(echo("")).with_credentials(both))
            .await
            .expect("unary");
        assert!(reply
            .message()
            .message
            .contains("\"api-key\", \"composite\""));
        assert!(reply.message().message.ends_with("auth=Bearer b"));
        // A54: a control-plane code from a credentials source is INTERNAL, and nothing is sent.
        let before = probe.handled.load(Ordering::SeqCst);
        for (code, want) in [
            (Code::NotFound, Code::Internal),
            (Code::InvalidArgument, Code::Internal),
            (Code::Unauthenticated, Code::Unauthenticated),
            (Code::Unavailable, Code::Unavailable),
        ] {
            let err = client
                .unary(Request::new(echo("")).with_credentials(Fetched(Err(code))))
                .await
                .unwrap_err();
            assert_eq!(err.code(), want, "{code:?}: {err:?}");
            assert!(
                err.message().contains("token service said no"),
                "{}",
                err.message()
            );
        }
        assert_eq!(probe.handled.load(Ordering::SeqCst), before);
    })
    .await
}
