//! The greeter over mutual TLS, with the security features together, in one process:
//!
//! - the server presents `server.pem` and requires client certificates from the test CA;
//! - an authorization policy (gRFC A43) allows only the client whose certificate names
//!   `spiffe://rgrpc.test/client`;
//! - an asynchronous server interceptor checks the bearer token and tells the handler who
//!   called (through the call's extensions);
//! - the client sends the token as per-call credentials and logs each call's outcome with a
//!   client interceptor.
//!
//! The certificates are rgrpc's test PKI (`rgrpc-runtime/tests/certs/`, made by `gen.sh`).
//! Run: `cargo run -p rgrpc-examples --bin secure-greeter`.

use std::path::PathBuf;

use rgrpc_examples::{Greeter, GreeterClient, GreeterServer, HelloReply, HelloRequest};
use rgrpc_runtime::authz::AuthzPolicy;
use rgrpc_runtime::client::{BearerToken, ClientCallHead, ClientInterceptor};
use rgrpc_runtime::server::{ServerCallHead, ServerInterceptor};
use rgrpc_runtime::tls::{ClientAuth, ClientTlsConfig, Identity, ServerTlsConfig, TrustRoots};
use rgrpc_runtime::{CallOutcome, Channel, Intercepted, Request, Response, Server, Status};

/// Who the token said the caller is; left by the interceptor for the handler.
#[derive(Clone, Debug)]
struct User(String);

/// Checks `authorization: Bearer …` against a token store. The lookup is asynchronous (a
/// real one would ask a database or an identity provider), so the interceptor answers with
/// a future: one boxed future per call, only for calls that reach it.
struct TokenCheck;

impl ServerInterceptor for TokenCheck {
    fn on_call(&self, mut call: ServerCallHead) -> Intercepted<ServerCallHead> {
        let Some(token) = call.metadata().get("authorization").map(str::to_owned) else {
            return Intercepted::reject(Status::unauthenticated("no bearer token"));
        };
        Intercepted::pending(async move {
            let user = lookup(&token).await?;
            call.extensions_mut().insert(User(user));
            Ok(call)
        })
    }
}

async fn lookup(token: &str) -> Result<String, Status> {
    tokio::task::yield_now().await;
    match token {
        "Bearer open-sesame" => Ok("ali".to_owned()),
        _ => Err(Status::unauthenticated("unknown token")),
    }
}

/// Greets the user the token named and the certificate the connection presented.
struct SecureGreeter;

impl Greeter for SecureGreeter {
    async fn say_hello(&self, req: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        let user = req.extensions().get::<User>().map_or("?", |u| u.0.as_str());
        let spiffe = req
            .peer()
            .and_then(|peer| peer.tls())
            .and_then(|tls| tls.peer_identity())
            .and_then(|id| id.uris().first().cloned())
            .unwrap_or_default();
        Ok(Response::new(HelloReply {
            message: format!(
                "Hello {} (user {user}, certificate {spiffe})",
                req.message().name
            ),
            ..Default::default()
        }))
    }
}

/// Prints every call's method, status code and duration.
struct Log;

impl ClientInterceptor for Log {
    fn on_call(&self, call: ClientCallHead) -> Intercepted<ClientCallHead> {
        Intercepted::proceed(call)
    }

    fn on_end(&self, outcome: &CallOutcome<'_>) {
        println!(
            "client: {} -> {:?} in {:?}",
            outcome.method(),
            outcome.code(),
            outcome.duration()
        );
    }
}

const POLICY: &str = r#"{
  "name": "greeter",
  "allow_rules": [{
    "name": "our-client",
    "source": { "principals": ["spiffe://rgrpc.test/client"] },
    "request": { "paths": ["/helloworld.Greeter/*"] }
  }]
}"#;

fn certs(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../rgrpc-runtime/tests/certs")
        .join(file)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Server: mTLS, then authorization, then the token check, in that order.
    let identity = Identity::from_pem_files(certs("server.pem"), certs("server.key"))?;
    let client_ca = TrustRoots::from_pem_file(certs("ca.pem"))?;
    let server = Server::builder()
        .add_service(GreeterServer::new(SecureGreeter))
        .tls(ServerTlsConfig::new(identity).client_auth(ClientAuth::Required(client_ca)))
        .interceptor(AuthzPolicy::from_json(POLICY)?)
        .interceptor(TokenCheck)
        .bind("127.0.0.1:0")
        .await?;
    let port = server.local_addr()?.port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve_with_shutdown(async {
        let _ = stopped.await;
    }));

    // Client: trusts the test CA, presents its certificate, logs every call.
    let connect = |cert: &str, key: &str| -> Result<_, Box<dyn std::error::Error>> {
        let tls = ClientTlsConfig::new()
            .trust_roots(TrustRoots::from_pem_file(certs("ca.pem"))?)
            .identity(Identity::from_pem_files(certs(cert), certs(key))?);
        Ok(Channel::builder(&format!("https://localhost:{port}"))
            .tls(tls)
            .interceptor(Log))
    };
    // The token on every call of this channel.
    let greeter = GreeterClient::new(
        connect("client.pem", "client.key")?
            .credentials(BearerToken::new("open-sesame")?)
            .connect()
            .await?,
    );
    let reply = greeter
        .say_hello(HelloRequest {
            name: "world".into(),
            ..Default::default()
        })
        .await?;
    println!("{}", reply.message().message);

    // A token for one call only, on a channel without credentials: refused by TokenCheck.
    let bare = GreeterClient::new(connect("client.pem", "client.key")?.connect().await?);
    let refused = bare
        .say_hello(
            Request::new(HelloRequest::default()).with_credentials(BearerToken::new("guess")?),
        )
        .await
        .unwrap_err();
    println!("wrong token: {:?} {}", refused.code(), refused.message());

    // Another client certificate: refused by the policy before the token is looked at.
    let other = GreeterClient::new(connect("client2.pem", "client2.key")?.connect().await?);
    let denied = other.say_hello(HelloRequest::default()).await.unwrap_err();
    println!(
        "other certificate: {:?} {}",
        denied.code(),
        denied.message()
    );

    let _ = stop.send(());
    serving.await??;
    Ok(())
}
