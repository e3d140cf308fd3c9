//! The gRPC message framing: a 1-byte compressed flag, a 4-byte big-endian length, then the
//! message (PROTOCOL-HTTP2, "Length-Prefixed-Message"). Pure functions over `Bytes`; no I/O.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::compression::{self, CompressionEncoding};
use super::Codec;
use crate::Status;

/// Length of the prefix in front of every message.
pub const HEADER_LEN: usize = 5;

/// The default limit on a received message ([`crate::defaults::MAX_RECEIVE_MESSAGE_SIZE`]).
pub const DEFAULT_MAX_RECEIVE_SIZE: usize = crate::defaults::MAX_RECEIVE_MESSAGE_SIZE;

/// Encodes `item` with its prefix into `buf` and returns the framed bytes, compressed (with
/// the prefix's flag set) if `compression` names an encoding. Takes `buf`'s storage, leaving
/// it empty.
pub fn encode<C: Codec>(
    codec: &C,
    item: &C::Encode,
    buf: &mut BytesMut,
    compression: Option<CompressionEncoding>,
) -> Result<Bytes, Status> {
    buf.clear();
    encode_into(codec, item, buf, compression)?;
    // Handing over the whole buffer lets one sized exactly (the usual case, from the codec's
    // length hint) become `Bytes` without allocating; `split` would allocate shared state.
    Ok(std::mem::take(buf).freeze())
}

/// Appends `item`, framed (and compressed if `compression` names an encoding), to `dst`.
/// Senders batch several messages in one buffer this way, to send them as one DATA frame.
pub fn encode_into<C: Codec>(
    codec: &C,
    item: &C::Encode,
    dst: &mut BytesMut,
    compression: Option<CompressionEncoding>,
) -> Result<(), Status> {
    let start = dst.len();
    dst.reserve(HEADER_LEN + codec.encoded_len(item).unwrap_or(0));
    dst.put_bytes(0, HEADER_LEN);
    let body = start + HEADER_LEN;
    if let Err(status) = codec.encode(item, dst) {
        dst.truncate(start);
        return Err(status);
    }
    if let Some(encoding) = compression {
        let mut compressed = BytesMut::new();
        if let Err(status) = compression::compress(encoding, &dst[body..], &mut compressed) {
            dst.truncate(start);
            return Err(status);
        }
        dst.truncate(body);
        dst.extend_from_slice(&compressed);
        dst[start] = 1;
    }
    let Ok(len) = u32::try_from(dst.len() - body) else {
        dst.truncate(start);
        return Err(Status::resource_exhausted(
            "message larger than 4 GiB cannot be framed",
        ));
    };
    dst[start + 1..body].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// One framed message as received, before decompression and decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage {
    /// The compressed flag from the prefix.
    pub compressed: bool,
    /// The message bytes.
    pub data: Bytes,
}

/// Reassembles framed messages from DATA chunks of any size.
///
/// A message that arrives whole inside one chunk is handed out as a zero-copy slice of that
/// chunk; only a message split across chunks is copied, once, into a buffer sized from its
/// prefix. The size limit is checked from the prefix, before anything is buffered.
#[derive(Debug)]
pub struct FrameDecoder {
    max_len: usize,
    /// The unread rest of the latest chunk.
    chunk: Bytes,
    /// A message (prefix included) that spans chunks, still incomplete.
    partial: BytesMut,
}

impl FrameDecoder {
    /// A decoder that refuses messages longer than `max_len` bytes.
    pub fn new(max_len: usize) -> FrameDecoder {
        FrameDecoder {
            max_len,
            chunk: Bytes::new(),
            partial: BytesMut::new(),
        }
    }

    /// Adds the next received chunk. Draining with [`FrameDecoder::next_message`] before each
    /// push keeps whole messages zero-copy; pushing without draining stays correct, at the
    /// cost of one copy of the unread bytes.
    pub fn push(&mut self, chunk: Bytes) {
        if self.chunk.is_empty() {
            self.chunk = chunk;
        } else if !chunk.is_empty() {
            // `partial` (if any) is the head of the current message and `chunk` follows it;
            // the new bytes go after both.
            let mut joined = BytesMut::with_capacity(self.chunk.len() + chunk.len());
            joined.extend_from_slice(&self.chunk);
            joined.extend_from_slice(&chunk);
            self.chunk = joined.freeze();
        }
    }

    /// Drops everything buffered (the call has ended).
    pub fn clear(&mut self) {
        self.chunk = Bytes::new();
        self.partial = BytesMut::new();
    }

    /// The next complete message, `Ok(None)` if more bytes are needed.
    pub fn next_message(&mut self) -> Result<Option<RawMessage>, Status> {
        if self.partial.is_empty() {
            if self.chunk.len() < HEADER_LEN {
                let rest = std::mem::take(&mut self.chunk);
                self.partial.extend_from_slice(&rest);
                return Ok(None);
            }
            let (compressed, len) = self.read_prefix(&self.chunk[..HEADER_LEN])?;
            if self.chunk.len() >= HEADER_LEN + len {
                let mut frame = self.chunk.split_to(HEADER_LEN + len);
                frame.advance(HEADER_LEN);
                return Ok(Some(RawMessage {
                    compressed,
                    data: frame,
                }));
            }
            // Spans chunks: buffer what has arrived. The buffer grows with the bytes that
            // actually come, not with what the prefix announces, so a peer cannot make every
            // stream reserve the whole receive limit with five bytes.
            let rest = std::mem::take(&mut self.chunk);
            self.partial.extend_from_slice(&rest);
            return Ok(None);
        }

        if self.partial.len() < HEADER_LEN {
            let need = (HEADER_LEN - self.partial.len()).min(self.chunk.len());
            self.partial.extend_from_slice(&self.chunk.split_to(need));
            if self.partial.len() < HEADER_LEN {
                return Ok(None);
            }
        }
        let (compressed, len) = self.read_prefix(&self.partial[..HEADER_LEN])?;
        let total = HEADER_LEN + len;
        let need = (total - self.partial.len()).min(self.chunk.len());
        self.partial.extend_from_slice(&self.chunk.split_to(need));
        if self.partial.len() < total {
            return Ok(None);
        }
        let mut frame = self.partial.split().freeze();
        frame.advance(HEADER_LEN);
        Ok(Some(RawMessage {
            compressed,
            data: frame,
        }))
    }

    /// Bytes this decoder holds now: an unfinished message's buffer and any unread chunk.
    pub fn buffered(&self) -> usize {
        self.partial.capacity() + self.chunk.len()
    }

    /// True when bytes of an unfinished message are buffered. At end of stream this means the
    /// peer sent a truncated message.
    pub fn has_partial(&self) -> bool {
        !self.partial.is_empty() || !self.chunk.is_empty()
    }

    fn read_prefix(&self, prefix: &[u8]) -> Result<(bool, usize), Status> {
        let compressed = match prefix[0] {
            0 => false,
            1 => true,
            flag => {
                return Err(Status::internal(format!(
                    "invalid compressed flag {flag} in message prefix"
                )))
            }
        };
        let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
        if len > self.max_len {
            return Err(Status::resource_exhausted(format!(
                "received message larger than max ({len} vs. {})",
                self.max_len
            )));
        }
        Ok((compressed, len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(flag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![flag];
        v.extend_from_slice(&(body.len() as u32).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    fn drain(d: &mut FrameDecoder) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(m) = d.next_message().unwrap() {
            out.push(m.data.to_vec());
        }
        out
    }

    #[test]
    fn many_messages_in_one_chunk_are_zero_copy() {
        let mut wire = frame(0, b"hello");
        wire.extend(frame(0, b""));
        wire.extend(frame(0, b"world"));
        let chunk = Bytes::from(wire);
        let base = chunk.as_ptr() as usize;
        let mut d = FrameDecoder::new(1024);
        d.push(chunk);
        let m = d.next_message().unwrap().unwrap();
        assert_eq!(&m.data[..], b"hello");
        assert_eq!(m.data.as_ptr() as usize, base + HEADER_LEN);
        assert_eq!(drain(&mut d), vec![b"".to_vec(), b"world".to_vec()]);
        assert!(!d.has_partial());
    }

    #[test]
    fn every_split_point_reassembles() {
        let mut wire = frame(0, b"first message");
        wire.extend(frame(1, &[7u8; 300]));
        wire.extend(frame(0, b"x"));
        for step in 1..wire.len() {
            let mut d = FrameDecoder::new(1024);
            let mut got = Vec::new();
            for piece in wire.chunks(step) {
                d.push(Bytes::copy_from_slice(piece));
                got.extend(drain(&mut d));
            }
            assert_eq!(got.len(), 3, "step {step}");
            assert_eq!(got[0], b"first message");
            assert_eq!(got[1], vec![7u8; 300]);
            assert_eq!(got[2], b"x");
            assert!(!d.has_partial());
        }
    }

    #[test]
    fn push_without_draining_stays_correct() {
        let mut wire = frame(0, b"first");
        wire.extend(frame(0, b"second message"));
        wire.extend(frame(0, b"third"));
        for split in 1..wire.len() {
            for second in split..wire.len() {
                let mut d = FrameDecoder::new(1024);
                // Push twice, then once more, draining only at the end.
                d.push(Bytes::copy_from_slice(&wire[..split]));
                let mut got = drain(&mut d);
                d.push(Bytes::copy_from_slice(&wire[split..second]));
                d.push(Bytes::copy_from_slice(&wire[second..]));
                got.extend(drain(&mut d));
                assert_eq!(
                    got,
                    vec![
                        b"first".to_vec(),
                        b"second message".to_vec(),
                        b"third".to_vec()
                    ],
                    "split {split}/{second}"
                );
                assert!(!d.has_partial());
            }
        }
    }

    #[test]
    fn a_large_announced_length_reserves_only_what_arrived() {
        let mut d = FrameDecoder::new(4 * 1024 * 1024);
        let mut head = vec![0u8];
        head.extend_from_slice(&(4_000_000u32).to_be_bytes());
        head.extend_from_slice(b"abc");
        d.push(Bytes::from(head));
        assert!(d.next_message().unwrap().is_none());
        assert!(d.partial.capacity() < 64 * 1024, "{}", d.partial.capacity());
    }

    #[test]
    fn oversized_prefix_is_refused_before_buffering() {
        let mut d = FrameDecoder::new(10);
        d.push(Bytes::from(vec![0, 0xff, 0xff, 0xff, 0xff]));
        let err = d.next_message().unwrap_err();
        assert_eq!(err.code(), crate::Code::ResourceExhausted);
    }

    #[test]
    fn bad_flag_is_internal() {
        let mut d = FrameDecoder::new(10);
        d.push(Bytes::from(frame(2, b"a")));
        assert_eq!(d.next_message().unwrap_err().code(), crate::Code::Internal);
    }

    #[test]
    fn truncated_message_is_reported() {
        let mut d = FrameDecoder::new(100);
        d.push(Bytes::from(frame(0, b"abcdef")[..8].to_vec()));
        assert!(d.next_message().unwrap().is_none());
        assert!(d.has_partial());
    }

    #[test]
    fn encode_writes_prefix() {
        #[derive(Default)]
        struct Raw;
        impl Codec for Raw {
            type Encode = Vec<u8>;
            type Decode = Vec<u8>;
            fn encode(&self, item: &Vec<u8>, dst: &mut BytesMut) -> Result<(), Status> {
                dst.extend_from_slice(item);
                Ok(())
            }
            fn decode(&self, src: Bytes) -> Result<Vec<u8>, Status> {
                Ok(src.to_vec())
            }
        }
        let mut buf = BytesMut::new();
        let framed = encode(&Raw, &b"abc".to_vec(), &mut buf, None).unwrap();
        assert_eq!(&framed[..], &frame(0, b"abc")[..]);
        let data = b"abcabcabcabcabcabcabcabc".to_vec();
        let framed = encode(&Raw, &data, &mut buf, Some(CompressionEncoding::Gzip)).unwrap();
        let mut d = FrameDecoder::new(1024);
        d.push(framed);
        let m = d.next_message().unwrap().unwrap();
        assert!(m.compressed);
        let plain = compression::decompress(CompressionEncoding::Gzip, &m.data, 1024).unwrap();
        assert_eq!(plain, data);
    }
}
