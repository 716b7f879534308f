//! Request checks for the dashboard, which can read results and start processes, so every request
//! is untrusted:
//! - a request must be unambiguous about whom it is for: exactly one `Host` header, and an
//!   origin-form target (`/path?query`); a second `Host` or an absolute-form target
//!   (`GET http://other/...`) could make the checks below read a different name than the one a
//!   proxy or this server acted on, so both are refused with 400,
//! - on loopback, the `Host` header must name this server (blocks DNS rebinding); beyond
//!   loopback the machine has many names and the token does that job,
//! - a request carrying an `Origin` must come from the origin it is addressed to (blocks
//!   cross-site requests, reads and writes alike),
//! - when bound to a non-loopback address, every request needs the token: as `?token=` once (which
//!   sets an `HttpOnly`, `SameSite=Strict` cookie), as the cookie, or as `Authorization: Bearer`.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// What the checks need.
#[derive(Debug, Clone)]
pub(crate) struct Guard {
    /// Host header values accepted on loopback (`127.0.0.1:8321`, `localhost:8321`, ...); empty
    /// beyond loopback (any name, the token decides).
    pub hosts: Vec<String>,
    /// Required token, when bound beyond loopback.
    pub token: Option<String>,
}

const COOKIE: &str = "autobench_token";

impl Guard {
    /// The guard for a server bound to `host:port`.
    pub(crate) fn new(host: &str, port: u16, token: Option<String>) -> Guard {
        let hosts = if is_loopback(host) {
            vec![
                format!("{host}:{port}"),
                format!("127.0.0.1:{port}"),
                format!("localhost:{port}"),
                format!("[::1]:{port}"),
            ]
        } else {
            Vec::new()
        };
        Guard { hosts, token }
    }

    fn host(headers: &HeaderMap) -> Option<&str> {
        headers.get(header::HOST).and_then(|h| h.to_str().ok())
    }

    fn host_ok(&self, headers: &HeaderMap) -> bool {
        match Self::host(headers) {
            None => false,
            Some(_) if self.hosts.is_empty() => true,
            Some(h) => self.hosts.iter().any(|ok| ok.eq_ignore_ascii_case(h)),
        }
    }

    fn origin_ok(&self, headers: &HeaderMap) -> bool {
        match headers.get(header::ORIGIN).map(|o| o.to_str()) {
            None => true,
            Some(Ok(origin)) => Self::host(headers)
                .is_some_and(|h| origin.eq_ignore_ascii_case(&format!("http://{h}"))),
            Some(Err(_)) => false,
        }
    }

    /// `Some(true)` when the token came in the query (the cookie should be set).
    fn token_ok(&self, headers: &HeaderMap, query: Option<&str>) -> Option<bool> {
        let Some(expected) = &self.token else {
            return Some(false);
        };
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|c| {
                c.trim()
                    .strip_prefix(&format!("{COOKIE}="))
                    .map(str::to_string)
            });
        let from_query = query
            .unwrap_or("")
            .split('&')
            .find_map(|p| p.strip_prefix("token="))
            .map(str::to_string);
        if bearer.is_some_and(|b| constant_time_eq(b, expected))
            || cookie.is_some_and(|c| constant_time_eq(&c, expected))
        {
            return Some(false);
        }
        from_query
            .filter(|q| constant_time_eq(q, expected))
            .map(|_| true)
    }
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0_u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Whether `host` is a loopback address or name.
pub(crate) fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Why `request` is malformed for this server, if it is: more than one `Host` header, or a
/// request target that is not a plain path (absolute-form `http://host/path`, authority-form).
fn malformed(request: &Request) -> Option<&'static str> {
    if request
        .headers()
        .get_all(header::HOST)
        .iter()
        .nth(1)
        .is_some()
    {
        return Some("refused: more than one Host header");
    }
    let uri = request.uri();
    if uri.scheme().is_some() || uri.authority().is_some() {
        return Some("refused: the request target must be a path, not an absolute URL");
    }
    None
}

/// The middleware.
pub(crate) async fn check(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    if let Some(reason) = malformed(&request) {
        return (StatusCode::BAD_REQUEST, reason).into_response();
    }
    let headers = request.headers();
    if !guard.host_ok(headers) {
        return (StatusCode::FORBIDDEN, "refused: unexpected Host header").into_response();
    }
    if !guard.origin_ok(headers) {
        return (StatusCode::FORBIDDEN, "refused: cross-origin request").into_response();
    }
    let Some(set_cookie) = guard.token_ok(headers, request.uri().query()) else {
        return (
            StatusCode::UNAUTHORIZED,
            "a token is required: open the URL autobench serve printed",
        )
            .into_response();
    };
    let mut response = next.run(request).await;
    if set_cookie
        && let Some(token) = &guard.token
        && let Ok(value) = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/").parse()
    {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
        }
        map
    }

    #[test]
    fn loopback_guard_accepts_its_names_and_refuses_others() {
        let guard = Guard::new("127.0.0.1", 8321, None);
        assert!(guard.host_ok(&headers(&[("host", "localhost:8321")])));
        assert!(!guard.host_ok(&headers(&[("host", "evil.example:8321")])));
        assert!(!guard.host_ok(&headers(&[])));
        let own = [
            ("host", "127.0.0.1:8321"),
            ("origin", "http://127.0.0.1:8321"),
        ];
        assert!(guard.origin_ok(&headers(&own)));
        let foreign = [
            ("host", "127.0.0.1:8321"),
            ("origin", "http://evil.example"),
        ];
        assert!(!guard.origin_ok(&headers(&foreign)));
        assert_eq!(guard.token_ok(&headers(&[]), None), Some(false));
    }

    #[test]
    fn tokens_come_from_query_cookie_or_bearer() {
        let guard = Guard::new("0.0.0.0", 8321, Some("s3cret".into()));
        assert_eq!(guard.token_ok(&headers(&[]), None), None);
        assert_eq!(
            guard.token_ok(&headers(&[]), Some("token=s3cret")),
            Some(true)
        );
        assert_eq!(guard.token_ok(&headers(&[]), Some("token=wrong")), None);
        assert_eq!(
            guard.token_ok(&headers(&[("cookie", "a=b; autobench_token=s3cret")]), None),
            Some(false)
        );
        assert_eq!(
            guard.token_ok(&headers(&[("authorization", "Bearer s3cret")]), None),
            Some(false)
        );
        assert!(is_loopback("::1") && is_loopback("[::1]") && !is_loopback("0.0.0.0"));
    }

    #[test]
    fn duplicate_hosts_and_absolute_targets_are_malformed() {
        let request = |uri: &str, hosts: &[&str]| {
            let mut builder = Request::builder().uri(uri);
            for host in hosts {
                builder = builder.header(header::HOST, *host);
            }
            builder.body(axum::body::Body::empty()).expect("request")
        };
        assert_eq!(
            malformed(&request("/api/runs?x=1", &["127.0.0.1:8321"])),
            None
        );
        assert!(malformed(&request("/api/runs", &["127.0.0.1:8321", "evil.example"])).is_some());
        assert!(malformed(&request("/api/runs", &["127.0.0.1:8321", "127.0.0.1:8321"])).is_some());
        assert!(
            malformed(&request(
                "http://evil.example/api/runs",
                &["127.0.0.1:8321"]
            ))
            .is_some()
        );
    }
}
