//! The fixed-latency mode's own HTTP/1.1 server and token writers, over real loopback sockets:
//! chunked SSE that decodes to what the router serves, tokens never earlier than promised,
//! keep-alive with pipelining, `Expect: 100-continue`, refusals, and a client that stops reading.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{SimArgs, build_state, fixed_mode, serve_fixed};

async fn start(ttft_ms: &str, itl_ms: &str) -> std::net::SocketAddr {
    let raw: Vec<String> = [
        "--model-path",
        "fixed-test",
        "--fixed-ttft-ms",
        ttft_ms,
        "--fixed-itl-ms",
        itl_ms,
    ]
    .map(String::from)
    .to_vec();
    let args = SimArgs::parse(&raw).expect("args");
    let state = build_state(
        &args,
        None,
        fixed_mode(&args),
        "fixed-test".into(),
        super::http::Surface::Sglang,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(serve_fixed(listener, state));
    address
}

fn post(path: &str, body: &str, extra_headers: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n{extra_headers}content-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Reads one response: (head, decoded body), with the time its first body byte arrived.
async fn read_response(
    socket: &mut TcpStream,
    pending: &mut Vec<u8>,
) -> (String, Vec<u8>, Option<Instant>) {
    let mut first_body_byte = None;
    loop {
        if let Some(end) = find(pending, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end]).to_lowercase();
            let body_start = end + 4;
            if pending.len() > body_start && first_body_byte.is_none() {
                first_body_byte = Some(Instant::now());
            }
            if let Some(length) = content_length(&head) {
                if pending.len() >= body_start + length {
                    let body = pending[body_start..body_start + length].to_vec();
                    pending.drain(..body_start + length);
                    return (head, body, first_body_byte);
                }
            } else if let Some((body, used)) = dechunk(&pending[body_start..]) {
                pending.drain(..body_start + used);
                return (head, body, first_body_byte);
            }
        }
        let mut buf = vec![0; 64 * 1024];
        let n = socket.read(&mut buf).await.expect("read");
        assert!(n > 0, "connection closed mid-response");
        pending.extend_from_slice(&buf[..n]);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn content_length(head: &str) -> Option<usize> {
    head.lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
}

/// The decoded body of a complete chunked body at the start of `bytes`, and its length.
fn dechunk(bytes: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let line_end = at + find(&bytes[at..], b"\r\n")?;
        let size = usize::from_str_radix(std::str::from_utf8(&bytes[at..line_end]).ok()?, 16)
            .expect("chunk size");
        let data = line_end + 2;
        if bytes.len() < data + size + 2 {
            return None;
        }
        if size == 0 {
            return Some((body, data + 2));
        }
        body.extend_from_slice(&bytes[data..data + size]);
        at = data + size + 2;
    }
}

fn events(body: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(body)
        .split("\n\n")
        .filter(|event| !event.is_empty())
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_every_token_as_chunked_sse_never_earlier_than_promised() {
    let address = start("20", "2").await;
    let mut socket = TcpStream::connect(address).await.expect("connect");
    let body = r#"{"model":"m","prompt":"hello there","max_tokens":5,"stream":true,"stream_options":{"include_usage":true}}"#;
    let sent = Instant::now();
    socket
        .write_all(post("/v1/completions", body, "").as_bytes())
        .await
        .expect("write");
    let (head, body, first) = read_response(&mut socket, &mut Vec::new()).await;
    let done = Instant::now();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    let events = events(&body);
    assert_eq!(events.len(), 7, "5 tokens, usage, [DONE]: {events:?}");
    for (event, word) in events.iter().zip([" the", " model", " answers", " with"]) {
        assert!(event.contains(&format!("\"text\":\"{word}\"")), "{event}");
    }
    assert!(
        events[4].contains("\"finish_reason\":\"length\""),
        "{}",
        events[4]
    );
    assert!(
        events[5].contains("\"completion_tokens\":5"),
        "{}",
        events[5]
    );
    assert_eq!(events[6], "data: [DONE]");
    let first = first.expect("body bytes");
    assert!(
        first - sent >= Duration::from_millis(20),
        "first token early"
    );
    assert!(done - sent >= Duration::from_millis(28), "last token early");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_answers_pipelined_requests_in_order() {
    let address = start("1", "0").await;
    let mut socket = TcpStream::connect(address).await.expect("connect");
    let chat =
        r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":2,"stream":true}"#;
    let requests = format!(
        "GET /v1/models HTTP/1.1\r\nhost: x\r\n\r\n{}GET /nowhere HTTP/1.1\r\nhost: x\r\n\r\n",
        post("/v1/chat/completions", chat, "")
    );
    socket.write_all(requests.as_bytes()).await.expect("write");
    let mut pending = Vec::new();
    let (head, body, _) = read_response(&mut socket, &mut pending).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(String::from_utf8_lossy(&body).contains("\"id\":\"fixed-test\""));
    let (head, body, _) = read_response(&mut socket, &mut pending).await;
    assert!(head.contains("text/event-stream"), "{head}");
    assert_eq!(events(&body).len(), 3, "2 tokens and [DONE]");
    let (head, _, _) = read_response(&mut socket, &mut pending).await;
    assert!(head.starts_with("http/1.1 404"), "{head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_continue_gets_100_before_the_body_is_sent() {
    let address = start("1", "0").await;
    let mut socket = TcpStream::connect(address).await.expect("connect");
    let body = r#"{"model":"m","prompt":"hi","max_tokens":1}"#;
    let request = post("/v1/completions", body, "expect: 100-continue\r\n");
    let head_only = &request[..request.len() - body.len()];
    socket.write_all(head_only.as_bytes()).await.expect("write");
    let mut interim = vec![0; 64];
    let n = socket.read(&mut interim).await.expect("read");
    assert_eq!(&interim[..n], b"HTTP/1.1 100 Continue\r\n\r\n");
    socket.write_all(body.as_bytes()).await.expect("write");
    let (head, body, _) = read_response(&mut socket, &mut Vec::new()).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(String::from_utf8_lossy(&body).contains("\"completion_tokens\":1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_requests_get_a_status_and_the_connection_closes() {
    let address = start("1", "0").await;
    let cases = [
        (
            "POST /generate HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n".to_string(),
            "http/1.1 411",
        ),
        ("NOT HTTP AT ALL\r\n\r\n".to_string(), "http/1.1 400"),
        (
            format!("GET / HTTP/1.1\r\n{}\r\n", "x: y\r\n".repeat(100)),
            "http/1.1 431",
        ),
        (
            "GET /health HTTP/1.1\r\nconnection: close\r\n\r\n".to_string(),
            "http/1.1 200",
        ),
        (
            "HEAD /v1/models HTTP/1.1\r\nconnection: close\r\n\r\n".to_string(),
            "http/1.1 200",
        ),
    ];
    for (request, status) in cases {
        let mut socket = TcpStream::connect(address).await.expect("connect");
        socket.write_all(request.as_bytes()).await.expect("write");
        let mut all = Vec::new();
        socket
            .read_to_end(&mut all)
            .await
            .expect("read to the close");
        let text = String::from_utf8_lossy(&all).to_lowercase();
        assert!(text.starts_with(status), "{request:?} -> {text}");
        assert!(text.contains("connection: close"), "{text}");
        assert!(
            text.ends_with("\r\n\r\n") || !request.starts_with("HEAD"),
            "{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_still_gets_every_token_later() {
    // Tens of megabytes due at once: more than the socket buffers hold, so a writer finds the
    // socket full and hands the rest of the stream back to the connection's task.
    let address = start("0", "0").await;
    let mut socket = TcpStream::connect(address).await.expect("connect");
    let tokens = 100_000;
    let body = format!(r#"{{"model":"m","prompt":"hi","max_tokens":{tokens},"stream":true}}"#);
    socket
        .write_all(post("/v1/completions", &body, "").as_bytes())
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (head, body, _) = read_response(&mut socket, &mut Vec::new()).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let events = events(&body);
    assert_eq!(events.len(), tokens + 1, "every token and [DONE]");
    assert!(events[tokens - 1].contains("\"finish_reason\":\"length\""));
}

#[tokio::test]
async fn a_streams_ttft_counts_from_the_requests_arrival() {
    use tower_service::Service;

    let raw: Vec<String> = ["--model-path", "fixed-test", "--fixed-ttft-ms", "20"]
        .map(String::from)
        .to_vec();
    let args = SimArgs::parse(&raw).expect("args");
    let state = build_state(
        &args,
        None,
        fixed_mode(&args),
        "fixed-test".into(),
        super::http::Surface::Sglang,
    );
    let mut router = super::http::router(state);
    let arrived = Instant::now() - Duration::from_millis(7);
    let body = r#"{"model":"m","prompt":"hi","max_tokens":3,"stream":true}"#;
    let mut request = axum::http::Request::post("/v1/completions")
        .body(axum::body::Body::from(body))
        .expect("request");
    request
        .extensions_mut()
        .insert(super::http::RequestArrival(arrived));
    let Ok(response) = router.call(request).await;
    let plan = response
        .extensions()
        .get::<std::sync::Arc<super::http::FixedPlan>>()
        .expect("a fixed-latency plan");
    assert_eq!(plan.due(0), arrived + Duration::from_millis(20));
}
