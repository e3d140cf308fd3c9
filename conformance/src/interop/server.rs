//! The interop server: `grpc.testing.TestService` with every server feature of the spec's
//! "Server" section that rgrpc can offer.
//!
//! `grpc.testing.UnimplementedService` is deliberately not registered: the spec's
//! `unimplemented_service` case expects `UNIMPLEMENTED` for a service the server does not
//! have, which the router answers for any unregistered service (grpc-go's interop server
//! does the same).
//!
//! "CompressedRequest" reads how each request message arrived
//! ([`Request::is_compressed`], [`Streaming::last_message_compressed`]); "CompressedResponse"
//! compresses per response ([`Response::set_compress`], [`ResponseSender::set_compress`]) with
//! an encoding the client accepts.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use protobuf::MessageField;
use rgrpc_runtime::web::GrpcWeb;
use rgrpc_runtime::{
    Code, MetadataMap, Request, Response, ResponseSender, ServerBuilder, Status, Streaming,
};

use super::{zero_payload, ECHO_INITIAL_KEY, ECHO_TRAILING_KEY};
use crate::gen::empty::Empty;
use crate::gen::messages::{
    BoolValue, EchoStatus, Payload, PayloadType, SimpleRequest, SimpleResponse,
    StreamingInputCallRequest, StreamingInputCallResponse, StreamingOutputCallRequest,
    StreamingOutputCallResponse,
};
use crate::gen::test_rgrpc::{TestService, TestServiceServer};

/// The `grpc.testing.TestService` implementation.
#[derive(Debug, Default, Clone, Copy)]
pub struct InteropService;

/// The service, ready for [`rgrpc_runtime::ServerBuilder::add_service`].
pub fn service() -> TestServiceServer<InteropService> {
    TestServiceServer::new(InteropService)
}

/// Registers the interop service on `builder`.
pub fn register(builder: ServerBuilder) -> ServerBuilder {
    builder.add_service(service())
}

/// Registers the interop service with the standard services operators' tools expect beside
/// it: `grpc.health.v1.Health` (the server and `grpc.testing.TestService` `SERVING`) and
/// server reflection v1 and v1alpha for everything registered. Returns the health handle.
pub fn register_with_standard_services(
    builder: ServerBuilder,
) -> (rgrpc_runtime::health::HealthReporter, ServerBuilder) {
    let (reporter, health) = rgrpc_runtime::health::service();
    reporter.set_serving(TestServiceServer::<InteropService>::SERVICE_NAME);
    let builder = register(builder).add_service(health).add_reflection();
    (reporter, builder)
}

/// gRPC-Web as the interop server offers it on its normal port: any origin may call, and
/// browsers may send and read the spec's echo metadata, so any gRPC-Web client (a page on
/// any origin included) can run the test cases.
pub fn grpc_web() -> GrpcWeb {
    let echo = [ECHO_INITIAL_KEY, ECHO_TRAILING_KEY];
    GrpcWeb::new()
        .allow_any_origin()
        .allow_headers(echo)
        .expose_headers(echo)
}

impl TestService for InteropService {
    async fn empty_call(&self, request: Request<Empty>) -> Result<Response<Empty>, Status> {
        let echo = Echo::from_request(request.metadata())?;
        Ok(echo.apply(Response::new(Empty::new())))
    }

    async fn unary_call(
        &self,
        request: Request<SimpleRequest>,
    ) -> Result<Response<SimpleResponse>, Status> {
        // Echo Metadata applies to failed calls too: the trailing echo rides on the status.
        let echo = Echo::from_request(request.metadata())?;
        let message = request.message();
        if let Some(status) = echo_status(&message.response_status) {
            return Err(status.with_metadata(echo.trailers));
        }
        check_expect_compressed(&message.expect_compressed, request.is_compressed())?;
        let payload = payload(message.response_type, message.response_size)?;
        let mut response = Response::new(SimpleResponse {
            payload: MessageField::some(payload),
            ..Default::default()
        });
        response.set_compress(message.response_compressed.value);
        Ok(echo.apply(response))
    }

    async fn cacheable_unary_call(
        &self,
        _request: Request<SimpleRequest>,
    ) -> Result<Response<SimpleResponse>, Status> {
        // Spec, "CacheableUnaryCall": the request is ignored; the payload is the current time
        // in nanoseconds as ASCII decimal, so only a cache can make two responses equal.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let response = SimpleResponse {
            payload: MessageField::some(Payload {
                type_: PayloadType::COMPRESSABLE.into(),
                body: nanos.to_string().into_bytes(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut response = Response::new(response);
        // The max-age the spec names; `public` lets shared proxies cache it (as C++'s server).
        response
            .metadata_mut()
            .insert("cache-control", "max-age=60, public")
            .map_err(|e| Status::internal(format!("cache-control header: {e}")))?;
        Ok(response)
    }

    async fn streaming_output_call(
        &self,
        request: Request<StreamingOutputCallRequest>,
        mut responses: ResponseSender<StreamingOutputCallResponse>,
    ) -> Result<(), Status> {
        let message = request.into_message();
        if let Some(status) = echo_status(&message.response_status) {
            return Err(status);
        }
        send_responses(&mut responses, &message).await
    }

    async fn streaming_input_call(
        &self,
        request: Request<Streaming<StreamingInputCallRequest>>,
    ) -> Result<Response<StreamingInputCallResponse>, Status> {
        let mut requests = request.into_message();
        let mut total: usize = 0;
        while let Some(message) = requests.message().await? {
            check_expect_compressed(
                &message.expect_compressed,
                requests.last_message_compressed(),
            )?;
            total += message.payload.body.len();
        }
        let aggregated_payload_size = i32::try_from(total).map_err(|_| {
            Status::out_of_range(format!("aggregated payload size {total} overflows int32"))
        })?;
        Ok(Response::new(StreamingInputCallResponse {
            aggregated_payload_size,
            ..Default::default()
        }))
    }

    async fn full_duplex_call(
        &self,
        request: Request<Streaming<StreamingOutputCallRequest>>,
        mut responses: ResponseSender<StreamingOutputCallResponse>,
    ) -> Result<(), Status> {
        let echo = Echo::from_request(request.metadata())?;
        responses.set_headers(echo.headers);
        responses.set_trailers(echo.trailers);
        let mut requests = request.into_message();
        while let Some(message) = requests.message().await? {
            // Spec, "Echo Status": close with the status and read nothing more.
            if let Some(status) = echo_status(&message.response_status) {
                return Err(status);
            }
            send_responses(&mut responses, &message).await?;
        }
        Ok(())
    }

    async fn half_duplex_call(
        &self,
        request: Request<Streaming<StreamingOutputCallRequest>>,
        mut responses: ResponseSender<StreamingOutputCallResponse>,
    ) -> Result<(), Status> {
        let mut requests = request.into_message();
        let mut buffered = Vec::new();
        while let Some(message) = requests.message().await? {
            buffered.push(message);
        }
        for message in &buffered {
            if let Some(status) = echo_status(&message.response_status) {
                return Err(status);
            }
            send_responses(&mut responses, message).await?;
        }
        Ok(())
    }

    async fn unimplemented_call(
        &self,
        _request: Request<Empty>,
    ) -> Result<Response<Empty>, Status> {
        // The spec's `unimplemented_method` case calls this and expects UNIMPLEMENTED.
        Err(Status::unimplemented(
            "grpc.testing.TestService/UnimplementedCall is not implemented (by design)",
        ))
    }
}

/// One response per `ResponseParameters`, each after its `interval_us` (spec, "Observe
/// ResponseParameters.interval_us": a sleep before each response, accumulating) and
/// compressed as its `compressed` flag asks ("CompressedResponse").
///
/// The runtime fixes a stream's encoding when its first message goes out, so a stream whose
/// first response is uncompressed cannot compress later ones; the spec's
/// `server_compressed_streaming` asks for compressed first.
async fn send_responses(
    responses: &mut ResponseSender<StreamingOutputCallResponse>,
    request: &StreamingOutputCallRequest,
) -> Result<(), Status> {
    for params in &request.response_parameters {
        responses.set_compress(params.compressed.value);
        if params.interval_us > 0 {
            tokio::time::sleep(Duration::from_micros(
                params.interval_us.unsigned_abs().into(),
            ))
            .await;
        }
        let payload = payload(request.response_type, params.size)?;
        responses
            .send(StreamingOutputCallResponse {
                payload: MessageField::some(payload),
                ..Default::default()
            })
            .await?;
    }
    Ok(())
}

/// A payload of the requested type and size; `INVALID_ARGUMENT` for types the server does
/// not support (spec, "UnaryCall") and for negative sizes.
fn payload(kind: protobuf::EnumOrUnknown<PayloadType>, size: i32) -> Result<Payload, Status> {
    if kind.enum_value() != Ok(PayloadType::COMPRESSABLE) {
        return Err(Status::invalid_argument(format!(
            "unsupported response payload type {}",
            kind.value()
        )));
    }
    let size = usize::try_from(size)
        .map_err(|_| Status::invalid_argument(format!("negative response payload size {size}")))?;
    Ok(zero_payload(size))
}

/// The status a request asks the server to close with (spec, "Echo Status"); `None` for OK
/// or absent.
fn echo_status(requested: &MessageField<EchoStatus>) -> Option<Status> {
    let requested = requested.as_ref()?;
    if requested.code == 0 {
        return None;
    }
    Some(Status::new(
        Code::from_i32(requested.code),
        requested.message.clone(),
    ))
}

/// The metadata a call echoes back (spec, "Echo Metadata").
struct Echo {
    headers: MetadataMap,
    trailers: MetadataMap,
}

impl Echo {
    fn from_request(metadata: &MetadataMap) -> Result<Echo, Status> {
        let invalid = |e| Status::internal(format!("cannot echo metadata: {e}"));
        let mut headers = MetadataMap::new();
        if let Some(value) = metadata.get(ECHO_INITIAL_KEY) {
            headers.insert(ECHO_INITIAL_KEY, value).map_err(invalid)?;
        }
        let mut trailers = MetadataMap::new();
        if let Some(value) = metadata.get_bin(ECHO_TRAILING_KEY) {
            trailers
                .insert_bin(ECHO_TRAILING_KEY, &value)
                .map_err(invalid)?;
        }
        Ok(Echo { headers, trailers })
    }

    fn apply<T>(self, mut response: Response<T>) -> Response<T> {
        *response.metadata_mut() = self.headers;
        *response.trailers_mut() = self.trailers;
        response
    }
}

/// Spec, "CompressedRequest": `expect_compressed` set and the request not compressed is
/// `INVALID_ARGUMENT` (which is also how clients probe for the feature). Like C++'s server,
/// the opposite is refused too when the client states it (`expect_compressed` present and
/// false, message compressed).
fn check_expect_compressed(
    expect: &MessageField<BoolValue>,
    compressed: bool,
) -> Result<(), Status> {
    match (expect.as_ref().map(|e| e.value), compressed) {
        (Some(true), false) => Err(Status::invalid_argument(
            "expect_compressed is set but the request was not compressed",
        )),
        (Some(false), true) => Err(Status::invalid_argument(
            "expect_compressed is false but the request was compressed",
        )),
        _ => Ok(()),
    }
}
