//! Per-call credentials: metadata (usually an access token) a channel or a single call adds
//! to what it sends, possibly fetched asynchronously.
//!
//! Credentials are secrets: they are sent only over TLS, a Unix socket or an in-process
//! connection. Over plaintext TCP the call fails with `UNAUTHENTICATED` before anything is
//! sent, unless the channel explicitly allows it or the credentials say they carry no
//! secret ([`CallCredentials::requires_transport_security`]). A status from a credentials
//! source with a code only a server should decide is turned into `INTERNAL` (gRFC A54).

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION};

use super::interceptor::{ClientCallHead, SecurityLevel};
use crate::intercept::BoxFuture;
use crate::metadata::{InvalidMetadata, MetadataMap};
use crate::{Code, Status};

/// What a credentials source knows of the call it is asked about.
#[derive(Debug)]
pub struct CredentialsContext<'a> {
    method: &'a str,
    authority: &'a str,
    security: SecurityLevel,
}

impl CredentialsContext<'_> {
    /// The method's path, `/package.Service/Method`.
    pub fn method(&self) -> &str {
        self.method
    }

    /// The `:authority` of the call.
    pub fn authority(&self) -> &str {
        self.authority
    }

    /// How the channel's transport protects the call.
    pub fn security(&self) -> SecurityLevel {
        self.security
    }

    /// The service URL gRPC uses as a token audience: `https://{authority}/{package.Service}`
    /// (allocates; only asked for by sources that need it).
    pub fn service_url(&self) -> String {
        let service = self
            .method
            .strip_prefix('/')
            .and_then(|m| m.rsplit_once('/'))
            .map_or("", |(service, _)| service);
        format!("https://{}/{service}", self.authority)
    }
}

/// A source of per-call credentials: a channel's ([`crate::ChannelBuilder::credentials`])
/// or one call's ([`crate::Request::with_credentials`]).
///
/// A source that has what it needs writes it into `metadata` and answers
/// [`CredentialsAnswer::Ready`] (no allocation); one that must fetch or refresh a token
/// answers with a future of the metadata to add.
///
/// ```
/// use rgrpc_runtime::client::{CallCredentials, CredentialsAnswer, CredentialsContext};
/// use rgrpc_runtime::{MetadataMap, Status};
///
/// /// Fetches a token for every call (a real source would cache it).
/// struct FetchedToken;
///
/// impl CallCredentials for FetchedToken {
///     fn apply(&self, _call: &CredentialsContext<'_>, _metadata: &mut MetadataMap) -> CredentialsAnswer {
///         CredentialsAnswer::pending(async {
///             let token = "t0ken"; // e.g. an HTTP call to a token service
///             let mut metadata = MetadataMap::new();
///             metadata
///                 .insert("authorization", &format!("Bearer {token}"))
///                 .map_err(|e| Status::internal(e.to_string()))?;
///             Ok(metadata)
///         })
///     }
/// }
/// ```
pub trait CallCredentials: Send + Sync + 'static {
    /// Adds this source's metadata for one call.
    fn apply(&self, call: &CredentialsContext<'_>, metadata: &mut MetadataMap)
        -> CredentialsAnswer;

    /// Whether these credentials may only travel over a protected transport (TLS, a Unix
    /// socket, in-process). Default `true`: credentials are secrets.
    fn requires_transport_security(&self) -> bool {
        true
    }
}

impl fmt::Debug for dyn CallCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallCredentials(..)")
    }
}

/// What [`CallCredentials::apply`] answers.
pub enum CredentialsAnswer {
    /// Done: what it adds was written into the metadata it was given.
    Ready(Result<(), Status>),
    /// The metadata to add, later.
    Pending(BoxFuture<Result<MetadataMap, Status>>),
}

impl CredentialsAnswer {
    /// Fetches asynchronously: boxes `future`.
    pub fn pending(
        future: impl std::future::Future<Output = Result<MetadataMap, Status>> + Send + 'static,
    ) -> CredentialsAnswer {
        CredentialsAnswer::Pending(Box::pin(future))
    }
}

impl fmt::Debug for CredentialsAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialsAnswer::Ready(result) => f.debug_tuple("Ready").field(result).finish(),
            CredentialsAnswer::Pending(_) => f.write_str("Pending(..)"),
        }
    }
}

/// gRFC A54: codes that only a server's application may decide. A credentials source that
/// fails with one (say, NOT_FOUND copied from a token service's HTTP 404) would make the
/// server look like it answered; the call fails with INTERNAL instead, naming the original.
pub(crate) fn restrict(status: Status) -> Status {
    match status.code() {
        Code::InvalidArgument
        | Code::NotFound
        | Code::AlreadyExists
        | Code::FailedPrecondition
        | Code::Aborted
        | Code::OutOfRange
        | Code::DataLoss => Status::internal(format!(
            "call credentials failed with illegal status {:?}: {}",
            status.code(),
            status.message()
        )),
        Code::Ok => Status::internal(format!(
            "call credentials failed with status OK: {}",
            status.message()
        )),
        _ => status,
    }
}

/// Applies a credentials source to a call: checks the transport, applies, merges what an
/// asynchronous source fetched (awaited in place: the source's own future is the only
/// allocation), restricts its errors per A54.
pub(crate) async fn apply(
    credentials: &Arc<dyn CallCredentials>,
    allow_insecure: bool,
    mut call: ClientCallHead,
) -> Result<ClientCallHead, Status> {
    if call.security == SecurityLevel::Insecure
        && !allow_insecure
        && credentials.requires_transport_security()
    {
        return Err(Status::unauthenticated(
            "call credentials are not sent over plaintext TCP: use https:// (TLS) or a Unix \
             socket, or ChannelBuilder::allow_insecure_credentials(true)",
        ));
    }
    let context = CredentialsContext {
        method: call.method,
        authority: call.authority.as_str(),
        security: call.security,
    };
    match credentials.apply(&context, &mut call.metadata) {
        CredentialsAnswer::Ready(Ok(())) => Ok(call),
        CredentialsAnswer::Ready(Err(status)) => Err(restrict(status)),
        CredentialsAnswer::Pending(fetch) => match fetch.await {
            Ok(metadata) => {
                call.metadata.extend(metadata);
                Ok(call)
            }
            Err(status) => Err(restrict(status)),
        },
    }
}

/// An OAuth2-style bearer token: `authorization: Bearer <token>` on every call.
#[derive(Clone)]
pub struct BearerToken {
    value: HeaderValue,
}

impl fmt::Debug for BearerToken {
    // Never prints the token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(..)")
    }
}

impl BearerToken {
    /// The token, printable ASCII.
    pub fn new(token: &str) -> Result<BearerToken, InvalidMetadata> {
        BearerToken::header("Bearer ", token)
    }

    fn header(prefix: &str, token: &str) -> Result<BearerToken, InvalidMetadata> {
        let value = shared_value(&format!("{prefix}{token}"))?;
        Ok(BearerToken { value })
    }
}

/// A value whose bytes are shared: cloning it per call bumps a count, never copies.
fn shared_value(text: &str) -> Result<HeaderValue, InvalidMetadata> {
    let bytes = Bytes::from(text.as_bytes().to_vec());
    // The first clone of a `Bytes` made from a `Vec` moves it to shared storage; do that
    // once here, not on the first call.
    let shared = bytes.clone();
    drop(bytes);
    let mut value = HeaderValue::from_maybe_shared(shared)
        .map_err(|_| InvalidMetadata::new("credential values must be printable ASCII"))?;
    value.set_sensitive(true);
    Ok(value)
}

impl CallCredentials for BearerToken {
    fn apply(
        &self,
        _call: &CredentialsContext<'_>,
        metadata: &mut MetadataMap,
    ) -> CredentialsAnswer {
        metadata.append_value(AUTHORIZATION, self.value.clone());
        CredentialsAnswer::Ready(Ok(()))
    }
}

/// Fixed metadata on every call: an API key, a tenant header.
#[derive(Clone, Default)]
pub struct StaticMetadata {
    entries: Vec<(HeaderName, HeaderValue)>,
    secret: bool,
}

impl fmt::Debug for StaticMetadata {
    // Values may be secrets: only the keys are printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|(k, _)| k))
            .finish()
    }
}

impl StaticMetadata {
    /// No entries yet; treated as secret (sent only over protected transports).
    pub fn new() -> StaticMetadata {
        StaticMetadata {
            entries: Vec::new(),
            secret: true,
        }
    }

    /// Adds an ASCII entry (keys are lowercase; `-bin` keys are refused here).
    pub fn with(mut self, key: &str, value: &str) -> Result<StaticMetadata, InvalidMetadata> {
        if key.ends_with("-bin") {
            return Err(InvalidMetadata::new(
                "binary metadata is not supported here",
            ));
        }
        let name = HeaderName::from_bytes(key.as_bytes())
            .map_err(|_| InvalidMetadata::new("invalid metadata key"))?;
        if name.as_str().starts_with("grpc-") {
            return Err(InvalidMetadata::new("grpc-* keys are reserved"));
        }
        self.entries.push((name, shared_value(value)?));
        Ok(self)
    }

    /// Declares the entries no secret, so they may travel over plaintext TCP too.
    pub fn not_secret(mut self) -> StaticMetadata {
        self.secret = false;
        self
    }
}

impl CallCredentials for StaticMetadata {
    fn apply(
        &self,
        _call: &CredentialsContext<'_>,
        metadata: &mut MetadataMap,
    ) -> CredentialsAnswer {
        for (key, value) in &self.entries {
            metadata.append_value(key.clone(), value.clone());
        }
        CredentialsAnswer::Ready(Ok(()))
    }

    fn requires_transport_security(&self) -> bool {
        self.secret
    }
}

/// Several sources applied in order; the call fails if any of them does.
#[derive(Clone, Default)]
pub struct CompositeCredentials {
    parts: Vec<Arc<dyn CallCredentials>>,
}

impl fmt::Debug for CompositeCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompositeCredentials")
            .field("parts", &self.parts.len())
            .finish()
    }
}

impl CompositeCredentials {
    /// No sources yet.
    pub fn new() -> CompositeCredentials {
        CompositeCredentials::default()
    }

    /// Adds a source, applied after those already added.
    pub fn with(mut self, credentials: impl CallCredentials) -> CompositeCredentials {
        self.parts.push(Arc::new(credentials));
        self
    }
}

impl CallCredentials for CompositeCredentials {
    fn apply(
        &self,
        call: &CredentialsContext<'_>,
        metadata: &mut MetadataMap,
    ) -> CredentialsAnswer {
        let mut pending: Vec<BoxFuture<Result<MetadataMap, Status>>> = Vec::new();
        for part in &self.parts {
            match part.apply(call, metadata) {
                CredentialsAnswer::Ready(Ok(())) => {}
                CredentialsAnswer::Ready(Err(status)) => {
                    return CredentialsAnswer::Ready(Err(status))
                }
                CredentialsAnswer::Pending(fetch) => pending.push(fetch),
            }
        }
        match pending.len() {
            0 => CredentialsAnswer::Ready(Ok(())),
            1 => match pending.pop() {
                Some(only) => CredentialsAnswer::Pending(only),
                None => CredentialsAnswer::Ready(Ok(())),
            },
            _ => CredentialsAnswer::pending(async move {
                let mut all = MetadataMap::new();
                for fetch in pending {
                    all.extend(fetch.await?);
                }
                Ok(all)
            }),
        }
    }

    fn requires_transport_security(&self) -> bool {
        self.parts.iter().any(|p| p.requires_transport_security())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(security: SecurityLevel) -> ClientCallHead {
        ClientCallHead::new(
            "/echo.Echo/Unary",
            http::uri::Authority::from_static("example.test:443"),
            MetadataMap::new(),
            None,
            http::Extensions::new(),
            security,
        )
    }

    async fn run(
        credentials: impl CallCredentials,
        allow_insecure: bool,
        security: SecurityLevel,
    ) -> Result<ClientCallHead, Status> {
        let credentials: Arc<dyn CallCredentials> = Arc::new(credentials);
        apply(&credentials, allow_insecure, head(security)).await
    }

    #[tokio::test]
    async fn bearer_token_over_tls_and_local_but_not_plaintext() {
        let token = BearerToken::new("abc").unwrap();
        for security in [SecurityLevel::Tls, SecurityLevel::Local] {
            let call = run(token.clone(), false, security).await.unwrap();
            assert_eq!(call.metadata().get("authorization"), Some("Bearer abc"));
        }
        let refused = run(token.clone(), false, SecurityLevel::Insecure)
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated);
        assert!(
            refused.message().contains("plaintext"),
            "{}",
            refused.message()
        );
        let allowed = run(token, true, SecurityLevel::Insecure).await.unwrap();
        assert_eq!(allowed.metadata().get("authorization"), Some("Bearer abc"));
        assert!(BearerToken::new("bad\ntoken").is_err());
        assert_eq!(
            format!("{:?}", BearerToken::new("secret").unwrap()),
            "BearerToken(..)"
        );
    }

    #[tokio::test]
    async fn static_metadata_and_composition_in_order() {
        let api_key = StaticMetadata::new().with("x-api-key", "k1").unwrap();
        let tenant = StaticMetadata::new()
            .with("x-tenant", "acme")
            .unwrap()
            .not_secret();
        // Not secret: allowed over plaintext without the channel's opt-in.
        let call = run(tenant.clone(), false, SecurityLevel::Insecure)
            .await
            .unwrap();
        assert_eq!(call.metadata().get("x-tenant"), Some("acme"));
        assert!(StaticMetadata::new().with("grpc-timeout", "1S").is_err());
        assert!(StaticMetadata::new().with("x-bin", "1").is_err());

        struct Later(&'static str);
        impl CallCredentials for Later {
            fn apply(
                &self,
                call: &CredentialsContext<'_>,
                _: &mut MetadataMap,
            ) -> CredentialsAnswer {
                let value = self.0;
                let url = call.service_url();
                CredentialsAnswer::pending(async move {
                    tokio::task::yield_now().await;
                    let mut md = MetadataMap::new();
                    md.append("x-order", value).unwrap();
                    md.insert("x-audience", &url).unwrap();
                    Ok(md)
                })
            }
        }
        let composite = CompositeCredentials::new()
            .with(tenant)
            .with(Later("first"))
            .with(api_key)
            .with(Later("second"));
        assert!(composite.requires_transport_security());
        let call = run(composite, false, SecurityLevel::Tls).await.unwrap();
        let md = call.metadata();
        assert_eq!(md.get("x-api-key"), Some("k1"));
        assert_eq!(md.get("x-tenant"), Some("acme"));
        assert_eq!(
            md.get_all("x-order").collect::<Vec<_>>(),
            ["first", "second"]
        );
        assert_eq!(
            md.get("x-audience"),
            Some("https://example.test:443/echo.Echo")
        );
    }

    #[tokio::test]
    async fn errors_are_restricted_per_a54() {
        struct Failing(Code);
        impl CallCredentials for Failing {
            fn apply(&self, _: &CredentialsContext<'_>, _: &mut MetadataMap) -> CredentialsAnswer {
                let code = self.0;
                if code == Code::Unavailable {
                    return CredentialsAnswer::pending(async move {
                        Err(Status::new(code, "token service down"))
                    });
                }
                CredentialsAnswer::Ready(Err(Status::new(code, "token service said no")))
            }
        }
        for (code, want) in [
            (Code::NotFound, Code::Internal),
            (Code::InvalidArgument, Code::Internal),
            (Code::AlreadyExists, Code::Internal),
            (Code::FailedPrecondition, Code::Internal),
            (Code::Aborted, Code::Internal),
            (Code::OutOfRange, Code::Internal),
            (Code::DataLoss, Code::Internal),
            (Code::Ok, Code::Internal),
            (Code::Unauthenticated, Code::Unauthenticated),
            (Code::PermissionDenied, Code::PermissionDenied),
            (Code::Unavailable, Code::Unavailable),
            (Code::DeadlineExceeded, Code::DeadlineExceeded),
        ] {
            let status = run(Failing(code), false, SecurityLevel::Tls)
                .await
                .unwrap_err();
            assert_eq!(status.code(), want, "{code:?}");
            assert!(
                status.message().contains("token service"),
                "{}",
                status.message()
            );
        }
    }
}
