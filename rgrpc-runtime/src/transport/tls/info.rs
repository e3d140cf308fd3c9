//! What a handshake established about the peer, and why one failed.

use std::fmt;
use std::io;

use rustls::CertificateError;
use rustls_pki_types::CertificateDer;

use super::CertificateIdentity;

/// What a TLS handshake established: shared by every call on the connection through its
/// [`crate::Peer`].
#[derive(Clone)]
pub struct TlsInfo {
    pub(super) alpn: Option<Vec<u8>>,
    certificates: Vec<CertificateDer<'static>>,
    identity: Option<CertificateIdentity>,
    server_name: Option<String>,
    version: Option<rustls::ProtocolVersion>,
    cipher_suite: Option<rustls::SupportedCipherSuite>,
    resumed: bool,
}

impl fmt::Debug for TlsInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsInfo")
            .field("alpn", &self.alpn.as_deref().map(String::from_utf8_lossy))
            .field("certificates", &self.certificates.len())
            .field("identity", &self.identity)
            .field("server_name", &self.server_name)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl TlsInfo {
    pub(super) fn new(
        alpn: Option<&[u8]>,
        certificates: Option<&[CertificateDer<'static>]>,
        server_name: Option<String>,
        version: Option<rustls::ProtocolVersion>,
        cipher_suite: Option<rustls::SupportedCipherSuite>,
        kind: Option<rustls::HandshakeKind>,
    ) -> TlsInfo {
        let certificates = certificates.map(<[_]>::to_vec).unwrap_or_default();
        // Parsed once per connection, so authorization does no DER work per call.
        let identity = certificates
            .first()
            .and_then(|leaf| CertificateIdentity::from_der(leaf));
        TlsInfo {
            alpn: alpn.map(<[u8]>::to_vec),
            certificates,
            identity,
            server_name,
            version,
            cipher_suite,
            resumed: matches!(kind, Some(rustls::HandshakeKind::Resumed)),
        }
    }

    /// Whether the handshake resumed an earlier session (no certificate exchanged again).
    pub fn is_resumed(&self) -> bool {
        self.resumed
    }

    /// The peer's certificate chain as it sent it (leaf first); empty when it sent none
    /// (always so for a client without a certificate).
    pub fn peer_certificates(&self) -> &[CertificateDer<'static>] {
        &self.certificates
    }

    /// The names in the peer's leaf certificate (SANs and subject), if it sent one that
    /// parses.
    pub fn peer_identity(&self) -> Option<&CertificateIdentity> {
        self.identity.as_ref()
    }

    /// The negotiated ALPN protocol (`h2`), if any.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.alpn.as_deref()
    }

    /// Server side: the name the client asked for (SNI), if it sent one.
    pub fn server_name(&self) -> Option<&str> {
        self.server_name.as_deref()
    }

    /// The TLS version, e.g. `TLSv1_3`.
    pub fn protocol_version(&self) -> Option<rustls::ProtocolVersion> {
        self.version
    }

    /// The negotiated cipher suite.
    pub fn cipher_suite(&self) -> Option<rustls::CipherSuite> {
        self.cipher_suite.map(|s| s.suite())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Server,
}

/// A failed TLS handshake, with a reason a person can act on.
#[derive(Debug)]
pub struct HandshakeError {
    message: String,
    source: Option<io::Error>,
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HandshakeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl HandshakeError {
    pub(super) fn alpn(side: Side, got: Option<&[u8]>) -> HandshakeError {
        let peer = match side {
            Side::Client => "server",
            Side::Server => "client",
        };
        let message = match got {
            None => format!(
                "the {peer} negotiated no ALPN protocol; gRPC needs h2 (require_alpn(false) \
                 accepts a {peer} known to speak HTTP/2 without ALPN)"
            ),
            Some(other) => format!(
                "the {peer} negotiated ALPN {:?}; gRPC needs h2",
                String::from_utf8_lossy(other)
            ),
        };
        HandshakeError {
            message,
            source: None,
        }
    }

    pub(super) fn from_io(side: Side, error: io::Error) -> HandshakeError {
        let rustls = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        let message = match rustls {
            Some(e) => explain(side, e),
            None if error.kind() == io::ErrorKind::UnexpectedEof => match side {
                Side::Client => "the server closed the connection during the TLS handshake \
                                 (does it speak TLS on this port? it may also have refused \
                                 this client's certificate)"
                    .to_owned(),
                Side::Server => {
                    "the client closed the connection during the TLS handshake".to_owned()
                }
            },
            None => error.to_string(),
        };
        HandshakeError {
            message,
            source: Some(error),
        }
    }
}

/// A TLS error that surfaced after the handshake (as the I/O error of a read on a client
/// connection), explained; `None` for any other I/O error.
pub(crate) fn explain_io(error: &io::Error) -> Option<String> {
    if let Some(rustls) = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return Some(explain(Side::Client, rustls));
    }
    // h2 keeps only the kind and the text of an I/O error (io::Error is not Clone), so the
    // rustls error is recognised by its Display text ("received fatal alert: …").
    let text = error.to_string();
    let Some(alert) = text.split("received fatal alert: ").nth(1) else {
        // A TLS 1.3 server refusing a client certificate closes the connection right after
        // the client's handshake completed; if the client's first write races the close,
        // the write fails before the alert is read. Say what that usually means.
        return matches!(
            error.kind(),
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
        )
        .then(|| {
            format!(
                "{text} (the server closed the connection; a TLS server does this when it \
                 refuses the client's certificate)"
            )
        });
    };
    let hint = match alert.trim() {
        "CertificateRequired" => "the server requires a client certificate and none was sent",
        "UnknownCA" | "BadCertificate" | "CertificateUnknown" => {
            "the server refused this end's certificate"
        }
        "CertificateExpired" => "the server refused this end's expired certificate",
        _ => "the server aborted the TLS session",
    };
    Some(format!("{hint} ({text})"))
}

/// A rustls error, with what it usually means for a gRPC deployment.
fn explain(side: Side, error: &rustls::Error) -> String {
    use rustls::{AlertDescription as Alert, Error as E};
    let peer = match side {
        Side::Client => "server",
        Side::Server => "client",
    };
    let hint = match error {
        E::InvalidCertificate(cert) => match cert {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                format!("the {peer}'s certificate has expired")
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                format!("the {peer}'s certificate is not valid yet")
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!("the {peer}'s certificate is not valid for the name it was asked for")
            }
            CertificateError::UnknownIssuer => format!(
                "the {peer}'s certificate is not signed by a trusted CA (unknown issuer or \
                 self-signed)"
            ),
            CertificateError::BadSignature => {
                format!("the {peer}'s certificate has a bad signature")
            }
            // webpki's way of saying a self-signed CA certificate was presented as a leaf.
            CertificateError::Other(other)
                if format!("{other:?}").contains("CaUsedAsEndEntity") =>
            {
                format!("the {peer}'s certificate is a CA certificate, not one for a {peer} (self-signed?)")
            }
            _ => format!("the {peer}'s certificate was refused"),
        },
        E::NoCertificatesPresented => format!("the {peer} presented no certificate"),
        E::AlertReceived(alert) => match alert {
            Alert::CertificateRequired => {
                format!("the {peer} requires a client certificate and none was sent")
            }
            Alert::UnknownCA | Alert::BadCertificate | Alert::CertificateUnknown => {
                format!("the {peer} refused this end's certificate")
            }
            Alert::CertificateExpired => {
                format!("the {peer} refused this end's expired certificate")
            }
            Alert::NoApplicationProtocol => {
                format!("the {peer} does not speak h2 (ALPN: no protocol in common)")
            }
            _ => format!("the {peer} aborted the handshake"),
        },
        E::NoApplicationProtocol => {
            format!("the {peer} does not offer h2 (ALPN: no protocol in common)")
        }
        E::InvalidMessage(_) | E::InappropriateMessage { .. } => match side {
            Side::Client => "the server did not answer with TLS (is it a plaintext port? use \
                             http:// for plaintext)"
                .to_owned(),
            Side::Server => {
                "the client did not speak TLS (a plaintext client at a TLS port?)".to_owned()
            }
        },
        _ => return format!("TLS handshake failed: {error}"),
    };
    format!("{hint} ({error})")
}

/// Whether `io` failed because its peer sent a TLS record where HTTP/2 was expected: a
/// plaintext client at a TLS port sees the server's alert. Used to name the likely cause.
pub(crate) fn looks_like_tls(first_bytes: &[u8]) -> bool {
    // A TLS record: content type alert (21) or handshake (22), version 3.x.
    matches!(first_bytes, [21 | 22, 3, _, ..])
}
