//! The golden files must compile against the runtime and rust-protobuf, and be usable: a client
//! can be built and a server trait implemented, including the methods whose names had to be
//! escaped or numbered.

// Generated message code carries its own `#![allow]`s; the deprecated `Admin.Reset` is used
// on purpose below.
#![allow(deprecated)]

#[rustfmt::skip]
#[path = "golden/expected/mod.rs"]
mod gen;

use gen::common::envelope::Header;
use gen::common::{Envelope, Page};
use gen::keywords::{Ping, Pong};
use gen::keywords_rgrpc::{Keywords, KeywordsClient, KeywordsServer};
use gen::streaming::outer::inner::Deepest;
use gen::streaming::outer::Inner;
use gen::streaming::Outer;
use gen::streaming_rgrpc::{AdminClient, Streams, StreamsClient, StreamsServer};
use protobuf::well_known_types::empty::Empty;
use protobuf::well_known_types::timestamp::Timestamp;
use rgrpc_runtime::codegen::Service;
use rgrpc_runtime::{Channel, Request, Response, ResponseSender, Status, Streaming};

type Unary<T> = Result<Response<T>, Status>;

fn unimplemented<T>() -> Result<T, Status> {
    Err(Status::unimplemented(""))
}

struct NoKeywords;

impl Keywords for NoKeywords {
    async fn r#type(&self, _: Request<Ping>) -> Unary<Pong> {
        unimplemented()
    }
    async fn r#async(&self, _: Request<Ping>) -> Unary<Pong> {
        unimplemented()
    }
    async fn self_(&self, _: Request<Ping>) -> Unary<Pong> {
        unimplemented()
    }
    async fn self_2(&self, _: Request<Ping>) -> Unary<Pong> {
        unimplemented()
    }
    async fn get_foo(&self, _: Request<Ping>) -> Unary<Pong> {
        unimplemented()
    }
    async fn get_foo_2(&self, _: Request<Ping>) -> Unary<Pong> {
        unimplemented()
    }
    async fn clone_2(&self, _: Request<Ping>) -> Unary<Pong> {
        unimplemented()
    }
    async fn new_2(&self, _: Request<Ping>) -> Unary<Pong> {
        unimplemented()
    }
    async fn channel_2(
        &self,
        _: Request<Streaming<Ping>>,
        _: ResponseSender<Pong>,
    ) -> Result<(), Status> {
        unimplemented()
    }
}

struct NoStreams;

impl Streams for NoStreams {
    async fn unary(&self, _: Request<Inner>) -> Unary<Deepest> {
        unimplemented()
    }
    async fn server_stream(
        &self,
        _: Request<Page>,
        _: ResponseSender<Envelope>,
    ) -> Result<(), Status> {
        unimplemented()
    }
    async fn client_stream(&self, _: Request<Streaming<Header>>) -> Unary<Empty> {
        unimplemented()
    }
    async fn bidi(
        &self,
        _: Request<Streaming<Timestamp>>,
        _: ResponseSender<Outer>,
    ) -> Result<(), Status> {
        unimplemented()
    }
}

#[test]
fn servers_wrap_implementations() {
    let keywords = KeywordsServer::new(NoKeywords);
    assert_eq!(KeywordsServer::<NoKeywords>::SERVICE_NAME, "Keywords");
    assert_eq!(keywords.clone().name(), "Keywords");

    let streams = StreamsServer::new(NoStreams);
    assert_eq!(
        StreamsServer::<NoStreams>::SERVICE_NAME,
        "golden.nested.v1.Streams"
    );
    assert_eq!(streams.name(), "golden.nested.v1.Streams");
}

#[test]
fn clients_build_on_a_lazy_channel() {
    let channel = Channel::builder("http://127.0.0.1:1")
        .connect_lazy()
        .expect("a valid uri");
    let keywords = KeywordsClient::new(channel.clone());
    let streams = StreamsClient::new(channel.clone());
    let admin = AdminClient::new(channel);
    let _ = (keywords.channel(), streams.channel(), admin.channel());
    // Building the call futures type-checks every generated method; they are never polled, so
    // nothing connects.
    drop((
        keywords.r#type(Ping::new()),
        keywords.self_2(Ping::new()),
        keywords.channel_2(()),
        streams.unary(Inner::new()),
        streams.server_stream(Page::new()),
        streams.client_stream(()),
        streams.bidi(()),
        admin.reset(Empty::new()),
        admin.now(Empty::new()),
    ));
}
