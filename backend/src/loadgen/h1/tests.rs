//! End-to-end tests of the HTTP/1.1 client against raw TCP servers: keep-alive reuse, the
//! retry of a connection the server closed, body framings, receive times and errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::Pool;
use crate::loadgen::stream::RequestError;

/// `parts` as a chunked body (with a chunk extension and a trailer).
pub(super) fn chunked(parts: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        out.extend_from_slice(format!("{:x};ext=1\r\n{part}\r\n", part.len()).as_bytes());
    }
    out.extend_from_slice(b"0\r\nx-trailer: 1\r\n\r\n");
    out
}

/// A raw server: answers each request on a connection with `answers[n]`, in turn, then
/// closes the connection when `close_after_each` is set. Counts accepted connections.
async fn raw_server(answers: Vec<Vec<u8>>, close_after_each: bool) -> (String, Arc<AtomicUsize>) {
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
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
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
