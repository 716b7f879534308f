//! Socket reads that say when the kernel received the bytes (`SO_TIMESTAMPNS`), so a latency
//! is timed from the data's arrival, not from when a busy thread got round to reading it. The
//! load generator's HTTP/1.1 client times tokens this way, and the fixed-latency simulator starts
//! its promised TTFT at the request's arrival.
//!
//! A read brings whatever has arrived; its timestamp is the last packet's. The kernel stamps with
//! the wall clock; [`StampedReader::read_more`] turns that into an [`Instant`] by age (now less
//! how long ago), which stays right however the wall clock is set.

use std::io;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::socket::{self, sockopt};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Asks the kernel to stamp what `stream` receives (best effort: without it, reads carry no
/// time).
pub(crate) fn enable(stream: &TcpStream) {
    let _ = socket::setsockopt(stream, sockopt::ReceiveTimestampns, &true);
}

/// Reads a socket with `recvmsg` into buffers kept for the whole connection or response
/// (zeroed once, not at every read), with the kernel's receive timestamp.
#[derive(Debug)]
pub(crate) struct StampedReader {
    scratch: Vec<u8>,
    control: Vec<u8>,
}

impl StampedReader {
    /// A reader taking up to `read_size` bytes a read.
    pub(crate) fn new(read_size: usize) -> StampedReader {
        StampedReader {
            scratch: vec![0; read_size.max(1)],
            control: nix::cmsg_space!(nix::sys::time::TimeSpec),
        }
    }

    /// One socket read appended to `buf`: how many bytes, and when the kernel received them
    /// (the last of them), when the socket reports it.
    /// `Ok((0, _))` is the end of the stream.
    pub(crate) async fn read_more(
        &mut self,
        stream: &TcpStream,
        buf: &mut Vec<u8>,
    ) -> io::Result<(usize, Option<Instant>)> {
        loop {
            stream.readable().await?;
            let mut read = None;
            // A short read drains the socket: report it as "would block" inside the same
            // `try_io` so tokio clears the readiness it saw (as its own `poll_read` does), and
            // the next read waits for new data instead of costing a system call that finds none.
            let outcome = stream.try_io(Interest::READABLE, || {
                let (n, at) = self.receive(stream)?;
                buf.extend_from_slice(&self.scratch[..n]);
                read = Some((n, at));
                if n > 0 && n < self.scratch.len() {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Ok(())
            });
            match (read, outcome) {
                (Some(read), _) => return Ok(read),
                (None, Err(error)) if error.kind() == io::ErrorKind::WouldBlock => {}
                (None, Err(error)) => return Err(error),
                (None, Ok(())) => return Err(io::ErrorKind::UnexpectedEof.into()),
            }
        }
    }

    fn receive(&mut self, stream: &TcpStream) -> io::Result<(usize, Option<Instant>)> {
        let mut iov = [io::IoSliceMut::new(&mut self.scratch)];
        let message = socket::recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut self.control),
            socket::MsgFlags::empty(),
        )?;
        let stamp = message.cmsgs().ok().and_then(|mut cmsgs| {
            cmsgs.find_map(|cmsg| match cmsg {
                socket::ControlMessageOwned::ScmTimestampns(stamp) => Some(stamp),
                _ => None,
            })
        });
        Ok((message.bytes, stamp.and_then(kernel_time_as_instant)))
    }
}

/// A kernel receive timestamp (wall clock) as an `Instant`: now, less how long ago it was.
/// `None` for a stamp from the future or older than a minute (the wall clock jumped).
fn kernel_time_as_instant(stamp: nix::sys::time::TimeSpec) -> Option<Instant> {
    let since_epoch = Duration::new(
        u64::try_from(stamp.tv_sec()).ok()?,
        u32::try_from(stamp.tv_nsec()).ok()?,
    );
    let age = SystemTime::now()
        .duration_since(UNIX_EPOCH + since_epoch)
        .ok()
        .filter(|age| *age < Duration::from_secs(60))?;
    Instant::now().checked_sub(age)
}
