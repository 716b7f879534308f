//! A minimal HTTP/1.1 client for the load generator's hot path against plain `http://` servers.
//!
//! reqwest (over hyper) drives every connection from its own task and hands each body chunk to
//! the request's task through a channel: two task wake-ups per streamed token. Here the request's
//! task owns its connection, writes the request in one system call, parses the response head
//! with `httparse` and decodes the chunked body itself, so a token costs one read and one wake-up.
//! Idle keep-alive connections wait in a lock-free queue. A reused connection that the server
//! closed while idle is retried once on a fresh one, as hyper does. Anything else (TLS, proxies)
//! goes through reqwest.

use std::time::Instant;

use crossbeam_queue::SegQueue;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::stamped_read::StampedReader;

use super::stream::RequestError;

/// Size of one socket read.
const READ_SIZE: usize = 16 * 1024;
/// A response head larger than this is refused.
const MAX_HEAD: usize = 64 * 1024;

/// Where plain-HTTP requests go, and the idle connections to it.
#[derive(Debug)]
pub struct Pool {
    /// `host:port` for connecting (resolved at each new connection) and for the `Host` header.
    authority: String,
    idle: SegQueue<TcpStream>,
}

impl Pool {
    /// A pool for `base_url` when it is plain `http://` and no proxy is configured (reqwest
    /// honours the proxy variables; this client does not), else `None`.
    pub fn for_base_url(base_url: &str) -> Option<Pool> {
        let proxied = ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
            .iter()
            .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()));
        let rest = base_url.strip_prefix("http://").filter(|_| !proxied)?;
        let authority = rest.split('/').next().filter(|a| !a.is_empty())?;
        if rest.len() > authority.len() || authority.contains('@') {
            // A path prefix or credentials: leave those to reqwest.
            return None;
        }
        let authority = if authority
            .rsplit_once(':')
            .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
        {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        Some(Pool {
            authority,
            idle: SegQueue::new(),
        })
    }

    /// An idle connection that is still open (the server's close shows as a readable end of
    /// stream; such connections are dropped here instead of failing a request).
    fn pop_open(&self) -> Option<TcpStream> {
        while let Some(stream) = self.idle.pop() {
            let mut probe = [0_u8; 1];
            if matches!(stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            {
                return Some(stream);
            }
        }
        None
    }

    async fn connect(&self) -> Result<TcpStream, RequestError> {
        let stream = TcpStream::connect(self.authority.as_str())
            .await
            .map_err(|_| RequestError::Connect)?;
        let _ = stream.set_nodelay(true);
        // Kernel receive timestamps: a token's time is when it arrived, not when this client
        // got round to reading it.
        crate::stamped_read::enable(&stream);
        Ok(stream)
    }

    /// Sends `POST path` with `body` and reads the response head. `headers` are extra header
    /// lines (`Name: value`).
    pub async fn post(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response<'_>, RequestError> {
        let request = encode_request(&self.authority, path, headers, body);
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

fn encode_request(authority: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
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
async fn exchange<'p>(
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

fn header_has(head: &httparse::Response<'_, '_>, name: &str, token: &str) -> bool {
    head.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case(name)
            && String::from_utf8_lossy(h.value)
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
    })
}

/// How the body ends.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Framing {
    /// `Transfer-Encoding: chunked`.
    Chunked(Chunk),
    /// `Content-Length` bytes left.
    Length(u64),
    /// Until the server closes the connection.
    Close,
}

/// Where the chunked decoder stands.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Chunk {
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
    fn of(head: &httparse::Response<'_, '_>) -> Framing {
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

    fn done(self) -> bool {
        matches!(self, Framing::Chunked(Chunk::Done) | Framing::Length(0))
    }
}

/// A response whose body is still on the wire.
#[derive(Debug)]
pub struct Response<'p> {
    pool: &'p Pool,
    /// `None` once handed back to the pool.
    stream: Option<TcpStream>,
    /// HTTP status code.
    pub status: u16,
    keep_alive: bool,
    framing: Framing,
    /// Received bytes not decoded yet.
    buf: Vec<u8>,
    /// When the kernel received the bytes of the latest read, where it says.
    arrived: Option<Instant>,
    reader: StampedReader,
}

impl Response<'_> {
    /// Appends the body bytes that have arrived (waiting for at least one socket read when
    /// nothing is buffered) to `out`. Returns `false` once the body is complete; the connection
    /// then goes back to the pool.
    pub async fn read_into(&mut self, out: &mut Vec<u8>) -> Result<bool, RequestError> {
        if self.framing.done() {
            return Ok(false);
        }
        if self.buf.is_empty() {
            let stream = self.stream.as_mut().ok_or(RequestError::Other)?;
            let (read, arrived) = self
                .reader
                .read_more(stream, &mut self.buf)
                .await
                .map_err(|_| RequestError::Truncated)?;
            self.arrived = arrived;
            if read == 0 {
                return match self.framing {
                    Framing::Close => Ok(false),
                    _ => Err(RequestError::Truncated),
                };
            }
        }
        self.decode(out)?;
        Ok(!self.framing.done() || self.release())
    }

    /// When the kernel received the bytes that the latest [`Response::read_into`] returned (the
    /// last of them, when one read brought several packets), where the socket reports it.
    pub fn arrived_at(&self) -> Option<Instant> {
        self.arrived
    }

    /// Reads the whole remaining body.
    pub async fn read_to_end(&mut self) -> Result<Vec<u8>, RequestError> {
        let mut body = Vec::new();
        while self.read_into(&mut body).await? {}
        Ok(body)
    }

    fn decode(&mut self, out: &mut Vec<u8>) -> Result<(), RequestError> {
        match &mut self.framing {
            Framing::Close => {
                out.append(&mut self.buf);
                Ok(())
            }
            Framing::Length(left) => {
                let take = self
                    .buf
                    .len()
                    .min(usize::try_from(*left).unwrap_or(usize::MAX));
                out.extend_from_slice(&self.buf[..take]);
                self.buf.drain(..take);
                *left -= take as u64;
                Ok(())
            }
            Framing::Chunked(state) => {
                let used = decode_chunked(state, &self.buf, out)?;
                self.buf.drain(..used);
                Ok(())
            }
        }
    }

    /// Returns the connection to the pool when it can carry another request. Always `false`:
    /// the body is complete.
    fn release(&mut self) -> bool {
        if self.keep_alive
            && self.buf.is_empty()
            && let Some(stream) = self.stream.take()
        {
            self.pool.idle.push(stream);
        }
        false
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
                let Some(end) = memchr::memchr(b'\n', &input[at..]) else {
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
                let Some(end) = memchr::memchr(b'\n', &input[at..]) else {
                    return Ok(at);
                };
                if input[at..at + end].iter().any(|b| *b != b'\r') {
                    return Err(RequestError::Malformed);
                }
                at += end + 1;
                *state = Chunk::Size;
            }
            Chunk::Trailers => {
                let Some(end) = memchr::memchr(b'\n', &input[at..]) else {
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
    use tokio::net::TcpListener;

    use super::*;

    fn chunked(parts: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for part in parts {
            out.extend_from_slice(format!("{:x};ext=1\r\n{part}\r\n", part.len()).as_bytes());
        }
        out.extend_from_slice(b"0\r\nx-trailer: 1\r\n\r\n");
        out
    }

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
    fn only_plain_http_without_a_proxy_gets_the_lean_client() {
        let proxied = ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
            .iter()
            .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()));
        if proxied {
            assert!(Pool::for_base_url("http://127.0.0.1:30000").is_none());
            return;
        }
        assert_eq!(
            Pool::for_base_url("http://127.0.0.1:30000").map(|p| p.authority),
            Some("127.0.0.1:30000".into())
        );
        assert_eq!(
            Pool::for_base_url("http://gpu-box").map(|p| p.authority),
            Some("gpu-box:80".into())
        );
        assert!(Pool::for_base_url("https://gpu-box").is_none());
        assert!(Pool::for_base_url("http://gpu-box/prefix").is_none());
        assert!(Pool::for_base_url("http://user:pw@gpu-box").is_none());
    }

    /// A raw server: answers each request on a connection with `answers[n]`, in turn, then
    /// closes the connection when `close_after_each` is set. Counts accepted connections.
    async fn raw_server(
        answers: Vec<Vec<u8>>,
        close_after_each: bool,
    ) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        let answers = Arc::new(answers);
        let next = Arc::new(AtomicUsize::new(0));
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let (answers, next) = (Arc::clone(&answers), Arc::clone(&next));
                tokio::spawn(async move {
                    let mut reader = BufReader::new(socket);
                    loop {
                        let mut length = 0;
                        loop {
                            let mut line = String::new();
                            if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if let Some(v) =
                                line.to_ascii_lowercase().strip_prefix("content-length:")
                            {
                                length = v.trim().parse().unwrap_or(0);
                            }
                            if line == "\r\n" {
                                break;
                            }
                        }
                        let mut body = vec![0; length];
                        let _ = reader.read_exact(&mut body).await;
                        let n = next.fetch_add(1, Ordering::SeqCst);
                        let answer = &answers[n.min(answers.len() - 1)];
                        let _ = reader.get_mut().write_all(answer).await;
                        if close_after_each {
                            return;
                        }
                    }
                });
            }
        });
        (url, accepted)
    }

    fn chunked_answer(text: &str) -> Vec<u8> {
        let mut out = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
        out.extend_from_slice(&chunked(&[text]));
        out
    }

    async fn body_of(pool: &Pool) -> Result<(u16, Vec<u8>), RequestError> {
        let mut response = pool
            .post("/v1/completions", &[("x-test", "1")], b"{}")
            .await?;
        let status = response.status;
        Ok((status, response.read_to_end().await?))
    }

    #[tokio::test]
    async fn bytes_carry_the_kernels_receive_time_not_the_read_time() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (token_sent, token_in_socket) = tokio::sync::oneshot::channel();
        let (token_read, end_may_go) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut request = vec![0; 4096];
            let _ = socket.read(&mut request).await;
            let head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
            socket.write_all(head).await.expect("head");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            socket.write_all(b"5\r\nfirst\r\n").await.expect("token");
            let _ = token_sent.send(());
            let _ = end_may_go.await;
            socket.write_all(b"0\r\n\r\n").await.expect("end");
        });
        let pool = Pool::for_base_url(&url).expect("pool");
        let mut response = pool
            .post("/v1/completions", &[], b"{}")
            .await
            .expect("post");
        token_in_socket.await.expect("token sent");
        // The token waits in the socket while the client is busy elsewhere.
        tokio::time::sleep(std::time::Duration::from_millis(60)).await;
        let mut body = Vec::new();
        response.read_into(&mut body).await.expect("read");
        assert_eq!(body, b"first");
        let waited = response.arrived_at().expect("a receive time").elapsed();
        assert!(
            waited >= std::time::Duration::from_millis(60),
            "the token arrived before the client's 60 ms pause, {waited:?} ago"
        );
        let _ = token_read.send(());
        assert!(response.read_to_end().await.expect("end").is_empty());
    }

    #[tokio::test]
    async fn keep_alive_connections_are_reused() {
        let (url, accepted) =
            raw_server(vec![chunked_answer("one"), chunked_answer("two")], false).await;
        let pool = Pool::for_base_url(&url).expect("pool");
        assert_eq!(body_of(&pool).await.expect("first"), (200, b"one".to_vec()));
        assert_eq!(
            body_of(&pool).await.expect("second"),
            (200, b"two".to_vec())
        );
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_connection_the_server_closed_is_retried_on_a_fresh_one() {
        let (url, accepted) =
            raw_server(vec![chunked_answer("one"), chunked_answer("two")], true).await;
        let pool = Pool::for_base_url(&url).expect("pool");
        assert_eq!(body_of(&pool).await.expect("first"), (200, b"one".to_vec()));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert_eq!(
            body_of(&pool).await.expect("second"),
            (200, b"two".to_vec())
        );
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn length_and_close_delimited_bodies_and_statuses() {
        let answers = vec![
            b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nbusy".to_vec(),
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello".to_vec(),
            b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil close".to_vec(),
        ];
        let (url, _) = raw_server(answers, false).await;
        let pool = Pool::for_base_url(&url).expect("pool");
        assert_eq!(body_of(&pool).await.expect("503"), (503, b"busy".to_vec()));
        assert_eq!(
            body_of(&pool).await.expect("length"),
            (200, b"hello".to_vec())
        );
        // The server keeps the socket open after a close-delimited answer here, so end it.
        let mut response = pool.post("/x", &[], b"{}").await.expect("close");
        let mut body = Vec::new();
        response.read_into(&mut body).await.expect("read");
        assert_eq!(body, b"until close");
        assert!(!response.keep_alive);
    }

    #[tokio::test]
    async fn a_dead_server_is_a_connect_error_and_a_cut_stream_is_truncated() {
        let pool = Pool::for_base_url("http://127.0.0.1:9").expect("pool");
        assert_eq!(body_of(&pool).await.err(), Some(RequestError::Connect));
        let cut = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel".to_vec();
        let (url, _) = raw_server(vec![cut], true).await;
        let pool = Pool::for_base_url(&url).expect("pool");
        assert_eq!(body_of(&pool).await.err(), Some(RequestError::Truncated));
    }
}
