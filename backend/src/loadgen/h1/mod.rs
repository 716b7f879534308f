//! A minimal HTTP/1.1 client for the load generator's hot path against plain `http://` servers.
//!
//! reqwest (over hyper) drives every connection from its own task and hands each body chunk to
//! the request's task through a channel: two task wake-ups per streamed token. Here the request's
//! task owns its connection, writes the request in one system call, parses the response head
//! with `httparse` and decodes the chunked body itself, so a token costs one read and one wake-up.
//! Idle keep-alive connections wait in a lock-free queue. A reused connection that the server
//! closed while idle is retried once on a fresh one, as hyper does. Anything else (TLS, proxies)
//! goes through reqwest.
//!
//! [`pool`] holds the idle connections, [`exchange`] sends a request on one (`Pool::post`) and
//! reads the response head, [`body`] decodes the body's framing, and [`response`] reads a body
//! off its connection and hands the connection back.

mod body;
mod exchange;
#[cfg(test)]
mod fuzz_tests;
mod pool;
mod response;

#[cfg(test)]
mod tests;

pub(super) use pool::Pool;
