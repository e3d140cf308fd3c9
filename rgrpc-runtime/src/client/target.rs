//! What a channel's target string names: where to connect, and the `:scheme` and
//! `:authority` its requests carry.

use http::uri::{Authority, Scheme, Uri};

use crate::transport::client::Endpoint;
use crate::Error;

/// A parsed target.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) endpoint: Endpoint,
    pub(crate) scheme: Scheme,
    pub(crate) authority: Authority,
    /// What errors and logs name: `host:port`, the socket path, or `in-process`.
    pub(crate) name: String,
}

impl Target {
    /// Parses `http://host[:port]`, `https://host[:port]`, `unix:path`, `unix:///abs/path` and
    /// `unix-abstract:name` (gRPC's `naming.md`).
    pub(crate) fn parse(target: &str) -> Result<Target, Error> {
        if let Some(endpoint) = unix_endpoint(target)? {
            return Ok(Target::local(endpoint, target.to_owned()));
        }
        let uri: Uri = target
            .parse()
            .map_err(|e| Error::invalid_target(target, e))?;
        let scheme = uri.scheme().cloned().unwrap_or(Scheme::HTTP);
        let default_port = if scheme == Scheme::HTTP {
            80
        } else if scheme == Scheme::HTTPS {
            443
        } else {
            return Err(Error::invalid_target(
                target,
                format!("scheme {scheme} is not supported; use http:// or https://"),
            ));
        };
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| Error::invalid_target(target, "no host"))?;
        let name = match authority.port_u16() {
            Some(_) => authority.as_str().to_owned(),
            None => format!("{}:{default_port}", authority.host()),
        };
        Ok(Target {
            endpoint: Endpoint::Tcp(name.clone()),
            scheme,
            authority,
            name,
        })
    }

    /// A target that is not a network name: the authority is `localhost`, as grpc-go sends
    /// for Unix sockets.
    pub(crate) fn local(endpoint: Endpoint, name: String) -> Target {
        Target {
            endpoint,
            scheme: Scheme::HTTP,
            authority: Authority::from_static("localhost"),
            name,
        }
    }
}

/// `unix:path`, `unix:///abs/path` (gRPC's `naming.md`) and `unix-abstract:name`; `None`
/// for any other scheme.
fn unix_endpoint(target: &str) -> Result<Option<Endpoint>, Error> {
    if let Some(name) = target.strip_prefix("unix-abstract:") {
        return Ok(Some(Endpoint::UnixAbstract(name.as_bytes().to_vec())));
    }
    let Some(rest) = target.strip_prefix("unix:") else {
        return Ok(None);
    };
    let path = match rest.strip_prefix("//") {
        // `unix://` must be followed by an absolute path: `unix:///abs`.
        Some(abs) if abs.starts_with('/') => abs,
        Some(_) => {
            return Err(Error::invalid_target(
                target,
                "unix:// takes an absolute path (unix:///path)",
            ))
        }
        None => rest,
    };
    if path.is_empty() {
        return Err(Error::invalid_target(target, "no socket path"));
    }
    Ok(Some(Endpoint::Unix(path.into())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = Target::parse("http://example.com").unwrap();
        assert_eq!(t.name, "example.com:80");
        assert_eq!(t.authority.as_str(), "example.com");
        let t = Target::parse("https://example.com").unwrap();
        assert_eq!(t.name, "example.com:443");
        assert_eq!(t.scheme, Scheme::HTTPS);
        let t = Target::parse("http://127.0.0.1:50051").unwrap();
        assert!(matches!(&t.endpoint, Endpoint::Tcp(a) if a == "127.0.0.1:50051"));
        let t = Target::parse("unix:///tmp/s.sock").unwrap();
        assert!(matches!(&t.endpoint, Endpoint::Unix(p) if p.to_str() == Some("/tmp/s.sock")));
        assert_eq!(t.authority.as_str(), "localhost");
        let t = Target::parse("unix:rel.sock").unwrap();
        assert!(matches!(&t.endpoint, Endpoint::Unix(p) if p.to_str() == Some("rel.sock")));
        let t = Target::parse("unix-abstract:name").unwrap();
        assert!(matches!(&t.endpoint, Endpoint::UnixAbstract(n) if n == b"name"));
    }

    #[test]
    fn bad_targets_say_what_is_wrong() {
        for (target, why) in [
            ("unix://relative", "absolute path"),
            ("unix:", "no socket path"),
            ("ftp://example.com", "not supported"),
            ("http://", "invalid target"),
            ("not a uri", "invalid target"),
        ] {
            let err = Target::parse(target).unwrap_err();
            assert!(err.is_invalid_target(), "{target}");
            assert!(err.to_string().contains(why), "{target}: {err}");
        }
    }
}
