//! [`Response`]: a message with its call's header and trailer metadata.

use crate::metadata::MetadataMap;

/// A unary response: the message plus the metadata sent in headers and in trailers.
#[derive(Debug)]
pub struct Response<T> {
    message: T,
    metadata: MetadataMap,
    trailers: MetadataMap,
    /// Server: compress (or not) regardless of the service default.
    compress: Option<bool>,
    /// Client: the message arrived compressed.
    compressed: bool,
}

impl<T> Response<T> {
    /// Wraps a message with no metadata.
    pub fn new(message: T) -> Response<T> {
        Response {
            message,
            metadata: MetadataMap::new(),
            trailers: MetadataMap::new(),
            compress: None,
            compressed: false,
        }
    }

    pub(crate) fn from_parts(
        message: T,
        metadata: MetadataMap,
        trailers: MetadataMap,
        compressed: bool,
    ) -> Self {
        Response {
            message,
            metadata,
            trailers,
            compress: None,
            compressed,
        }
    }

    /// Server side: compress this response (with an encoding the client accepts) or send it
    /// uncompressed, overriding the service's default.
    pub fn set_compress(&mut self, compress: bool) {
        self.compress = Some(compress);
    }

    /// Client side: whether the response message arrived compressed.
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    pub(crate) fn compress(&self) -> Option<bool> {
        self.compress
    }

    /// The message.
    pub fn message(&self) -> &T {
        &self.message
    }

    /// Mutable access to the message.
    pub fn message_mut(&mut self) -> &mut T {
        &mut self.message
    }

    /// Takes the message out.
    pub fn into_message(self) -> T {
        self.message
    }

    /// Metadata sent in the response headers.
    pub fn metadata(&self) -> &MetadataMap {
        &self.metadata
    }

    /// Mutable access to the header metadata.
    pub fn metadata_mut(&mut self) -> &mut MetadataMap {
        &mut self.metadata
    }

    /// Metadata sent in the trailers, after the message.
    pub fn trailers(&self) -> &MetadataMap {
        &self.trailers
    }

    /// Mutable access to the trailer metadata.
    pub fn trailers_mut(&mut self) -> &mut MetadataMap {
        &mut self.trailers
    }

    pub(crate) fn into_parts(self) -> (T, MetadataMap, MetadataMap) {
        (self.message, self.metadata, self.trailers)
    }
}
