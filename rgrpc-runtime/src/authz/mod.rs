//! Authorization policies per gRFC A43: the JSON policy grpc-go's `authz` package reads —
//! deny rules, then allow rules, default deny — matched against the caller's principal
//! (from its TLS certificate), the method path and request headers.
//!
//! ```
//! use rgrpc_runtime::authz::{AuthzPolicy, Caller};
//!
//! let policy = AuthzPolicy::from_json(r#"{
//!   "name": "echo",
//!   "deny_rules": [{ "name": "no-admin", "request": { "paths": ["/echo.Echo/Admin*"] } }],
//!   "allow_rules": [{
//!     "name": "clients",
//!     "source": { "principals": ["spiffe://rgrpc.test/*"] },
//!     "request": { "paths": ["/echo.Echo/*"] }
//!   }]
//! }"#).unwrap();
//!
//! let headers = http::HeaderMap::new();
//! let names = ["spiffe://rgrpc.test/client"];
//! let caller = Caller::Certificate(&names);
//! assert!(policy.check("/echo.Echo/Unary", &headers, caller).is_ok());
//! assert!(policy.check("/echo.Echo/AdminReset", &headers, caller).is_err());
//! assert!(policy.check("/echo.Echo/Unary", &headers, Caller::Plaintext).is_err());
//! ```
//!
//! What a policy can say, as grpc-go reads it:
//!
//! - A rule matches when its `source` and its `request` match. No `principals` means any
//!   caller; no `paths` any method; each entry of `headers` must match (AND), each by any of
//!   its `values` (OR).
//! - Every pattern (principal, path, header value) is exact, `prefix*`, `*suffix`, or `*`
//!   (anything non-empty).
//! - A principal matches a TLS caller's URI SANs, then DNS SANs, then its subject (gRFC A41);
//!   a TLS caller without a certificate is the empty name; a caller not over TLS matches no
//!   principal.
//! - Header keys are lowercased; pseudo-headers, `grpc-*`, `host` and hop-by-hop headers
//!   cannot be matched. A header with several values is matched as its values joined by
//!   `,`, as grpc-go does.
//!
//! A call a deny rule matches, or no allow rule matches, fails with `PERMISSION_DENIED`; one
//! refused only because it came without the client certificate an allow rule wanted fails
//! with `UNAUTHENTICATED` instead (grpc-go answers `PERMISSION_DENIED` for both), so a
//! client can tell "log in" from "not allowed".

mod parse;

use http::HeaderMap;

use crate::Status;

pub use parse::PolicyError;

/// A parsed authorization policy. Cheap to evaluate: no allocation per call.
#[derive(Clone, Debug)]
pub struct AuthzPolicy {
    name: String,
    deny: Vec<Rule>,
    allow: Vec<Rule>,
}

#[derive(Clone, Debug)]
struct Rule {
    name: String,
    /// `None`: any caller (no `principals`).
    principals: Option<Vec<Pattern>>,
    /// Empty: any path.
    paths: Vec<Pattern>,
    headers: Vec<HeaderRule>,
}

#[derive(Clone, Debug)]
struct HeaderRule {
    key: http::HeaderName,
    values: Vec<Pattern>,
}

/// One pattern of a policy (gRFC A43 "string matching").
#[derive(Clone, Debug, PartialEq, Eq)]
enum Pattern {
    /// `*`: any non-empty string (grpc-go's `.+`).
    Present,
    Prefix(String),
    Suffix(String),
    Exact(String),
}

impl Pattern {
    fn new(text: &str) -> Pattern {
        if text == "*" {
            Pattern::Present
        } else if let Some(prefix) = text.strip_suffix('*') {
            Pattern::Prefix(prefix.to_owned())
        } else if let Some(suffix) = text.strip_prefix('*') {
            Pattern::Suffix(suffix.to_owned())
        } else {
            Pattern::Exact(text.to_owned())
        }
    }

    fn matches(&self, value: &str) -> bool {
        match self {
            Pattern::Present => !value.is_empty(),
            Pattern::Prefix(prefix) => value.starts_with(prefix.as_str()),
            Pattern::Suffix(suffix) => value.ends_with(suffix.as_str()),
            Pattern::Exact(exact) => value == exact,
        }
    }

    fn matches_bytes(&self, value: &[u8]) -> bool {
        match self {
            Pattern::Present => !value.is_empty(),
            Pattern::Prefix(prefix) => value.starts_with(prefix.as_bytes()),
            Pattern::Suffix(suffix) => value.ends_with(suffix.as_bytes()),
            Pattern::Exact(exact) => value == exact.as_bytes(),
        }
    }
}

/// Who is calling, as far as authorization can tell.
#[derive(Clone, Copy, Debug)]
pub enum Caller<'a> {
    /// Not over TLS (plaintext TCP, a Unix socket, in-process): matches no principal.
    Plaintext,
    /// Over TLS without a client certificate: matches only the empty principal.
    TlsWithoutCertificate,
    /// Over TLS with a verified client certificate whose names are these, in gRFC A41's
    /// order: URI SANs, DNS SANs, then the subject.
    Certificate(&'a [&'a str]),
}

impl Caller<'_> {
    fn has_identity(&self) -> bool {
        matches!(self, Caller::Certificate(_))
    }
}

/// The outcome of [`AuthzPolicy::evaluate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision<'p> {
    /// An allow rule matched (named) and no deny rule did.
    Allow(&'p str),
    /// The named deny rule matched.
    DeniedBy(&'p str),
    /// No allow rule matched.
    NotAllowed,
    /// No allow rule matched, but one that wants a certificate would have matched the
    /// request: the caller brought none.
    NeedsCertificate,
}

impl AuthzPolicy {
    /// Parses a policy in grpc-go's `authz` JSON; errors name the offending field.
    pub fn from_json(json: &str) -> Result<AuthzPolicy, PolicyError> {
        parse::policy(json)
    }

    /// Reads and parses a policy file; errors name the file and the field.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<AuthzPolicy, PolicyError> {
        let path = path.as_ref();
        let json = std::fs::read_to_string(path)
            .map_err(|e| PolicyError::new(format!("reading {}: {e}", path.display())))?;
        parse::policy(&json).map_err(|e| e.in_file(path))
    }

    /// The policy's `name`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Decides a call to `path` with request `headers` from `caller`.
    pub fn evaluate<'p>(
        &'p self,
        path: &str,
        headers: &HeaderMap,
        caller: Caller<'_>,
    ) -> Decision<'p> {
        if let Some(rule) = self
            .deny
            .iter()
            .find(|rule| rule.matches(path, headers, caller))
        {
            return Decision::DeniedBy(&rule.name);
        }
        if let Some(rule) = self
            .allow
            .iter()
            .find(|rule| rule.matches(path, headers, caller))
        {
            return Decision::Allow(&rule.name);
        }
        let wanted_certificate = !caller.has_identity()
            && self
                .allow
                .iter()
                .any(|rule| rule.principals.is_some() && rule.request_matches(path, headers));
        if wanted_certificate {
            Decision::NeedsCertificate
        } else {
            Decision::NotAllowed
        }
    }

    /// [`AuthzPolicy::evaluate`] as a call's status: `Ok` to let it through,
    /// `PERMISSION_DENIED` or `UNAUTHENTICATED` otherwise. The messages do not say which
    /// rule decided (that stays in the server's debug log), as grpc-go's do not.
    pub fn check(&self, path: &str, headers: &HeaderMap, caller: Caller<'_>) -> Result<(), Status> {
        match self.evaluate(path, headers, caller) {
            Decision::Allow(_) => Ok(()),
            Decision::DeniedBy(rule) => {
                tracing::debug!(policy = %self.name, rule, path, "authz: denied by rule");
                Err(Status::permission_denied(
                    "unauthorized RPC request rejected",
                ))
            }
            Decision::NotAllowed => {
                tracing::debug!(policy = %self.name, path, "authz: no allow rule matched");
                Err(Status::permission_denied(
                    "unauthorized RPC request rejected",
                ))
            }
            Decision::NeedsCertificate => {
                tracing::debug!(policy = %self.name, path, "authz: no client certificate");
                Err(Status::unauthenticated(
                    "this method needs an authenticated caller (a TLS client certificate)",
                ))
            }
        }
    }
}

impl Rule {
    fn matches(&self, path: &str, headers: &HeaderMap, caller: Caller<'_>) -> bool {
        self.source_matches(caller) && self.request_matches(path, headers)
    }

    fn source_matches(&self, caller: Caller<'_>) -> bool {
        let Some(principals) = &self.principals else {
            return true;
        };
        match caller {
            Caller::Plaintext => false,
            Caller::TlsWithoutCertificate => principals.iter().any(|p| p.matches("")),
            Caller::Certificate(names) => principals
                .iter()
                .any(|p| names.iter().any(|name| p.matches(name))),
        }
    }

    fn request_matches(&self, path: &str, headers: &HeaderMap) -> bool {
        (self.paths.is_empty() || self.paths.iter().any(|p| p.matches(path)))
            && self.headers.iter().all(|rule| rule.matches(headers))
    }
}

impl HeaderRule {
    fn matches(&self, headers: &HeaderMap) -> bool {
        let mut values = headers.get_all(&self.key).iter();
        let Some(first) = values.next() else {
            return false;
        };
        match values.next() {
            // The common case: one value, matched in place.
            None => self
                .values
                .iter()
                .any(|p| p.matches_bytes(first.as_bytes())),
            Some(second) => {
                // Several values: grpc-go joins them with ","; so do we (rare, allocates).
                let mut joined = first.as_bytes().to_vec();
                for value in std::iter::once(second).chain(values) {
                    joined.push(b',');
                    joined.extend_from_slice(value.as_bytes());
                }
                self.values.iter().any(|p| p.matches_bytes(&joined))
            }
        }
    }
}

#[cfg(test)]
mod tests;
