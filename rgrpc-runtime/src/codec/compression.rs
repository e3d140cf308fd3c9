//! Message compression (grpc/grpc `doc/compression.md`): `gzip` and `deflate` through
//! `flate2`, negotiated with `grpc-encoding` and `grpc-accept-encoding`.

use std::fmt;
use std::io::{Read, Write};

use bytes::{BufMut, Bytes, BytesMut};
use flate2::read::{GzDecoder, ZlibDecoder};
use flate2::write::{GzEncoder, ZlibEncoder};
use flate2::Compression;
use http::HeaderValue;

use crate::Status;

/// A message compression algorithm. `identity` (no compression) is the absence of one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompressionEncoding {
    /// `gzip` (RFC 1952).
    Gzip,
    /// `deflate`: the zlib format (RFC 1950), as gRPC C-core and grpc-go send it.
    Deflate,
}

/// What this runtime can decode, in order of preference; sent as `grpc-accept-encoding`.
pub(crate) const ACCEPT_ENCODING: &str = "gzip,deflate";

impl CompressionEncoding {
    /// The name used in `grpc-encoding`.
    pub fn as_str(self) -> &'static str {
        match self {
            CompressionEncoding::Gzip => "gzip",
            CompressionEncoding::Deflate => "deflate",
        }
    }

    pub(crate) fn header_value(self) -> HeaderValue {
        HeaderValue::from_static(self.as_str())
    }

    /// Parses a `grpc-encoding` value: `Ok(None)` for identity, `Err` for one we cannot decode.
    pub(crate) fn parse(value: &[u8]) -> Result<Option<CompressionEncoding>, ()> {
        match value {
            b"identity" => Ok(None),
            b"gzip" => Ok(Some(CompressionEncoding::Gzip)),
            b"deflate" => Ok(Some(CompressionEncoding::Deflate)),
            _ => Err(()),
        }
    }
}

impl fmt::Display for CompressionEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The encodings a peer said it accepts (`grpc-accept-encoding`), of those we support.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Accepted {
    gzip: bool,
    deflate: bool,
}

impl Accepted {
    pub(crate) fn parse(value: Option<&HeaderValue>) -> Accepted {
        let mut accepted = Accepted::default();
        if let Some(value) = value {
            for name in value.as_bytes().split(|&b| b == b',') {
                match name.trim_ascii() {
                    b"gzip" => accepted.gzip = true,
                    b"deflate" => accepted.deflate = true,
                    _ => {}
                }
            }
        }
        accepted
    }

    pub(crate) fn contains(self, encoding: CompressionEncoding) -> bool {
        match encoding {
            CompressionEncoding::Gzip => self.gzip,
            CompressionEncoding::Deflate => self.deflate,
        }
    }

    /// Our preferred encoding among the accepted ones.
    pub(crate) fn preferred(self) -> Option<CompressionEncoding> {
        if self.gzip {
            Some(CompressionEncoding::Gzip)
        } else if self.deflate {
            Some(CompressionEncoding::Deflate)
        } else {
            None
        }
    }
}

/// Compresses `src` onto the end of `dst`.
pub(crate) fn compress(
    encoding: CompressionEncoding,
    src: &[u8],
    dst: &mut BytesMut,
) -> Result<(), Status> {
    let failed =
        |e: std::io::Error| Status::internal(format!("{encoding} compression failed: {e}"));
    let writer = dst.writer();
    match encoding {
        CompressionEncoding::Gzip => {
            let mut enc = GzEncoder::new(writer, Compression::fast());
            enc.write_all(src).map_err(failed)?;
            enc.finish().map_err(failed)?;
        }
        CompressionEncoding::Deflate => {
            let mut enc = ZlibEncoder::new(writer, Compression::fast());
            enc.write_all(src).map_err(failed)?;
            enc.finish().map_err(failed)?;
        }
    }
    Ok(())
}

/// Decompresses one message, refusing to produce more than `max_len` bytes so a small
/// compressed "bomb" cannot allocate more than the receive limit.
pub(crate) fn decompress(
    encoding: CompressionEncoding,
    src: &[u8],
    max_len: usize,
) -> Result<Bytes, Status> {
    let limit = u64::try_from(max_len).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::with_capacity(src.len().saturating_mul(2).min(max_len));
    let read = match encoding {
        CompressionEncoding::Gzip => GzDecoder::new(src).take(limit).read_to_end(&mut out),
        CompressionEncoding::Deflate => ZlibDecoder::new(src).take(limit).read_to_end(&mut out),
    };
    read.map_err(|e| Status::internal(format!("{encoding} decompression failed: {e}")))?;
    if out.len() > max_len {
        return Err(Status::resource_exhausted(format!(
            "decompressed message larger than max ({max_len} bytes)"
        )));
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let data = b"hello hello hello hello hello".repeat(100);
        for enc in [CompressionEncoding::Gzip, CompressionEncoding::Deflate] {
            let mut buf = BytesMut::new();
            compress(enc, &data, &mut buf).unwrap();
            assert!(buf.len() < data.len());
            assert_eq!(decompress(enc, &buf, data.len()).unwrap(), data);
        }
    }

    #[test]
    fn bomb_is_refused_at_the_limit() {
        let zeros = vec![0u8; 64 * 1024 * 1024];
        let mut buf = BytesMut::new();
        compress(CompressionEncoding::Gzip, &zeros, &mut buf).unwrap();
        assert!(buf.len() < 1024 * 1024, "{}", buf.len());
        let err = decompress(CompressionEncoding::Gzip, &buf, 4 * 1024 * 1024).unwrap_err();
        assert_eq!(err.code(), crate::Code::ResourceExhausted);
    }

    #[test]
    fn garbage_is_internal() {
        let err = decompress(CompressionEncoding::Gzip, b"not gzip", 100).unwrap_err();
        assert_eq!(err.code(), crate::Code::Internal);
        let err = decompress(CompressionEncoding::Deflate, b"\x78\x9c\xff", 100).unwrap_err();
        assert_eq!(err.code(), crate::Code::Internal);
    }

    #[test]
    fn accept_header_parsing() {
        let v = HeaderValue::from_static("identity, deflate ,snappy");
        let a = Accepted::parse(Some(&v));
        assert!(a.contains(CompressionEncoding::Deflate));
        assert!(!a.contains(CompressionEncoding::Gzip));
        assert_eq!(a.preferred(), Some(CompressionEncoding::Deflate));
        assert_eq!(Accepted::parse(None).preferred(), None);
        assert_eq!(CompressionEncoding::parse(b"snappy"), Err(()));
        assert_eq!(CompressionEncoding::parse(b"identity"), Ok(None));
    }
}
