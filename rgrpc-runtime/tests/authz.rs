//! Authorization (gRFC A43) end to end: the policy as a server interceptor over mTLS, with
//! principals from the client certificates of the test PKI.

mod common;
mod gen;

use std::sync::atomic::Ordering;

use common::probe::probe_server;
use common::tls::{ca, client_mtls, client_tls, server_tls};
use common::{bounded, echo, EchoClient};
use rgrpc_runtime::authz::AuthzPolicy;
use rgrpc_runtime::tls::{ClientAuth, ClientTlsConfig};
use rgrpc_runtime::{Channel, Code, Request};

const POLICY: &str = r#"{
  "name": "echo",
  "deny_rules": [
    { "name": "no-streams-for-other", "source": { "principals": ["spiffe://rgrpc.test/other"] },
      "request": { "paths": ["/rgrpc.test.Echo/*Stream"] } }
  ],
  "allow_rules": [
    { "name": "client", "source": { "principals": ["spiffe://rgrpc.test/client"] } },
    { "name": "other-unary", "source": { "principals": ["CN=other,O=rgrpc"] },
      "request": { "paths": ["/rgrpc.test.Echo/Unary"] } },
    { "name": "anonymous-with-tenant",
      "request": { "paths": ["/rgrpc.test.Echo/Unary"],
                   "headers": [{ "key": "x-tenant", "values": ["acme"] }] } }
  ]
}"#;

async fn client(uri: &str, tls: ClientTlsConfig) -> EchoClient {
    let uri = uri.replace("http://", "https://");
    EchoClient::new(
        Channel::builder(&uri)
            .tls(tls)
            .connect()
            .await
            .expect("connect"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_decisions_over_mtls() {
    bounded(async {
        let policy = AuthzPolicy::from_json(POLICY).expect("policy");
        let (uri, probe) = probe_server(|b| {
            b.tls(server_tls().client_auth(ClientAuth::Optional(ca())))
                .interceptor(policy)
        })
        .await;
        let client_a = client(&uri, client_mtls("client")).await;
        let other = client(&uri, client_mtls("client2")).await;
        let anonymous = client(&uri, client_tls()).await;

        client_a.unary(echo("")).await.expect("client: allowed");
        let mut req = echo("");
        req.count = 1;
        let mut stream = client_a.server_stream(req.clone()).await.expect("stream");
        while stream
            .message()
            .await
            .expect("client: streams allowed")
            .is_some()
        {}

        other
            .unary(echo(""))
            .await
            .expect("other: unary allowed by subject");
        let mut stream = other.server_stream(req).await.expect("opened");
        let err = stream.message().await.unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "deny rule: {err:?}");

        let (tx, mut rx) = other.bidi(()).await.expect("opened");
        let err = rx.message().await.unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "no allow rule: {err:?}");
        drop(tx);

        // No certificate: an allow rule wanted one → UNAUTHENTICATED, unless the header rule
        // lets it in.
        let err = anonymous.unary(echo("")).await.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
        anonymous
            .unary(Request::new(echo("")).with_metadata("x-tenant", "acme"))
            .await
            .expect("header rule");
        let handled = probe.handled.load(Ordering::SeqCst);
        assert_eq!(handled, 4, "only allowed calls reached a handler");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_on_plaintext_sees_no_principals() {
    bounded(async {
        let policy = AuthzPolicy::from_json(POLICY).expect("policy");
        let (uri, _) = probe_server(|b| b.interceptor(policy)).await;
        let plain = EchoClient::new(Channel::connect(&uri).await.expect("connect"));
        let err = plain.unary(echo("")).await.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated);
        plain
            .unary(Request::new(echo("")).with_metadata("x-tenant", "acme"))
            .await
            .expect("header rule needs no principal");
    })
    .await
}
