//! The gRPC wire layer: request and response heads, trailers and trailers-only responses,
//! `Status` <-> trailers, the `grpc-message` percent codec, `grpc-timeout`, and the HTTP and
//! RST_STREAM to gRPC maps. Pure functions over `http` types and bytes, unit-tested without
//! sockets; nothing here does I/O or makes a decision about a call.

mod headers;
pub mod timeout;
mod trailers;

pub(crate) use crate::metadata::names;
pub(crate) use headers::{
    parse_request, parse_response_head, request_head, response_head, trailers_only, ResponseHead,
};
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use trailers::percent_encode;
pub(crate) use trailers::{
    is_ok, percent_decode, status_from_h2, status_from_http, write_ok, write_status,
};
