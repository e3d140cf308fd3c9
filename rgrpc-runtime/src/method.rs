//! [`Method`]: one method of a service, described once and used by both its generated client
//! and its generated server (as grpc-go's `MethodDesc`).

use std::fmt;
use std::marker::PhantomData;

use crate::codec::MethodCodec;

/// The four shapes of a gRPC method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MethodKind {
    /// One request, one response.
    Unary,
    /// A stream of requests, one response.
    ClientStreaming,
    /// One request, a stream of responses.
    ServerStreaming,
    /// Streams both ways.
    BidiStreaming,
}

/// A method: its `:path` (`/package.Service/Method`), its shape, and the codec of its
/// request and response messages, named in that order on both sides of the call.
///
/// Generated code declares one constant per method (`GreeterMethods::SAY_HELLO`, say); the
/// generated client calls through it and the generated server routes with it.
pub struct Method<C> {
    path: &'static str,
    kind: MethodKind,
    codec: PhantomData<fn() -> C>,
}

impl<C: MethodCodec> Method<C> {
    /// Describes the method at `path` (`/package.Service/Method`).
    pub const fn new(path: &'static str, kind: MethodKind) -> Method<C> {
        Method {
            path,
            kind,
            codec: PhantomData,
        }
    }
}

impl<C> Method<C> {
    /// The HTTP/2 `:path`: `/package.Service/Method`.
    pub fn path(&self) -> &'static str {
        self.path
    }

    /// The method's shape.
    pub fn kind(&self) -> MethodKind {
        self.kind
    }

    /// The fully-qualified service name, `package.Service`.
    pub fn service(&self) -> &'static str {
        self.split().0
    }

    /// The method's own name, `Method`.
    pub fn name(&self) -> &'static str {
        self.split().1
    }

    fn split(&self) -> (&'static str, &'static str) {
        let path = self.path.strip_prefix('/').unwrap_or(self.path);
        path.split_once('/').unwrap_or(("", path))
    }
}

impl<C> Clone for Method<C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<C> Copy for Method<C> {}

impl<C> fmt::Debug for Method<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Method")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .finish()
    }
}

#[cfg(all(test, feature = "protobuf"))]
mod tests {
    use super::*;
    use crate::codec::ProtobufCodec;
    use protobuf::well_known_types::empty::Empty;

    #[test]
    fn names_come_from_the_path() {
        const M: Method<ProtobufCodec<Empty, Empty>> =
            Method::new("/pkg.Svc/Call", MethodKind::Unary);
        assert_eq!(M.service(), "pkg.Svc");
        assert_eq!(M.name(), "Call");
        assert_eq!(M.path(), "/pkg.Svc/Call");
        assert_eq!(M.kind(), MethodKind::Unary);
    }
}
