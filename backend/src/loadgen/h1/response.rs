//! A response whose body is still on the wire: reading it off the connection as it arrives,
//! with the kernel's receive time, and handing the connection back to the pool at its end.

use std::time::Instant;

use tokio::net::TcpStream;

use super::body::Framing;
use super::pool::Pool;
use crate::loadgen::stream::RequestError;
use crate::stamped_read::StampedReader;

/// A response whose body is still on the wire.
#[derive(Debug)]
pub(crate) struct Response<'p> {
    pub(super) pool: &'p Pool,
    /// `None` once handed back to the pool.
    pub(super) stream: Option<TcpStream>,
    /// HTTP status code.
    pub status: u16,
    pub(super) keep_alive: bool,
    pub(super) framing: Framing,
    /// Received bytes not decoded yet.
    pub(super) buf: Vec<u8>,
    /// When the kernel received the bytes of the latest read, where it says.
    pub(super) arrived: Option<Instant>,
    pub(super) reader: StampedReader,
}

impl Response<'_> {
    /// Appends the body bytes that have arrived (waiting for at least one socket read when
    /// nothing is buffered) to `out`. Returns `false` once the body is complete; the connection
    /// then goes back to the pool.
    pub(crate) async fn read_into(&mut self, out: &mut Vec<u8>) -> Result<bool, RequestError> {
        if self.framing.done() {
            return Ok(false);
        }
        // What is buffered may be only part of the framing (a chunk-size line cut between two
        // packets): then nothing decodes, and only more bytes from the socket can help.
        let mut read = self.buf.is_empty();
        loop {
            if read {
                let stream = self.stream.as_mut().ok_or(RequestError::Other)?;
                let (count, arrived) = self
                    .reader
                    .read_more(stream, &mut self.buf)
                    .await
                    .map_err(|_| RequestError::Truncated)?;
                self.arrived = arrived;
                if count == 0 {
                    return match self.framing {
                        Framing::Close => Ok(false),
                        _ => Err(RequestError::Truncated),
                    };
                }
            }
            let (buffered, decoded) = (self.buf.len(), out.len());
            self.framing.decode(&mut self.buf, out)?;
            if self.framing.done() {
                return Ok(self.release());
            }
            if self.buf.len() != buffered || out.len() != decoded {
                return Ok(true);
            }
            read = true;
        }
    }

    /// When the kernel received the bytes that the latest [`Response::read_into`] returned (the
    /// last of them, when one read brought several packets), where the socket reports it.
    pub(crate) fn arrived_at(&self) -> Option<Instant> {
        self.arrived
    }

    /// Reads the whole remaining body.
    pub(crate) async fn read_to_end(&mut self) -> Result<Vec<u8>, RequestError> {
        let mut body = Vec::new();
        while self.read_into(&mut body).await? {}
        Ok(body)
    }

    /// Returns the connection to the pool when it can carry another request. Always `false`:
    /// the body is complete.
    fn release(&mut self) -> bool {
        if self.keep_alive
            && self.buf.is_empty()
            && let Some(stream) = self.stream.take()
        {
            self.pool.push_idle(stream);
        }
        false
    }
}
