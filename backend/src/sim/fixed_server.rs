//! The HTTP/1.1 server of the simulator's fixed-latency mode, in place of hyper: it reads each
//! request itself, routes it through the same [`super::http::router`] as every other mode, and
//! writes the response. A streamed generation's response comes back with its
//! [`FixedPlan`](super::http::FixedPlan); its head is written here and its tokens by the
//! [`TokenWriters`], straight to the socket at their due times. Every other response is written
//! whole (`content-length`) or, when its body is a stream, as chunks while they come.
//!
//! Requests are read with the kernel's receive time ([`crate::stamped_read`]), and a fixed-latency
//! stream's TTFT counts from the request's arrival ([`RequestArrival`]), so the simulator's own
//! wake-up delay in reading it is not added to the TTFT it promises.
//!
//! It speaks what load generators and `curl` send: keep-alive and `Connection: close`,
//! `Expect: 100-continue`, bodies with a `content-length`, pipelined requests. A chunked request
//! body gets 411 (Length Required) and a malformed or oversized head 400 or 431, then the
//! connection closes.

use std::io;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::http::{HeaderMap, Request, Response, StatusCode, Version, header};
use futures_util::StreamExt;
use tokio::net::{TcpListener, TcpStream};
use tower_service::Service;

use super::http::{FixedPlan, RequestArrival};
use super::token_writer::{Outcome, TokenWriters, frame};
use crate::stamped_read::StampedReader;

/// Largest request head (request line and headers) read.
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body read (long prompts are a few MB).
const MAX_BODY: usize = 256 * 1024 * 1024;
/// Most headers in one request.
const MAX_HEADERS: usize = 64;

/// Serves `router` on `listener` until the process ends.
#[expect(
    clippy::print_stderr,
    reason = "the simulated server logs to stderr like a real one"
)]
pub(super) async fn serve(listener: TcpListener, router: Router, writers: TokenWriters) {
    let writers = Arc::new(writers);
    loop {
        match listener.accept().await {
            Ok((socket, _)) => {
                // Stream chunks are tiny: without TCP_NODELAY, Nagle's algorithm and delayed
                // ACKs would hold them back by tens of milliseconds.
                let _ = socket.set_nodelay(true);
                crate::stamped_read::enable(&socket);
                let connection = Connection {
                    socket: Arc::new(socket),
                    read: Vec::with_capacity(4096),
                    reader: StampedReader::new(16 * 1024),
                    arrived: None,
                };
                tokio::spawn(connection.serve(router.clone(), Arc::clone(&writers)));
            }
            Err(error) => {
                // Out of file descriptors and the like: keep serving the open connections.
                eprintln!("[sim] accept failed: {error}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

/// A request as read from the socket.
struct Incoming {
    request: Request<Body>,
    keep_alive: bool,
}

/// How a response goes out.
#[derive(Clone, Copy)]
struct Reply {
    keep_alive: bool,
    /// A `HEAD` request: the head only.
    head_only: bool,
}

/// Why a request could not be read.
#[derive(Debug, PartialEq, Eq)]
enum ReadError {
    /// The peer closed the connection (cleanly between requests, or not).
    Closed,
    /// The request is refused with this status, then the connection closes.
    Refused(StatusCode, &'static str),
}

struct Connection {
    socket: Arc<TcpStream>,
    /// Bytes read and not yet consumed (a pipelined request may follow the current one).
    read: Vec<u8>,
    reader: StampedReader,
    /// When the kernel received the latest bytes read, where it says.
    arrived: Option<std::time::Instant>,
}

impl Connection {
    async fn serve(mut self, mut router: Router, writers: Arc<TokenWriters>) {
        loop {
            let incoming = match self.read_request().await {
                Ok(incoming) => incoming,
                Err(ReadError::Closed) => return,
                Err(ReadError::Refused(status, why)) => {
                    let _ = self.write_error(status, why).await;
                    return;
                }
            };
            let reply = Reply {
                keep_alive: incoming.keep_alive,
                head_only: incoming.request.method() == axum::http::Method::HEAD,
            };
            let Ok(mut response) = router.call(incoming.request).await;
            let plan = response.extensions_mut().remove::<Arc<FixedPlan>>();
            let written = match plan {
                Some(plan) => self.write_planned(response, plan, &writers).await,
                None => self.write_response(response, reply).await,
            };
            if written.is_err() || !reply.keep_alive {
                return;
            }
        }
    }

    /// Reads the next request: its head, then its body.
    async fn read_request(&mut self) -> Result<Incoming, ReadError> {
        loop {
            match parse_head(&self.read)? {
                Some(head) => {
                    if head.expects_continue && self.read.len() < head.length + head.body_length {
                        self.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                            .await
                            .map_err(|_| ReadError::Closed)?;
                    }
                    let total = head.length + head.body_length;
                    while self.read.len() < total {
                        self.read_more().await?;
                    }
                    let body = Bytes::copy_from_slice(&self.read[head.length..total]);
                    self.read.drain(..total);
                    let keep_alive = head.keep_alive;
                    let mut request = Request::new(Body::from(body));
                    if let Some(at) = self.arrived {
                        request.extensions_mut().insert(RequestArrival(at));
                    }
                    *request.method_mut() = head.method;
                    *request.uri_mut() = head.uri;
                    *request.version_mut() = head.version;
                    *request.headers_mut() = head.headers;
                    return Ok(Incoming {
                        request,
                        keep_alive,
                    });
                }
                None if self.read.len() >= MAX_HEAD => {
                    return Err(ReadError::Refused(
                        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                        "request head too large",
                    ));
                }
                None => self.read_more().await?,
            }
        }
    }

    async fn read_more(&mut self) -> Result<(), ReadError> {
        match self.reader.read_more(&self.socket, &mut self.read).await {
            Ok((0, _)) | Err(_) => Err(ReadError::Closed),
            Ok((_, arrived)) => {
                self.arrived = arrived;
                Ok(())
            }
        }
    }

    async fn write_all(&self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            self.socket.writable().await?;
            match self.socket.try_write(bytes) {
                Ok(written) => bytes = &bytes[written..],
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    async fn write_error(&self, status: StatusCode, why: &str) -> io::Result<()> {
        let body = format!("{{\"object\":\"error\",\"message\":\"{why}\"}}");
        let mut head = status_line(status);
        head.push_str("content-type: application/json\r\nconnection: close\r\n");
        head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
        self.write_all(format!("{head}{body}").as_bytes()).await
    }

    /// A fixed-latency stream: the head here, the tokens by a writer thread.
    async fn write_planned(
        &self,
        response: Response<Body>,
        plan: Arc<FixedPlan>,
        writers: &TokenWriters,
    ) -> io::Result<()> {
        let mut head = response_head(response.status(), response.headers());
        head.push_str("transfer-encoding: chunked\r\n\r\n");
        self.write_all(head.as_bytes()).await?;
        match writers
            .stream(Arc::clone(&self.socket), Arc::clone(&plan))
            .await
        {
            Outcome::Finished => Ok(()),
            Outcome::Failed => Err(io::ErrorKind::BrokenPipe.into()),
            Outcome::Blocked { unwritten, next } => self.finish_plan(&plan, &unwritten, next).await,
        }
    }

    /// The rest of a stream a writer could not write without blocking, with async writes.
    async fn finish_plan(&self, plan: &FixedPlan, unwritten: &[u8], next: usize) -> io::Result<()> {
        self.write_all(unwritten).await?;
        let mut framed = Vec::new();
        for index in next..plan.len() {
            crate::timer::sleep_until(plan.due(index)).await;
            framed.clear();
            frame(&plan.payload(index), index + 1 == plan.len(), &mut framed);
            self.write_all(&framed).await?;
        }
        Ok(())
    }

    /// Any other response: whole when its length is known, else chunk by chunk.
    async fn write_response(&self, response: Response<Body>, reply: Reply) -> io::Result<()> {
        let (parts, body) = response.into_parts();
        let mut head = response_head(parts.status, &parts.headers);
        if !reply.keep_alive {
            head.push_str("connection: close\r\n");
        }
        if reply.head_only {
            head.push_str("\r\n");
            return self.write_all(head.as_bytes()).await;
        }
        let exact = HttpBody::size_hint(&body).exact();
        let mut data = body.into_data_stream();
        if let Some(length) = exact {
            head.push_str(&format!("content-length: {length}\r\n\r\n"));
            let mut whole = head.into_bytes();
            while let Some(piece) = data.next().await {
                whole.extend_from_slice(&piece.map_err(io::Error::other)?);
            }
            return self.write_all(&whole).await;
        }
        head.push_str("transfer-encoding: chunked\r\n\r\n");
        self.write_all(head.as_bytes()).await?;
        let mut framed = Vec::new();
        while let Some(piece) = data.next().await {
            let piece = piece.map_err(io::Error::other)?;
            if !piece.is_empty() {
                framed.clear();
                frame(&piece, false, &mut framed);
                self.write_all(&framed).await?;
            }
        }
        self.write_all(b"0\r\n\r\n").await
    }
}

/// A request head, parsed.
struct Head {
    method: axum::http::Method,
    uri: axum::http::Uri,
    version: Version,
    headers: HeaderMap,
    /// Bytes of the head, up to and including the blank line.
    length: usize,
    body_length: usize,
    keep_alive: bool,
    expects_continue: bool,
}

/// Parses the head at the start of `bytes`: `None` while it is incomplete.
fn parse_head(bytes: &[u8]) -> Result<Option<Head>, ReadError> {
    let bad = |why| ReadError::Refused(StatusCode::BAD_REQUEST, why);
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut slots);
    let length = match parsed.parse(bytes) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ReadError::Refused(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "too many headers",
            ));
        }
        Err(_) => return Err(bad("malformed request head")),
    };
    let method = parsed
        .method
        .and_then(|m| m.parse().ok())
        .ok_or(bad("bad method"))?;
    let uri = parsed
        .path
        .and_then(|p| p.parse().ok())
        .ok_or(bad("bad request target"))?;
    let version = if parsed.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let mut headers = HeaderMap::with_capacity(parsed.headers.len());
    for found in parsed.headers.iter() {
        let name = header::HeaderName::from_bytes(found.name.as_bytes())
            .map_err(|_| bad("bad header name"))?;
        let value =
            header::HeaderValue::from_bytes(found.value).map_err(|_| bad("bad header value"))?;
        headers.append(name, value);
    }
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return Err(ReadError::Refused(
            StatusCode::LENGTH_REQUIRED,
            "chunked request bodies are not supported; send a content-length",
        ));
    }
    let body_length = match headers.get(header::CONTENT_LENGTH) {
        None => 0,
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|text| text.trim().parse::<usize>().ok())
            .ok_or(bad("bad content-length"))?,
    };
    if body_length > MAX_BODY {
        return Err(ReadError::Refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large",
        ));
    }
    let keep_alive = match version {
        Version::HTTP_10 => header_has(&headers, header::CONNECTION, "keep-alive"),
        _ => !header_has(&headers, header::CONNECTION, "close"),
    };
    let expects_continue = header_has(&headers, header::EXPECT, "100-continue");
    Ok(Some(Head {
        method,
        uri,
        version,
        headers,
        length,
        body_length,
        keep_alive,
        expects_continue,
    }))
}

/// Whether a comma-separated header lists a token (case-insensitively).
fn header_has(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value.to_str().is_ok_and(|text| {
            text.split(',')
                .any(|part| part.trim().eq_ignore_ascii_case(token))
        })
    })
}

fn status_line(status: StatusCode) -> String {
    format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )
}

/// Status line and headers, without framing headers (the writer sets its own) and without the
/// blank line that ends the head.
fn response_head(status: StatusCode, headers: &HeaderMap) -> String {
    let mut head = status_line(status);
    for (name, value) in headers {
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
            continue;
        }
        head.push_str(name.as_str());
        head.push_str(": ");
        head.push_str(&String::from_utf8_lossy(value.as_bytes()));
        head.push_str("\r\n");
    }
    head
}
