//! Server reflection v1 and v1alpha over loopback with our own generated clients, from the
//! descriptors the plugin embeds: every query kind, answers in order on one stream,
//! NOT_FOUND inside the stream without ending it, and dependencies sent once per stream. grpcurl, buf curl and grpcio's reflection client are
//! in `conformance/tests/reflection_tools.rs`.

mod common;
mod gen;

use common::{bounded, EchoServer, EchoService};
use gen::reflection_base::Base;
use gen::reflection_ext_rgrpc::{Extended, ExtendedServer};
use protobuf::descriptor::FileDescriptorProto;
use protobuf::Message;
use rgrpc_runtime::reflection::{self, ReflectionBuilder};
use rgrpc_runtime::server::SendCompressed;
use rgrpc_runtime::{Channel, Code, Request, Response, Server, Status};

struct Echoes;

impl Extended for Echoes {
    async fn get(&self, request: Request<Base>) -> Result<Response<Base>, Status> {
        Ok(Response::new(request.into_message()))
    }
}

/// Echo and Extended, with reflection for both from the descriptors the plugin embedded in
/// their generated code (`add_reflection`: nothing registered by hand).
async fn serve() -> Channel {
    let (events, _) = tokio::sync::mpsc::unbounded_channel();
    let server = Server::builder()
        .add_service(EchoServer::new(EchoService { events }))
        .add_reflection()
        // A wrapped service keeps its descriptors.
        .add_service(SendCompressed::new(
            ExtendedServer::new(Echoes),
            rgrpc_runtime::CompressionEncoding::Gzip,
        ))
        .bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = server.local_addr().expect("addr");
    tokio::spawn(server.serve());
    Channel::connect(&format!("http://{addr}"))
        .await
        .expect("connect")
}

fn names(files: &[Vec<u8>]) -> Vec<String> {
    files
        .iter()
        .map(|f| {
            FileDescriptorProto::parse_from_bytes(f)
                .expect("a FileDescriptorProto")
                .name()
                .to_owned()
        })
        .collect()
}

/// The same checks for both versions: their generated types have the same shape.
macro_rules! checks {
    ($version:ident) => {{
        use reflection::$version::server_reflection_request::Message_request as Q;
        use reflection::$version::server_reflection_response::Message_response as R;
        use reflection::$version::{
            ExtensionRequest, ServerReflectionClient, ServerReflectionRequest,
        };

        let channel = serve().await;
        let client = ServerReflectionClient::new(channel);
        let (mut requests, mut responses) = client.server_reflection_info(()).await.expect("open");
        let mut ask = async |query: Q| {
            let request = ServerReflectionRequest {
                host: "localhost".into(),
                message_request: Some(query.clone()),
                ..Default::default()
            };
            requests.send(request).await.expect("send");
            let response = responses
                .message()
                .await
                .expect("the stream stays open")
                .expect("one response per request");
            assert_eq!(response.valid_host, "localhost");
            assert_eq!(
                response.original_request.message_request.as_ref(),
                Some(&query),
                "the response echoes its request"
            );
            response.message_response.expect("a response")
        };

        let R::ListServicesResponse(list) = ask(Q::ListServices(String::new())).await else {
            panic!("not a service list");
        };
        let listed: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            listed,
            [
                "grpc.reflection.v1.ServerReflection",
                "grpc.reflection.v1alpha.ServerReflection",
                "rgrpc.ext.Extended",
                "rgrpc.test.Echo"
            ]
        );

        // An unknown symbol: NOT_FOUND inside the stream, which carries on.
        let R::ErrorResponse(error) = ask(Q::FileContainingSymbol("no.Such".into())).await else {
            panic!("not an error");
        };
        assert_eq!(error.error_code, Code::NotFound as i32);
        assert!(
            error.error_message.contains("no.Such"),
            "{}",
            error.error_message
        );

        // A method's file, with its comments kept.
        let R::FileDescriptorResponse(files) =
            ask(Q::FileContainingSymbol("rgrpc.test.Echo.Unary".into())).await
        else {
            panic!("not files");
        };
        assert_eq!(names(&files.file_descriptor_proto), ["echo.proto"]);
        let echo = FileDescriptorProto::parse_from_bytes(&files.file_descriptor_proto[0]).unwrap();
        assert!(echo.source_code_info.is_some(), "comments are kept");

        // reflection_ext.proto imports reflection_base.proto, which imports echo.proto,
        // already sent on this stream.
        let R::FileDescriptorResponse(files) =
            ask(Q::FileByFilename("reflection_ext.proto".into())).await
        else {
            panic!("not files");
        };
        assert_eq!(
            names(&files.file_descriptor_proto),
            ["reflection_ext.proto", "reflection_base.proto"]
        );
        // The reflection service describes itself too.
        let R::FileDescriptorResponse(files) = ask(Q::FileContainingSymbol(
            "grpc.reflection.v1alpha.ServerReflection".into(),
        ))
        .await
        else {
            panic!("not files");
        };
        assert_eq!(
            names(&files.file_descriptor_proto),
            ["grpc/reflection/v1alpha/reflection.proto"]
        );

        let extension = ExtensionRequest {
            containing_type: "rgrpc.ext.Base".into(),
            extension_number: 120,
            ..Default::default()
        };
        let R::FileDescriptorResponse(files) = ask(Q::FileContainingExtension(extension)).await
        else {
            panic!("not files");
        };
        assert_eq!(
            names(&files.file_descriptor_proto),
            ["reflection_ext.proto"]
        );

        let R::AllExtensionNumbersResponse(numbers) =
            ask(Q::AllExtensionNumbersOfType("rgrpc.ext.Base".into())).await
        else {
            panic!("not extension numbers");
        };
        assert_eq!(numbers.base_type_name, "rgrpc.ext.Base");
        assert_eq!(numbers.extension_number, [120, 150]);

        for query in [
            Q::FileByFilename("nope.proto".into()),
            Q::AllExtensionNumbersOfType("rgrpc.ext.Nope".into()),
            Q::FileContainingExtension(ExtensionRequest {
                containing_type: "rgrpc.ext.Base".into(),
                extension_number: 199,
                ..Default::default()
            }),
        ] {
            let R::ErrorResponse(error) = ask(query).await else {
                panic!("not an error");
            };
            assert_eq!(error.error_code, Code::NotFound as i32);
        }

        // A half-close ends the stream with OK.
        requests.close().expect("close");
        assert!(responses.message().await.expect("OK").is_none());
    }};
}

#[tokio::test]
async fn v1_answers_every_query() {
    bounded(async { checks!(v1) }).await;
}

#[tokio::test]
async fn v1alpha_answers_every_query() {
    bounded(async { checks!(v1alpha) }).await;
}

/// The builder on its own, from a `FileDescriptorSet` as `protoc --descriptor_set_out`
/// writes one (built here from the embedded descriptors), with an explicit service list.
#[test]
fn builder_from_a_descriptor_set() {
    let mut set = protobuf::descriptor::FileDescriptorSet::new();
    for bytes in gen::reflection_ext_rgrpc::FILE_DESCRIPTORS {
        set.file
            .push(FileDescriptorProto::parse_from_bytes(bytes).expect("descriptor"));
    }
    let reflection = ReflectionBuilder::new()
        .register_file_descriptor_set(&set.write_to_bytes().expect("encode"))
        .service_name("rgrpc.ext.Extended")
        .build()
        .expect("build");
    assert_eq!(reflection.service_names(), ["rgrpc.ext.Extended"]);
    let all = ReflectionBuilder::new()
        .register_file_descriptors(gen::reflection_ext_rgrpc::FILE_DESCRIPTORS)
        .build()
        .expect("build");
    // With no names given, every service the files define.
    assert_eq!(
        all.service_names(),
        ["rgrpc.ext.Extended", "rgrpc.test.Echo"]
    );
}

#[test]
fn malformed_descriptors_fail_the_build() {
    let error = ReflectionBuilder::new()
        .register_encoded_file_descriptor(&b"\xff\xff"[..])
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("FileDescriptorProto"), "{error}");
}
