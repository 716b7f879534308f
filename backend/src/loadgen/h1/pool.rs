//! The connection pool: where plain-HTTP requests go and the idle keep-alive connections to it
//! (sending a request on one is [`super::exchange`]'s).

use crossbeam_queue::SegQueue;
use tokio::net::TcpStream;

use crate::loadgen::stream::RequestError;

/// Where plain-HTTP requests go, and the idle connections to it.
#[derive(Debug)]
pub(crate) struct Pool {
    /// `host:port` for connecting (resolved at each new connection) and for the `Host` header.
    authority: String,
    idle: SegQueue<TcpStream>,
}

impl Pool {
    /// A pool for `base_url` when it is plain `http://` and no proxy is configured (reqwest
    /// honours the proxy variables; this client does not), else `None`.
    pub(crate) fn for_base_url(base_url: &str) -> Option<Pool> {
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
    pub(super) fn pop_open(&self) -> Option<TcpStream> {
        while let Some(stream) = self.idle.pop() {
            let mut probe = [0_u8; 1];
            if matches!(stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
            {
                return Some(stream);
            }
        }
        None
    }

    /// `host:port`, for connecting and for the `Host` header.
    pub(super) fn authority(&self) -> &str {
        &self.authority
    }

    /// Takes back a connection whose response is complete, for the next request.
    pub(super) fn push_idle(&self, stream: TcpStream) {
        self.idle.push(stream);
    }

    pub(super) async fn connect(&self) -> Result<TcpStream, RequestError> {
        let stream = TcpStream::connect(self.authority.as_str())
            .await
            .map_err(|_| RequestError::Connect)?;
        let _ = stream.set_nodelay(true);
        // Kernel receive timestamps: a token's time is when it arrived, not when this client
        // got round to reading it.
        crate::stamped_read::enable(&stream);
        Ok(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
