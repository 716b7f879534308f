//! One request-response exchange up to the body: encoding the request, writing it in one system
//! call, and reading and parsing the response head with `httparse`.

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::body::{Framing, header_has};
use super::pool::Pool;
use super::response::Response;
use crate::loadgen::stream::RequestError;
use crate::stamped_read::StampedReader;

/// Size of one socket read.
const READ_SIZE: usize = 16 * 1024;
/// A response head larger than this is refused.
const MAX_HEAD: usize = 64 * 1024;

/// The bytes of `POST path` to `authority` with a JSON `body` and the extra `headers`.
pub(super) fn encode_request(
    authority: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(160 + body.len());
    out.extend_from_slice(b"POST ");
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(authority.as_bytes());
    out.extend_from_slice(b"\r\ncontent-type: application/json\r\naccept: */*\r\ncontent-length: ");
    out.extend_from_slice(body.len().to_string().as_bytes());
    for (name, value) in headers {
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
    }
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
    out
}

/// Writes the request and reads the head. With `reused`, a failure before any byte of the
/// answer (the server closed the idle connection) comes back as `Other`, for the caller to retry.
pub(super) async fn exchange<'p>(
    pool: &'p Pool,
    mut stream: TcpStream,
    request: &[u8],
    reused: bool,
) -> Result<Response<'p>, RequestError> {
    let failed = if reused {
        RequestError::Other
    } else {
        RequestError::Truncated
    };
    stream
        .write_all(request)
        .await
        .map_err(|_| failed.clone())?;
    let mut buf = Vec::with_capacity(READ_SIZE);
    let mut reader = StampedReader::new(READ_SIZE);
    loop {
        let arrived = match reader
            .read_more(&stream, &mut buf)
            .await
            .map_err(|_| RequestError::Truncated)
        {
            Ok((0, _)) | Err(_) if buf.is_empty() => return Err(failed),
            Ok((0, _)) => return Err(RequestError::Truncated),
            Err(error) => return Err(error),
            Ok((_, arrived)) => arrived,
        };
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut head = httparse::Response::new(&mut headers);
        match head.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let framing = Framing::of(&head);
                let status = head.code.unwrap_or(0);
                let keep_alive =
                    head.version == Some(1) && !header_has(&head, "connection", "close");
                buf.drain(..len);
                return Ok(Response {
                    pool,
                    stream: Some(stream),
                    status,
                    keep_alive,
                    framing,
                    buf,
                    arrived,
                    reader,
                });
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
            _ => return Err(RequestError::Malformed),
        }
    }
}

impl Pool {
    /// Sends `POST path` with `body` and reads the response head. `headers` are extra header
    /// lines (`Name: value`).
    pub(crate) async fn post(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response<'_>, RequestError> {
        let request = encode_request(self.authority(), path, headers, body);
        // A pooled connection may have been closed by the server meanwhile: one fresh retry,
        // only when not a byte of the answer arrived (so the server never saw the request twice
        // with an answer started).
        if let Some(stream) = self.pop_open() {
            match exchange(self, stream, &request, true).await {
                Err(RequestError::Other) => {}
                answered => return answered,
            }
        }
        let stream = self.connect().await?;
        exchange(self, stream, &request, false).await
    }
}
