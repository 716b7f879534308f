//! Property tests of the HTTP/1.1 response parsing: random responses (valid ones of every framing,
//! then with bytes flipped, dropped or added, heads cut or swollen, lengths lying, chunk sizes
//! huge) never panic, never spin and never buffer without bound. Decoding gives at most the bytes
//! that came; over a socket, with the response arriving in random pieces, every request ends with
//! a body or an error.

use std::time::Duration;

use rand::Rng;
use rand::rngs::StdRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::Pool;
use super::body::Framing;
use crate::fuzz;

const SSE: [&str; 4] = [
    "data: {\"choices\":[{\"text\":\"x\"}]}\n\n",
    "data: {\"choices\":[{\"text\":\"yz\",\"finish_reason\":\"length\"}]}\n\n",
    ": keep-alive\n\n",
    "data: [DONE]\n\n",
];

/// A response and the pieces it is sent in.
#[derive(Debug)]
struct Wire {
    bytes: Vec<u8>,
    cuts: Vec<usize>,
}

fn body(rng: &mut StdRng) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rng.random_range(0..6) {
        out.extend_from_slice(SSE[rng.random_range(0..SSE.len())].as_bytes());
    }
    out
}

fn chunked(body: &[u8], rng: &mut StdRng) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < body.len() {
        let take = rng.random_range(1..=body.len() - at);
        let extension = if rng.random_bool(0.2) { ";ext=1" } else { "" };
        out.extend_from_slice(format!("{take:x}{extension}\r\n").as_bytes());
        out.extend_from_slice(&body[at..at + take]);
        out.extend_from_slice(b"\r\n");
        at += take;
    }
    out.extend_from_slice(b"0\r\n");
    if rng.random_bool(0.2) {
        out.extend_from_slice(b"x-trailer: 1\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn response(case: usize) -> Wire {
    let mut rng = fuzz::rng(0x4711_0000 + case as u64);
    let body = body(&mut rng);
    let status = match rng.random_range(0..8) {
        0 => "HTTP/1.0 200 OK".to_string(),
        1 => format!("HTTP/1.1 {} X", rng.random_range(100..600)),
        2 => "HTTP/1.1 204 No Content".to_string(),
        3 => "HTTP/9 200 OK".to_string(),
        _ => "HTTP/1.1 200 OK".to_string(),
    };
    let mut head = vec![status];
    let framing = rng.random_range(0..4);
    let payload = match framing {
        0 | 1 => {
            head.push("Transfer-Encoding: chunked".into());
            chunked(&body, &mut rng)
        }
        2 => {
            let length = match rng.random_range(0..6) {
                0 => "18446744073709551615".to_string(),
                1 => "-1".to_string(),
                2 => "abc".to_string(),
                3 => (body.len() + rng.random_range(1..100)).to_string(),
                _ => body.len().to_string(),
            };
            head.push(format!("Content-Length: {length}"));
            body
        }
        _ => {
            head.push("Connection: close".into());
            body
        }
    };
    for _ in 0..rng.random_range(0..3) {
        head.push(
            [
                "Connection: close",
                "content-type: text/event-stream",
                "Transfer-Encoding: gzip, chunked",
                "Content-Length: 5",
            ][rng.random_range(0..4)]
            .into(),
        );
    }
    if rng.random_bool(0.03) {
        for i in 0..40 {
            head.push(format!("x-many-{i}: 1"));
        }
    }
    if rng.random_bool(0.03) {
        head.push(format!("x-long: {}", "a".repeat(70_000)));
    }
    let mut bytes = head.join("\r\n").into_bytes();
    bytes.extend_from_slice(b"\r\n\r\n");
    bytes.extend_from_slice(&payload);
    // Chunk sizes that claim a lot, or never end.
    if framing == 0 && rng.random_bool(0.3) {
        let huge: &[u8] = match rng.random_range(0..3) {
            0 => b"ffffffffffffffff\r\n",
            1 => b"fffffffffffffffff\r\n",
            _ => b"1234567890abcdef1234567890",
        };
        let at = bytes.len().saturating_sub(5);
        bytes.splice(at..at, huge.iter().copied());
    }
    for _ in 0..rng.random_range(0..4) {
        if bytes.is_empty() {
            break;
        }
        let at = rng.random_range(0..bytes.len());
        match rng.random_range(0..5) {
            0 => bytes[at] ^= 1 << rng.random_range(0..8),
            1 => {
                bytes.remove(at);
            }
            2 => bytes.insert(at, [b'\r', b'\n', b'0', b';', 0xff][rng.random_range(0..5)]),
            3 => bytes.truncate(at),
            _ => {}
        }
    }
    let mut cuts: Vec<usize> = (0..rng.random_range(0..5))
        .map(|_| rng.random_range(0..=bytes.len()))
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    Wire { bytes, cuts }
}

/// Head parsing and body decoding as the client does them, fed piece by piece.
fn decode_pieces(wire: &Wire) -> Result<(), String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut head = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(len)) = head.parse(&wire.bytes) else {
        return Ok(());
    };
    let mut framing = Framing::of(&head);
    let body = &wire.bytes[len..];
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut from = 0;
    for &cut in wire.cuts.iter().chain([&wire.bytes.len()]) {
        let cut = cut.saturating_sub(len).max(from).min(body.len());
        buf.extend_from_slice(&body[from..cut]);
        from = cut;
        if framing.decode(&mut buf, &mut out).is_err() {
            return Ok(());
        }
        if out.len() > body.len() {
            return Err(format!("decoded {} bytes of {}", out.len(), body.len()));
        }
    }
    Ok(())
}

#[test]
fn decoding_random_responses_piece_by_piece() {
    fuzz::run_cases("h1 decode", 5000, 16 << 20, response, decode_pieces);
}

/// Serves `wire` to one request, in its pieces with pauses between them, then closes.
async fn serve_once(listener: TcpListener, wire: Vec<u8>, cuts: Vec<usize>) {
    let Ok((mut socket, _)) = listener.accept().await else {
        return;
    };
    let _ = socket.set_nodelay(true);
    let mut request = Vec::new();
    let mut byte = [0_u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut byte).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&byte[..n]),
        }
    }
    let mut from = 0;
    for cut in cuts.into_iter().chain([wire.len()]) {
        if socket.write_all(&wire[from..cut]).await.is_err() {
            return;
        }
        from = cut;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// What the client made of a response: `Ok(body length)` or the error, in text.
async fn fetch(pool: &Pool) -> Result<usize, String> {
    let mut response = pool
        .post("/v1/completions", &[], b"{}")
        .await
        .map_err(|e| e.category())?;
    let mut body = Vec::new();
    loop {
        match response.read_into(&mut body).await {
            Ok(true) => {}
            Ok(false) => return Ok(body.len()),
            Err(error) => return Err(error.category()),
        }
    }
}

#[test]
fn random_responses_in_random_pieces_over_a_socket_end() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    for case in 0..400 {
        let wire = response(case);
        let sent = wire.bytes.len();
        let shown: String = String::from_utf8_lossy(&wire.bytes)
            .chars()
            .take(400)
            .collect();
        let (done, outcome) = std::sync::mpsc::channel();
        runtime.spawn(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let url = format!("http://{}", listener.local_addr().expect("addr"));
            // `None` when a proxy is configured: the lean client is not used then.
            let Some(pool) = Pool::for_base_url(&url) else {
                let _ = done.send(None);
                return;
            };
            tokio::spawn(serve_once(listener, wire.bytes, wire.cuts));
            let _ = done.send(Some(fetch(&pool).await));
        });
        // Waited for here, off the runtime: a request that spins would also stop its timers.
        match outcome.recv_timeout(Duration::from_secs(10)) {
            Err(_) => {
                runtime.shutdown_background();
                panic!("case {case}: the request never ended; response: {shown:?}");
            }
            Ok(None) => break,
            Ok(Some(Ok(length))) => assert!(
                length <= sent,
                "case {case}: a body of {length} bytes from {sent}"
            ),
            Ok(Some(Err(_))) => {}
        }
    }
}
