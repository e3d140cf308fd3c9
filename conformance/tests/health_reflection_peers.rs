//! Health and reflection against gRPC C-core (grpcio) both ways: grpcio-health-checking's
//! client and grpcio-reflection's client against our server, and our generated clients against
//! grpcio's reference health and reflection servers. The peers print what they saw; run with
//! `--nocapture` to read it.

mod peer;

use std::time::Duration;

use peer::{PythonClient, PythonServer, StandardServer, Versions};
use rgrpc_runtime::health::{HealthCheckRequest, HealthClient, ServingStatus};
use rgrpc_runtime::reflection::v1alpha::server_reflection_request::Message_request as Q;
use rgrpc_runtime::reflection::v1alpha::server_reflection_response::Message_response as R;
use rgrpc_runtime::reflection::v1alpha::{ServerReflectionClient, ServerReflectionRequest};
use rgrpc_runtime::{Channel, Code};

const TIMEOUT: Duration = Duration::from_secs(120);

async fn line(client: &mut PythonClient) -> String {
    let line = client.line().await;
    println!("peer: {line}");
    line
}

#[tokio::test(flavor = "multi_thread")]
async fn grpcio_health_client_against_us() {
    tokio::time::timeout(TIMEOUT, async {
        let server = StandardServer::start(Versions::BOTH).await;
        let addr = server.addr.to_string();
        let mut client = PythonClient::start("health_client.py", &[&addr]);
        assert_eq!(line(&mut client).await, "check - SERVING");
        assert_eq!(
            line(&mut client).await,
            "check grpc.testing.TestService SERVING"
        );
        assert_eq!(
            line(&mut client).await,
            "check no.Such.Service error NOT_FOUND"
        );
        // Watch on a name nobody set: SERVICE_UNKNOWN, and the call stays open for what
        // comes later.
        assert_eq!(line(&mut client).await, "watch SERVICE_UNKNOWN");
        server.health.set_serving("later.Service");
        assert_eq!(line(&mut client).await, "watch SERVING");
        server.health.set_not_serving("later.Service");
        assert_eq!(line(&mut client).await, "watch NOT_SERVING");
        assert_eq!(line(&mut client).await, "done");
        client.finish().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread")]
async fn grpcio_reflection_client_against_us() {
    tokio::time::timeout(TIMEOUT, async {
        let server = StandardServer::start(Versions::BOTH).await;
        let addr = server.addr.to_string();
        let mut client = PythonClient::start("reflection_client.py", &[&addr]);
        assert_eq!(
            line(&mut client).await,
            "services grpc.health.v1.Health grpc.reflection.v1.ServerReflection \
             grpc.reflection.v1alpha.ServerReflection grpc.testing.TestService"
        );
        let mut methods = Vec::new();
        loop {
            let next = line(&mut client).await;
            if !next.starts_with("method ") {
                assert_eq!(
                    next,
                    "file grpc/testing/test.proto deps grpc/testing/empty.proto \
                     grpc/testing/messages.proto"
                );
                break;
            }
            methods.push(next);
        }
        assert!(methods.contains(
            &"method grpc.testing.TestService.UnaryCall grpc.testing.SimpleRequest \
              grpc.testing.SimpleResponse"
                .to_owned()
        ));
        assert_eq!(methods.len(), 8, "{methods:#?}");
        assert_eq!(
            line(&mut client).await,
            "message grpc.testing.SimpleRequest in grpc/testing/messages.proto"
        );
        assert_eq!(line(&mut client).await, "unknown no.Such.Message not found");
        client.finish().await;
    })
    .await
    .expect("test timed out");
}

fn ask(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn our_health_client_against_grpcio() {
    tokio::time::timeout(TIMEOUT, async {
        let mut peer = PythonServer::start("health_reflection_server.py", &[]).await;
        let channel = Channel::connect(&format!("http://127.0.0.1:{}", peer.port))
            .await
            .expect("connect");
        let client = HealthClient::new(channel);

        let overall = client.check(ask("")).await.expect("check \"\"");
        assert_eq!(
            overall.message().status.enum_value_or_default(),
            ServingStatus::SERVING
        );
        let unknown = client.check(ask("no.Such")).await.unwrap_err();
        assert_eq!(unknown.code(), Code::NotFound, "{unknown}");

        let mut watch = client.watch(ask("later.Service")).await.expect("watch");
        let mut next = async || {
            let message = tokio::time::timeout(Duration::from_secs(10), watch.message())
                .await
                .expect("a status within 10 s")
                .expect("the watch is open")
                .expect("a message");
            let status = message.status.enum_value_or_default();
            println!("grpcio's Watch sent {status:?}");
            status
        };
        assert_eq!(next().await, ServingStatus::SERVICE_UNKNOWN);
        assert_eq!(peer.command("set later.Service SERVING").await, "ok");
        assert_eq!(next().await, ServingStatus::SERVING);
        assert_eq!(peer.command("set later.Service NOT_SERVING").await, "ok");
        assert_eq!(next().await, ServingStatus::NOT_SERVING);
        peer.stop().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread")]
async fn our_reflection_client_against_grpcio() {
    tokio::time::timeout(TIMEOUT, async {
        let peer = PythonServer::start("health_reflection_server.py", &[]).await;
        let channel = Channel::connect(&format!("http://127.0.0.1:{}", peer.port))
            .await
            .expect("connect");
        let client = ServerReflectionClient::new(channel);
        let (mut requests, mut responses) = client.server_reflection_info(()).await.expect("open");
        let mut ask = async |query: Q| {
            requests
                .send(ServerReflectionRequest {
                    message_request: Some(query),
                    ..Default::default()
                })
                .await
                .expect("send");
            responses
                .message()
                .await
                .expect("the stream stays open")
                .expect("a response")
                .message_response
                .expect("an answer")
        };
        let R::ListServicesResponse(list) = ask(Q::ListServices(String::new())).await else {
            panic!("not a list");
        };
        let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
        println!("grpcio lists {names:?}");
        let mut names = names;
        names.sort();
        assert_eq!(
            names,
            [
                "grpc.health.v1.Health",
                "grpc.reflection.v1alpha.ServerReflection",
                "helloworld.Greeter"
            ]
        );
        let answer = ask(Q::FileContainingSymbol("helloworld.Greeter".into())).await;
        let R::FileDescriptorResponse(files) = answer else {
            panic!("not files: {answer:?}");
        };
        use protobuf::Message;
        let file = protobuf::descriptor::FileDescriptorProto::parse_from_bytes(
            &files.file_descriptor_proto[0],
        )
        .expect("a FileDescriptorProto");
        println!(
            "grpcio sent {} with {} service(s)",
            file.name(),
            file.service.len()
        );
        assert_eq!(file.name(), "helloworld.proto");
        assert_eq!(file.service[0].method[0].name(), "SayHello");
        let R::ErrorResponse(error) = ask(Q::FileContainingSymbol("no.Such".into())).await else {
            panic!("not an error");
        };
        println!(
            "grpcio's error: {} {:?}",
            error.error_code, error.error_message
        );
        assert_eq!(error.error_code, Code::NotFound as i32);
        // The stream is still usable after the error.
        let R::FileDescriptorResponse(_) = ask(Q::FileByFilename("helloworld.proto".into())).await
        else {
            panic!("not files");
        };
        peer.stop().await;
    })
    .await
    .expect("test timed out");
}
