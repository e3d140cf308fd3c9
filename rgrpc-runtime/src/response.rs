//! [`Response`]: a message with its call's header and trailer metadata.

use crate::metadata::MetadataMap;

/// A unary response: the message plus the metadata sent in headers and in trailers.
#[derive(Debug)]
pub struct Response<T> {
    message: T,
    metadata: MetadataMap,
    trailers: MetadataMap,
}

impl<T> Response<T> {
    /// Wraps a message with no metadata.
    pub fn new(message: T) -> Response<T> {
        Response {
            message,
            metadata: MetadataMap::new(),
            trailers: MetadataMap::new(),
        }
    }

    pub(crate) fn from_parts(message: T, metadata: MetadataMap, trailers: MetadataMap) -> Self {
        Response {
            message,
            metadata,
            trailers,
        }
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
