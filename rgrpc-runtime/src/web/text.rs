//! `application/grpc-web-text`: the gRPC-Web body in base64 (PROTOCOL-WEB, "Text-encoded
//! (response) streams").
//!
//! A text body is not one base64 document: each side may flush a padded chunk whenever it
//! likes ("the client library should not assume base64 padding always happens at the
//! boundary of message frames"), so `QQ==QkM=` is two chunks, `A` and `BC`. And the transport
//! splits the text wherever it likes: a DATA frame or an HTTP/1.1 chunk may end in the middle
//! of a four-character quantum. [`TextDecoder`] handles both: it carries an incomplete quantum
//! over to the next chunk and ends a run at every padded quantum.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use bytes::{Bytes, BytesMut};

/// Decodes runs of whole quanta; a run's last quantum may be padded. Strict otherwise: no
/// whitespace, no non-zero trailing bits.
const DECODE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encodes with padding, so every chunk we send is a whole number of quanta and a client may
/// decode whatever prefix of the body it has, four characters at a time.
const ENCODE: GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A text body that is not base64.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct InvalidText;

/// Decodes a base64 body that arrives in arbitrary pieces.
#[derive(Debug, Default)]
pub(crate) struct TextDecoder {
    /// The start of a quantum the last chunk ended in (at most three characters).
    carry: [u8; 4],
    carry_len: usize,
}

impl TextDecoder {
    /// Decodes what `chunk` completes; an incomplete quantum at its end waits for the next.
    pub(crate) fn decode(&mut self, chunk: &[u8]) -> Result<Bytes, InvalidText> {
        let mut out = BytesMut::with_capacity((self.carry_len + chunk.len()) / 4 * 3);
        let mut rest = chunk;
        if self.carry_len > 0 {
            let need = (4 - self.carry_len).min(rest.len());
            self.carry[self.carry_len..self.carry_len + need].copy_from_slice(&rest[..need]);
            self.carry_len += need;
            rest = &rest[need..];
            if self.carry_len < 4 {
                return Ok(out.freeze());
            }
            let quantum = self.carry;
            self.carry_len = 0;
            decode_runs(&quantum, &mut out)?;
        }
        let whole = rest.len() / 4 * 4;
        decode_runs(&rest[..whole], &mut out)?;
        let tail = &rest[whole..];
        self.carry[..tail.len()].copy_from_slice(tail);
        self.carry_len = tail.len();
        Ok(out.freeze())
    }

    /// The end of the body: an unpadded final quantum of two or three characters is
    /// accepted (some encoders omit padding); a lone character cannot encode a byte.
    pub(crate) fn finish(&mut self) -> Result<Bytes, InvalidText> {
        let len = std::mem::take(&mut self.carry_len);
        if len == 0 {
            return Ok(Bytes::new());
        }
        let mut out = BytesMut::with_capacity(3);
        decode_run(&self.carry[..len], &mut out)?;
        Ok(out.freeze())
    }
}

/// Decodes whole quanta, splitting after every padded one (each is the end of a flushed
/// chunk on the sender's side).
fn decode_runs(mut quanta: &[u8], out: &mut BytesMut) -> Result<(), InvalidText> {
    debug_assert_eq!(quanta.len() % 4, 0);
    while !quanta.is_empty() {
        // Padding can only sit in a quantum's last two places; the first `=` therefore ends
        // the quantum that holds it.
        let end = match quanta.iter().position(|&b| b == b'=') {
            Some(i) => (i / 4 + 1) * 4,
            None => quanta.len(),
        };
        decode_run(&quanta[..end], out)?;
        quanta = &quanta[end..];
    }
    Ok(())
}

fn decode_run(run: &[u8], out: &mut BytesMut) -> Result<(), InvalidText> {
    let start = out.len();
    out.resize(start + run.len().div_ceil(4) * 3, 0);
    match DECODE.decode_slice(run, &mut out[start..]) {
        Ok(n) => {
            out.truncate(start + n);
            Ok(())
        }
        Err(_) => Err(InvalidText),
    }
}

/// Encodes one chunk of a response body, padded.
pub(crate) fn encode(chunk: &[u8]) -> Bytes {
    Bytes::from(ENCODE.encode(chunk))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(text: &[u8], sizes: &[usize]) -> Result<Vec<u8>, InvalidText> {
        let mut decoder = TextDecoder::default();
        let mut out = Vec::new();
        let mut rest = text;
        let mut sizes = sizes.iter().cycle();
        while !rest.is_empty() {
            let n = (*sizes.next().unwrap()).min(rest.len());
            out.extend_from_slice(&decoder.decode(&rest[..n])?);
            rest = &rest[n..];
        }
        out.extend_from_slice(&decoder.finish()?);
        Ok(out)
    }

    #[test]
    fn decodes_across_every_split_of_padded_chunks() {
        // Three chunks flushed separately, each padded differently, as a client may send.
        let chunks: [&[u8]; 4] = [b"\x00\x00\x00\x00\x05hello", b"A", b"BC", b"\x80\xff\x00"];
        let text: Vec<u8> = chunks.iter().flat_map(|c| encode(c).to_vec()).collect();
        let expected: Vec<u8> = chunks.concat();
        assert!(String::from_utf8_lossy(&text).contains("==")); // padding mid-stream
        for a in 1..text.len() {
            for b in [1, 2, 3, 5, 7, 64] {
                assert_eq!(
                    decode_in_pieces(&text, &[a, b]).as_deref(),
                    Ok(&expected[..]),
                    "split at {a} then every {b}"
                );
            }
        }
    }

    #[test]
    fn accepts_an_unpadded_end() {
        assert_eq!(decode_in_pieces(b"QUI", &[1]).as_deref(), Ok(&b"AB"[..]));
        assert_eq!(decode_in_pieces(b"QQ", &[8]).as_deref(), Ok(&b"A"[..]));
    }

    #[test]
    fn rejects_what_is_not_base64() {
        let bad: [&[u8]; 9] = [
            b"Q",            // a lone character at the end
            b"QUJD RA==",    // whitespace
            b"QU=D",         // a character after padding in one quantum
            b"=QUJ",         // padding first
            b"QUJDRA=x",     // padding then a letter
            b"QR==",         // non-zero trailing bits
            b"QUJD\xffA==",  // not ASCII
            b"QUJDRA===",    // too much padding
            b"QUJDRA==\r\n", // a line break
        ];
        for bad in bad {
            for size in [1, 3, 4, 64] {
                assert_eq!(
                    decode_in_pieces(bad, &[size]),
                    Err(InvalidText),
                    "{:?} in pieces of {size}",
                    String::from_utf8_lossy(bad)
                );
            }
        }
    }

    #[test]
    fn encodes_whole_quanta() {
        assert_eq!(&encode(b"A")[..], b"QQ==");
        assert_eq!(&encode(b"AB")[..], b"QUI=");
        assert_eq!(&encode(b"ABC")[..], b"QUJD");
        assert_eq!(&encode(b"")[..], b"");
    }
}
