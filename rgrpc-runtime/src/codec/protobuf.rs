//! The rust-protobuf v3 codec.

use std::marker::PhantomData;

use bytes::{Bytes, BytesMut};
use protobuf::{CodedOutputStream, MessageFull};

use super::{Codec, MethodCodec};
use crate::Status;

/// A [`Codec`] for rust-protobuf v3 messages: sends `E`, receives `D`. As a [`MethodCodec`],
/// `ProtobufCodec<Request, Response>` describes a method: the client's codec is itself and
/// the server's is `ProtobufCodec<Response, Request>`.
pub struct ProtobufCodec<E, D>(PhantomData<fn(E) -> D>);

impl<E, D> std::fmt::Debug for ProtobufCodec<E, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProtobufCodec")
    }
}

impl<E, D> Default for ProtobufCodec<E, D> {
    fn default() -> Self {
        ProtobufCodec(PhantomData)
    }
}

impl<E: MessageFull, D: MessageFull> Codec for ProtobufCodec<E, D> {
    type Encode = E;
    type Decode = D;

    fn encoded_len(&self, item: &E) -> Option<usize> {
        usize::try_from(item.compute_size()).ok()
    }

    fn encode(&self, item: &E, dst: &mut BytesMut) -> Result<(), Status> {
        let size = item.compute_size();
        let size = usize::try_from(size)
            .map_err(|_| Status::resource_exhausted("message too large to encode"))?;
        let start = dst.len();
        dst.resize(start + size, 0);
        let mut os = CodedOutputStream::bytes(&mut dst[start..]);
        item.write_to_with_cached_sizes(&mut os)
            .map(|()| os.check_eof())
            .map_err(|e| Status::internal(format!("failed to encode message: {e}")))
    }

    fn decode(&self, src: Bytes) -> Result<D, Status> {
        D::parse_from_tokio_bytes(&src)
            .map_err(|e| Status::internal(format!("failed to decode message: {e}")))
    }
}

impl<Req: MessageFull, Resp: MessageFull> MethodCodec for ProtobufCodec<Req, Resp> {
    type Request = Req;
    type Response = Resp;
    type Client = ProtobufCodec<Req, Resp>;
    type Server = ProtobufCodec<Resp, Req>;
}
