//! Response body framing: how the body ends (chunked, `Content-Length` or connection close),
//! read from the head, and decoding the framed bytes into body bytes.

use crate::loadgen::stream::RequestError;

/// How the body ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Framing {
    /// `Transfer-Encoding: chunked`.
    Chunked(Chunk),
    /// `Content-Length` bytes left.
    Length(u64),
    /// Until the server closes the connection.
    Close,
}

/// Where the chunked decoder stands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Chunk {
    /// Reading a size line.
    Size,
    /// This many data bytes left, then CRLF.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// Reading trailer lines after the last chunk.
    Trailers,
    /// The terminating empty line was read.
    Done,
}

impl Framing {
    /// The framing that the response `head` announces.
    pub(super) fn of(head: &httparse::Response<'_, '_>) -> Framing {
        if header_has(head, "transfer-encoding", "chunked") {
            return Framing::Chunked(Chunk::Size);
        }
        let length = head
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok());
        match length {
            Some(length) => Framing::Length(length),
            None if head.code.is_some_and(|c| c == 204 || c == 304) => Framing::Length(0),
            None => Framing::Close,
        }
    }

    /// Whether the whole body has been decoded.
    pub(super) fn done(self) -> bool {
        matches!(self, Framing::Chunked(Chunk::Done) | Framing::Length(0))
    }

    /// Moves the body bytes that `buf` holds to `out`, leaving in `buf` what is not complete
    /// yet (part of a chunk size line) or follows the body.
    pub(super) fn decode(
        &mut self,
        buf: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Result<(), RequestError> {
        match self {
            Framing::Close => {
                out.append(buf);
                Ok(())
            }
            Framing::Length(left) => {
                let take = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                out.extend_from_slice(&buf[..take]);
                buf.drain(..take);
                *left -= take as u64;
                Ok(())
            }
            Framing::Chunked(state) => {
                let used = decode_chunked(state, buf, out)?;
                buf.drain(..used);
                Ok(())
            }
        }
    }
}

/// The longest chunk-size or trailer line accepted; a longer one is malformed (it would otherwise
/// be buffered for as long as the server kept sending it).
const MAX_LINE: usize = 64 * 1024;

/// The position of the next newline at or after `at`, `None` while the line is incomplete, or an
/// error once the incomplete line is longer than [`MAX_LINE`].
fn line_end(input: &[u8], at: usize) -> Result<Option<usize>, RequestError> {
    match memchr::memchr(b'\n', &input[at..]) {
        Some(end) => Ok(Some(end)),
        None if input.len() - at > MAX_LINE => Err(RequestError::Malformed),
        None => Ok(None),
    }
}

/// Decodes as much chunked framing from `input` as is complete; returns the bytes used.
fn decode_chunked(
    state: &mut Chunk,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<usize, RequestError> {
    let mut at = 0;
    loop {
        match *state {
            Chunk::Size => {
                let Some(end) = line_end(input, at)? else {
                    return Ok(at);
                };
                let line = &input[at..at + end];
                let digits = line
                    .split(|b| *b == b';' || *b == b'\r')
                    .next()
                    .unwrap_or_default();
                let text = std::str::from_utf8(digits).map_err(|_| RequestError::Malformed)?;
                let size =
                    u64::from_str_radix(text.trim(), 16).map_err(|_| RequestError::Malformed)?;
                at += end + 1;
                *state = if size == 0 {
                    Chunk::Trailers
                } else {
                    Chunk::Data(size)
                };
            }
            Chunk::Data(left) => {
                let available = input.len() - at;
                if available == 0 {
                    return Ok(at);
                }
                let take = available.min(usize::try_from(left).unwrap_or(usize::MAX));
                out.extend_from_slice(&input[at..at + take]);
                at += take;
                *state = if take as u64 == left {
                    Chunk::DataEnd
                } else {
                    Chunk::Data(left - take as u64)
                };
            }
            Chunk::DataEnd => {
                let Some(end) = line_end(input, at)? else {
                    return Ok(at);
                };
                if input[at..at + end].iter().any(|b| *b != b'\r') {
                    return Err(RequestError::Malformed);
                }
                at += end + 1;
                *state = Chunk::Size;
            }
            Chunk::Trailers => {
                let Some(end) = line_end(input, at)? else {
                    return Ok(at);
                };
                let empty = input[at..at + end].iter().all(|b| *b == b'\r');
                at += end + 1;
                if empty {
                    *state = Chunk::Done;
                    return Ok(at);
                }
            }
            Chunk::Done => return Ok(at),
        }
    }
}

/// Whether header `name` lists `token` (comma-separated, case-insensitive).
pub(super) fn header_has(head: &httparse::Response<'_, '_>, name: &str, token: &str) -> bool {
    head.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case(name)
            && String::from_utf8_lossy(h.value)
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::chunked;
    use super::*;

    #[test]
    fn chunked_bodies_decode_the_same_at_every_split() {
        let wire = chunked(&["data: {\"a\":1}\n\n", "data: [DONE]\n\n"]);
        for split in 0..=wire.len() {
            let mut state = Chunk::Size;
            let mut out = Vec::new();
            let mut buffered = wire[..split].to_vec();
            let used = decode_chunked(&mut state, &buffered, &mut out).expect("decode");
            buffered.drain(..used);
            buffered.extend_from_slice(&wire[split..]);
            decode_chunked(&mut state, &buffered, &mut out).expect("decode");
            assert_eq!(state, Chunk::Done, "split at {split}");
            assert_eq!(
                out, b"data: {\"a\":1}\n\ndata: [DONE]\n\n",
                "split at {split}"
            );
        }
        let mut state = Chunk::Size;
        assert!(decode_chunked(&mut state, b"zz\r\n", &mut Vec::new()).is_err());
    }

    #[test]
    fn a_size_line_that_never_ends_is_malformed() {
        let mut state = Chunk::Size;
        let line = vec![b'1'; MAX_LINE];
        assert_eq!(decode_chunked(&mut state, &line, &mut Vec::new()), Ok(0));
        let longer = vec![b'1'; MAX_LINE + 1];
        assert!(decode_chunked(&mut state, &longer, &mut Vec::new()).is_err());
    }
}
