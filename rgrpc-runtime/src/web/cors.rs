//! CORS for gRPC-Web (PROTOCOL-WEB, "CORS preflight", and the Fetch standard's CORS
//! protocol): which origins may call, the answer to a preflight `OPTIONS`, and the headers an
//! allowed response carries.
//!
//! A gRPC-Web request is never a CORS "simple request" (its `content-type` is not one of the
//! three the Fetch standard lets through), so a browser always asks first with a preflight.
//! Requests without `Origin` are not from a browser's cross-origin fetch (curl, `buf curl`,
//! a backend) and pass unchanged; CORS protects browsers' users, not the server.

use std::time::Duration;

use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode};

use crate::Status;

/// The request headers every gRPC-Web client may send (PROTOCOL-WEB; connect-web and
/// grpc-web send these and no others of their own).
const ALWAYS_ALLOWED: [&str; 4] = ["content-type", "x-grpc-web", "x-user-agent", "grpc-timeout"];

/// The response headers a gRPC-Web client must read, for trailers-only responses.
const ALWAYS_EXPOSED: [&str; 3] = ["grpc-status", "grpc-message", "grpc-status-details-bin"];

/// Which origins may call.
#[derive(Clone, Debug, Default)]
pub(crate) enum Origins {
    /// None but the server's own (the default).
    #[default]
    None,
    /// Any origin.
    Any,
    /// These origins (`scheme://host[:port]`, compared ignoring ASCII case).
    List(Vec<HeaderValue>),
}

/// A request's standing with the policy.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// No `Origin` header, or the server's own origin: nothing to add.
    NotCrossOrigin,
    /// A cross-origin request from an allowed origin; the value for
    /// `access-control-allow-origin`.
    Allowed(HeaderValue),
    /// A cross-origin request from an origin not allowed.
    Denied,
}

/// The compiled policy, with the header values it sends built once.
#[derive(Clone, Debug)]
pub(crate) struct Cors {
    origins: Origins,
    credentials: bool,
    allow_headers: HeaderValue,
    expose_headers: HeaderValue,
    max_age: HeaderValue,
}

/// A configured header name or origin that cannot be one.
#[derive(Debug)]
pub(crate) struct InvalidCors(pub(crate) String);

impl Cors {
    pub(crate) fn new(
        origins: Origins,
        allow: &[String],
        expose: &[String],
        credentials: bool,
        max_age: Duration,
    ) -> Result<Cors, InvalidCors> {
        let allowed = names_list(ALWAYS_ALLOWED.iter().copied(), allow)?;
        let exposed = names_list(ALWAYS_EXPOSED.iter().copied(), expose)?;
        Ok(Cors {
            origins,
            credentials,
            allow_headers: join(&allowed)?,
            expose_headers: join(&exposed)?,
            max_age: HeaderValue::from(max_age.as_secs()),
        })
    }

    /// Classifies a request by its `Origin` against the policy. `authority` is the request's
    /// own host (`Host`, or `:authority` on HTTP/2): a page the server itself serves is not
    /// cross-origin, and browsers send `Origin` on its POSTs too.
    pub(crate) fn check(&self, headers: &HeaderMap, authority: Option<&[u8]>) -> Decision {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Decision::NotCrossOrigin;
        };
        if authority.is_some_and(|a| same_origin(origin.as_bytes(), a)) {
            return Decision::NotCrossOrigin;
        }
        let allowed = match &self.origins {
            Origins::None => false,
            Origins::Any => true,
            Origins::List(list) => list
                .iter()
                .any(|o| o.as_bytes().eq_ignore_ascii_case(origin.as_bytes())),
        };
        if !allowed {
            return Decision::Denied;
        }
        // `*` cannot be combined with credentials (Fetch, "CORS check"), and a listed origin
        // is echoed so that a cache keeps one answer per origin (with `vary: origin`).
        match (&self.origins, self.credentials) {
            (Origins::Any, false) => Decision::Allowed(HeaderValue::from_static("*")),
            _ => Decision::Allowed(origin.clone()),
        }
    }

    /// The answer to an `OPTIONS` request, headers only. A preflight from an allowed origin
    /// gets `204` with what may be sent; the browser, not the server, compares it with what
    /// it wants to send, and its console then names the missing header. A preflight from an
    /// origin not allowed gets `403` with no CORS headers. An `OPTIONS` that is not a
    /// preflight learns the methods (`allow`).
    pub(crate) fn preflight(&self, headers: &HeaderMap, authority: Option<&[u8]>) -> Answer {
        let is_preflight = headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        let decision = self.check(headers, authority);
        let mut out = HeaderMap::new();
        let status = match decision {
            Decision::Allowed(origin) if is_preflight => {
                self.vary(&origin, &mut out);
                out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                out.insert(
                    header::ACCESS_CONTROL_ALLOW_METHODS,
                    HeaderValue::from_static("POST, OPTIONS"),
                );
                out.insert(
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    self.allow_headers.clone(),
                );
                out.insert(header::ACCESS_CONTROL_MAX_AGE, self.max_age.clone());
                self.credentials(&mut out);
                StatusCode::NO_CONTENT
            }
            Decision::Denied if is_preflight => {
                out.insert(header::VARY, HeaderValue::from_static("origin"));
                StatusCode::FORBIDDEN
            }
            _ => {
                out.insert(header::ALLOW, HeaderValue::from_static("POST, OPTIONS"));
                StatusCode::NO_CONTENT
            }
        };
        Answer {
            status,
            headers: out,
        }
    }

    /// The CORS headers of an allowed cross-origin response.
    pub(crate) fn decorate(&self, origin: HeaderValue, out: &mut HeaderMap) {
        self.vary(&origin, out);
        out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        out.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            self.expose_headers.clone(),
        );
        self.credentials(out);
    }

    fn vary(&self, origin: &HeaderValue, out: &mut HeaderMap) {
        if origin != "*" {
            out.append(header::VARY, HeaderValue::from_static("origin"));
        }
    }

    fn credentials(&self, out: &mut HeaderMap) {
        if self.credentials {
            out.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    }
}

/// A response with no body: a preflight's answer or a refusal.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
}

impl Answer {
    /// A cross-origin request from an origin not allowed: refused before the call starts,
    /// so that a page that skipped the preflight (a non-browser can) runs nothing. The gRPC
    /// status is for clients that can read it.
    pub(crate) fn denied(origin: Option<&HeaderValue>) -> Answer {
        let origin = origin.map(|o| String::from_utf8_lossy(o.as_bytes()).into_owned());
        let status = Status::permission_denied(format!(
            "origin {} is not allowed to call this server (CORS)",
            origin.as_deref().unwrap_or("?")
        ));
        let mut headers = HeaderMap::new();
        crate::wire::write_status(&status, &mut headers);
        headers.insert(header::VARY, HeaderValue::from_static("origin"));
        Answer {
            status: StatusCode::FORBIDDEN,
            headers,
        }
    }

    /// A request that is not gRPC-Web at all: `method` other than POST/OPTIONS, or a
    /// `content-type` neither gRPC-Web nor (on HTTP/1.1) anything this port speaks.
    pub(crate) fn not_grpc_web(method: &Method) -> Answer {
        let (status, message) = if method == Method::POST {
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "this port speaks gRPC (HTTP/2) and gRPC-Web (application/grpc-web[-text])",
            )
        } else {
            (
                StatusCode::METHOD_NOT_ALLOWED,
                "gRPC-Web calls are POST requests",
            )
        };
        let mut headers = HeaderMap::new();
        crate::wire::write_status(&Status::internal(message), &mut headers);
        if status == StatusCode::METHOD_NOT_ALLOWED {
            headers.insert(header::ALLOW, HeaderValue::from_static("POST, OPTIONS"));
        }
        Answer { status, headers }
    }
}

/// `origin` (`scheme://host[:port]`) names `authority` (`host[:port]`).
fn same_origin(origin: &[u8], authority: &[u8]) -> bool {
    let host = origin
        .strip_prefix(b"http://")
        .or_else(|| origin.strip_prefix(b"https://"));
    host.is_some_and(|h| !h.is_empty() && h.eq_ignore_ascii_case(authority))
}

fn names_list<'a>(
    fixed: impl Iterator<Item = &'a str>,
    extra: &'a [String],
) -> Result<Vec<HeaderName>, InvalidCors> {
    let mut out: Vec<HeaderName> = Vec::new();
    for name in fixed.chain(extra.iter().map(String::as_str)) {
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| InvalidCors(format!("{name:?} is not a header name")))?;
        if !out.contains(&name) {
            out.push(name);
        }
    }
    Ok(out)
}

fn join(names: &[HeaderName]) -> Result<HeaderValue, InvalidCors> {
    let joined = names
        .iter()
        .map(HeaderName::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    HeaderValue::from_str(&joined).map_err(|_| InvalidCors(joined))
}

/// Checks a configured origin: `null`, or `scheme://host[:port]` with nothing after.
pub(crate) fn parse_origin(origin: &str) -> Result<HeaderValue, InvalidCors> {
    let invalid = || {
        InvalidCors(format!(
            "{origin:?} is not an origin (scheme://host[:port], e.g. https://app.example.com)"
        ))
    };
    if origin == "null" {
        return Ok(HeaderValue::from_static("null"));
    }
    let (scheme, rest) = origin.split_once("://").ok_or_else(invalid)?;
    let scheme_ok = !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    let host_ok = !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b));
    if !scheme_ok || !host_ok {
        return Err(invalid());
    }
    HeaderValue::from_str(origin).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn request(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn policy(origins: Origins) -> Cors {
        Cors::new(
            origins,
            &["X-Trace".into()],
            &["x-greeting".into()],
            false,
            HOUR,
        )
        .unwrap()
    }

    const PREFLIGHT: [(&str, &str); 3] = [
        ("origin", "http://app.example:8080"),
        ("access-control-request-method", "POST"),
        ("access-control-request-headers", "content-type,x-grpc-web"),
    ];

    #[test]
    fn no_origin_is_allowed_by_default_and_any_origin_is_not() {
        let cors = policy(Origins::None);
        assert_eq!(cors.check(&request(&[]), None), Decision::NotCrossOrigin);
        let from = request(&[("origin", "http://evil.example")]);
        assert_eq!(cors.check(&from, Some(b"api.example")), Decision::Denied);
        // The server's own page: same host and port.
        let own = request(&[("origin", "http://API.example:50051")]);
        assert_eq!(
            cors.check(&own, Some(b"api.example:50051")),
            Decision::NotCrossOrigin
        );
        // Another port is another origin.
        assert_eq!(
            cors.check(&own, Some(b"api.example:50052")),
            Decision::Denied
        );
    }

    #[test]
    fn listed_origins_are_echoed_and_any_is_a_star() {
        let listed = policy(Origins::List(vec![
            parse_origin("http://app.example:8080").unwrap()
        ]));
        let from = request(&[("origin", "http://app.example:8080")]);
        assert_eq!(
            listed.check(&from, None),
            Decision::Allowed(HeaderValue::from_static("http://app.example:8080"))
        );
        let other = request(&[("origin", "http://app.example:8081")]);
        assert_eq!(listed.check(&other, None), Decision::Denied);
        let any = policy(Origins::Any);
        assert_eq!(
            any.check(&other, None),
            Decision::Allowed(HeaderValue::from_static("*"))
        );
        let with_credentials = Cors::new(Origins::Any, &[], &[], true, HOUR).unwrap();
        assert_eq!(
            with_credentials.check(&other, None),
            Decision::Allowed(HeaderValue::from_static("http://app.example:8081"))
        );
    }

    #[test]
    fn preflight_from_an_allowed_origin() {
        let cors = policy(Origins::Any);
        let answer = cors.preflight(&request(&PREFLIGHT), None);
        assert_eq!(answer.status, StatusCode::NO_CONTENT);
        let h = &answer.headers;
        assert_eq!(h["access-control-allow-origin"], "*");
        assert_eq!(h["access-control-allow-methods"], "POST, OPTIONS");
        assert_eq!(
            h["access-control-allow-headers"],
            "content-type, x-grpc-web, x-user-agent, grpc-timeout, x-trace"
        );
        assert_eq!(h["access-control-max-age"], "3600");
        assert!(!h.contains_key("access-control-allow-credentials"));
        assert!(!h.contains_key("vary"));
    }

    #[test]
    fn preflight_from_another_origin_is_forbidden() {
        let cors = policy(Origins::None);
        let answer = cors.preflight(&request(&PREFLIGHT), Some(b"localhost:1"));
        assert_eq!(answer.status, StatusCode::FORBIDDEN);
        assert!(!answer.headers.contains_key("access-control-allow-origin"));
        // An OPTIONS that is not a preflight just learns the methods.
        let plain = cors.preflight(&request(&[]), None);
        assert_eq!(plain.status, StatusCode::NO_CONTENT);
        assert_eq!(plain.headers["allow"], "POST, OPTIONS");
    }

    #[test]
    fn allowed_responses_expose_the_status_headers() {
        let cors = Cors::new(
            Origins::List(vec![parse_origin("https://a.example").unwrap()]),
            &[],
            &["X-Greeting".into(), "x-greeting".into()],
            true,
            HOUR,
        )
        .unwrap();
        let mut out = HeaderMap::new();
        cors.decorate(HeaderValue::from_static("https://a.example"), &mut out);
        assert_eq!(out["access-control-allow-origin"], "https://a.example");
        assert_eq!(
            out["access-control-expose-headers"],
            "grpc-status, grpc-message, grpc-status-details-bin, x-greeting"
        );
        assert_eq!(out["access-control-allow-credentials"], "true");
        assert_eq!(out["vary"], "origin");
    }

    #[test]
    fn origins_and_names_are_checked() {
        for good in [
            "https://a.example",
            "http://127.0.0.1:8080",
            "http://[::1]:80",
            "null",
        ] {
            assert!(parse_origin(good).is_ok(), "{good}");
        }
        for bad in [
            "a.example",
            "https://",
            "https://a.example/",
            "https://a b",
            "*",
            "",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
        assert!(Cors::new(Origins::None, &["bad name".into()], &[], false, HOUR).is_err());
    }
}
