//! Turning messages into bytes and back: the [`Codec`] trait, the gRPC length-prefixed
//! framing, and the rust-protobuf v3 codec used by generated code.

pub mod compression;
pub mod framing;
#[cfg(feature = "protobuf")]
mod protobuf;

use bytes::{Bytes, BytesMut};

use crate::Status;

pub use self::compression::CompressionEncoding;
#[cfg(feature = "protobuf")]
pub use self::protobuf::ProtobufCodec;

/// Serializes outgoing messages and parses incoming ones.
///
/// A codec is stateless and cheap to create: the runtime makes one with `Default` wherever it
/// needs one. Nothing outside `codec::protobuf` knows about rust-protobuf, so a codec for prost
/// or protobuf v4 messages is a drop-in.
pub trait Codec: Default + Send + Sync + 'static {
    /// The message type this side sends.
    type Encode: Send + 'static;
    /// The message type this side receives.
    type Decode: Send + 'static;

    /// The serialized size of `item`, if the codec knows it cheaply: lets the framing size
    /// its buffer once instead of growing it.
    fn encoded_len(&self, _item: &Self::Encode) -> Option<usize> {
        None
    }

    /// Appends the serialized form of `item` to `dst`.
    fn encode(&self, item: &Self::Encode, dst: &mut BytesMut) -> Result<(), Status>;

    /// Parses one complete message.
    fn decode(&self, src: Bytes) -> Result<Self::Decode, Status>;
}

/// The codec of one method, named by its request and response types in that order: the
/// client encodes requests and decodes responses ([`MethodCodec::Client`]), the server the
/// other way round ([`MethodCodec::Server`]). Generated clients and servers both write
/// `ProtobufCodec<Request, Response>`.
pub trait MethodCodec: Send + Sync + 'static {
    /// The request message.
    type Request: Send + 'static;
    /// The response message.
    type Response: Send + 'static;
    /// The client's codec: sends requests, receives responses.
    type Client: Codec<Encode = Self::Request, Decode = Self::Response>;
    /// The server's codec: sends responses, receives requests.
    type Server: Codec<Encode = Self::Response, Decode = Self::Request>;
}
