//! Handshakes over an in-memory duplex for every setting and failure the TLS layer has.
use super::info::{looks_like_tls, Side};
use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn certs() -> String {
    format!("{}/tests/certs", env!("CARGO_MANIFEST_DIR"))
}

fn identity(name: &str) -> Identity {
    let dir = certs();
    Identity::from_pem_files(format!("{dir}/{name}.pem"), format!("{dir}/{name}.key")).unwrap()
}

fn ca() -> TrustRoots {
    TrustRoots::from_pem_file(format!("{}/ca.pem", certs())).unwrap()
}

fn client_config() -> ClientTlsConfig {
    ClientTlsConfig::new().trust_roots(ca())
}

/// Both handshakes over an in-memory duplex; a byte is echoed to prove the session works.
async fn handshake(
    server: ServerTlsConfig,
    client: ClientTlsConfig,
    host: &str,
) -> (
    Result<TlsInfo, HandshakeError>,
    Result<TlsInfo, HandshakeError>,
) {
    let acceptor = TlsAcceptor::new(server).unwrap();
    handshake_with(&acceptor, client, host).await
}

async fn handshake_with(
    acceptor: &TlsAcceptor,
    client: ClientTlsConfig,
    host: &str,
) -> (
    Result<TlsInfo, HandshakeError>,
    Result<TlsInfo, HandshakeError>,
) {
    let connector = TlsConnector::new(&client).unwrap();
    let name = connector.server_name(host).unwrap();
    let (a, b) = tokio::io::duplex(64 * 1024);
    let server = async {
        let (mut stream, info) = acceptor.accept(a).await?;
        let mut byte = [0u8; 1];
        stream
            .read_exact(&mut byte)
            .await
            .map_err(|e| HandshakeError::from_io(Side::Server, e))?;
        stream
            .write_all(&byte)
            .await
            .map_err(|e| HandshakeError::from_io(Side::Server, e))?;
        stream
            .flush()
            .await
            .map_err(|e| HandshakeError::from_io(Side::Server, e))?;
        Ok(info)
    };
    let client = async {
        let (mut stream, info) = connector.connect(name, b).await?;
        stream
            .write_all(b"x")
            .await
            .map_err(|e| HandshakeError::from_io(Side::Client, e))?;
        stream
            .flush()
            .await
            .map_err(|e| HandshakeError::from_io(Side::Client, e))?;
        let mut byte = [0u8; 1];
        stream
            .read_exact(&mut byte)
            .await
            .map_err(|e| HandshakeError::from_io(Side::Client, e))?;
        assert_eq!(&byte, b"x");
        Ok(info)
    };
    let bounded = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        // Whichever side fails first drops its end, so the other one ends too.
        tokio::join!(server, client)
    });
    bounded.await.expect("handshake hung")
}

#[tokio::test]
async fn tls_handshake_negotiates_h2_and_sees_the_server_certificate() {
    let (server, client) = handshake(
        ServerTlsConfig::new(identity("server")),
        client_config(),
        "localhost",
    )
    .await;
    let (server, client) = (server.unwrap(), client.unwrap());
    assert_eq!(server.alpn_protocol(), Some(&b"h2"[..]));
    assert_eq!(server.server_name(), Some("localhost"));
    assert!(server.peer_certificates().is_empty());
    assert!(server.peer_identity().is_none());
    assert_eq!(client.peer_certificates().len(), 1);
    assert_eq!(client.peer_identity().unwrap().dns_names()[0], "localhost");
    assert!(client.protocol_version().is_some());
    assert!(client.cipher_suite().is_some());
}

#[tokio::test]
async fn ip_address_names_and_chains_with_intermediates() {
    let (server, client) = handshake(
        ServerTlsConfig::new(identity("server-chain")),
        client_config(),
        "127.0.0.1",
    )
    .await;
    server.unwrap();
    assert_eq!(client.unwrap().peer_certificates().len(), 2);
    let (server, client) = handshake(
        ServerTlsConfig::new(identity("server")),
        client_config(),
        "[::1]",
    )
    .await;
    server.unwrap();
    client.unwrap();
}

#[tokio::test]
async fn mtls_required_gives_the_server_the_client_identity() {
    let server = ServerTlsConfig::new(identity("server")).client_auth(ClientAuth::Required(ca()));
    let (server, client) = handshake(
        server,
        client_config().identity(identity("client")),
        "localhost",
    )
    .await;
    client.unwrap();
    let server = server.unwrap();
    let id = server.peer_identity().unwrap();
    assert_eq!(id.uris(), ["spiffe://rgrpc.test/client"]);
    assert_eq!(id.subject(), "CN=client,O=rgrpc,C=US");
}

#[tokio::test]
async fn mtls_required_refuses_a_client_without_a_certificate() {
    let server = ServerTlsConfig::new(identity("server")).client_auth(ClientAuth::Required(ca()));
    let (server, client) = handshake(server, client_config(), "localhost").await;
    let server = server.unwrap_err().to_string();
    assert!(server.contains("presented no certificate"), "{server}");
    // TLS 1.3: the client finishes its handshake first and learns of the refusal on
    // its first read.
    let client = client.unwrap_err().to_string();
    assert!(client.contains("requires a client certificate"), "{client}");
}

#[tokio::test]
async fn mtls_refuses_a_client_certificate_from_an_unknown_ca() {
    let server = ServerTlsConfig::new(identity("server")).client_auth(ClientAuth::Required(ca()));
    let (server, client) = handshake(
        server,
        client_config().identity(identity("client-unknown-ca")),
        "localhost",
    )
    .await;
    let server = server.unwrap_err().to_string();
    assert!(server.contains("not signed by a trusted CA"), "{server}");
    let client = client.unwrap_err().to_string();
    assert!(
        client.contains("refused this end's certificate"),
        "{client}"
    );
}

#[tokio::test]
async fn optional_client_auth_accepts_both() {
    let server = ServerTlsConfig::new(identity("server")).client_auth(ClientAuth::Optional(ca()));
    let acceptor = TlsAcceptor::new(server).unwrap();
    let (s, c) = handshake_with(&acceptor, client_config(), "localhost").await;
    assert!(s.unwrap().peer_identity().is_none());
    c.unwrap();
    let (s, c) = handshake_with(
        &acceptor,
        client_config().identity(identity("client2")),
        "localhost",
    )
    .await;
    assert_eq!(
        s.unwrap().peer_identity().unwrap().uris(),
        ["spiffe://rgrpc.test/other"]
    );
    c.unwrap();
}

#[tokio::test]
async fn bad_server_certificates_fail_with_a_reason() {
    for (name, host, want) in [
        ("expired", "localhost", "has expired"),
        ("notyet", "localhost", "not valid yet"),
        ("wronghost", "localhost", "not valid for the name"),
        ("server", "elsewhere.example", "not valid for the name"),
        ("selfsigned", "localhost", "self-signed"),
        ("unknown-ca", "localhost", "not signed by a trusted CA"),
    ] {
        let (server, client) =
            handshake(ServerTlsConfig::new(identity(name)), client_config(), host).await;
        let client = client.unwrap_err().to_string();
        assert!(client.contains(want), "{name}@{host}: {client}");
        assert!(server.is_err(), "{name}: the server saw the handshake fail");
    }
}

#[tokio::test]
async fn server_name_override_is_what_is_verified_and_sent() {
    // The certificate names *.test.rgrpc, the host does not: the override wins.
    let client = client_config().server_name("foo.test.rgrpc");
    let (server, client) = handshake(
        ServerTlsConfig::new(identity("server")),
        client,
        "127.0.0.2",
    )
    .await;
    assert_eq!(server.unwrap().server_name(), Some("foo.test.rgrpc"));
    client.unwrap();
}

#[tokio::test]
async fn alpn_is_required_on_both_ends_unless_turned_off() {
    let server_config = || {
        let identity = identity("server");
        let mut config = rustls::ServerConfig::builder_with_provider(provider().unwrap())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(identity.chain.clone(), identity.key.clone_key())
            .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config
    };
    // A server that offers only http/1.1: the client offers h2 only, rustls refuses.
    let (server, client) = handshake(
        ServerTlsConfig::from_rustls(server_config()),
        client_config(),
        "localhost",
    )
    .await;
    assert!(server
        .unwrap_err()
        .to_string()
        .contains("does not offer h2"));
    assert!(client
        .unwrap_err()
        .to_string()
        .contains("does not speak h2"));

    // A client that offers no ALPN at all: refused by default, accepted on opt-out.
    let no_alpn = || {
        let mut config = rustls::ClientConfig::builder_with_provider(provider().unwrap())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(ca().store().unwrap())
            .with_no_client_auth();
        config.alpn_protocols = vec![b"x".to_vec()];
        config.alpn_protocols.clear();
        config
    };
    // With require_alpn off, an empty ALPN list stays empty: an old client.
    let bare = ClientTlsConfig::from_rustls(no_alpn()).require_alpn(false);
    let (server, client) = handshake(
        ServerTlsConfig::new(identity("server")),
        bare.clone(),
        "localhost",
    )
    .await;
    let server = server.unwrap_err().to_string();
    assert!(server.contains("negotiated no ALPN protocol"), "{server}");
    assert!(client.is_err());
    let (server, client) = handshake(
        ServerTlsConfig::new(identity("server")).require_alpn(false),
        bare,
        "localhost",
    )
    .await;
    server.unwrap();
    client.unwrap();

    // A server that negotiates no ALPN: the client refuses unless told otherwise.
    let mut silent = server_config();
    silent.alpn_protocols.clear();
    let silent = ServerTlsConfig::from_rustls(silent).require_alpn(false);
    let (_, client) = handshake(silent.clone(), client_config(), "localhost").await;
    let client = client.unwrap_err().to_string();
    assert!(
        client.contains("the server negotiated no ALPN protocol"),
        "{client}"
    );
    let (server, client) =
        handshake(silent, client_config().require_alpn(false), "localhost").await;
    server.unwrap();
    client.unwrap();
}

#[tokio::test]
async fn plaintext_at_a_tls_port_and_tls_at_a_plaintext_port() {
    // A plaintext HTTP/2 client at a TLS server.
    let acceptor = TlsAcceptor::new(ServerTlsConfig::new(identity("server"))).unwrap();
    let (a, mut b) = tokio::io::duplex(64 * 1024);
    let client = async move {
        b.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .unwrap();
        let mut reply = Vec::new();
        let _ = b.read_to_end(&mut reply).await;
        reply
    };
    let (server, reply) = tokio::join!(acceptor.accept(a), client);
    let server = server.unwrap_err().to_string();
    assert!(server.contains("did not speak TLS"), "{server}");
    // What the plaintext client reads back is a TLS alert, which it can recognise.
    assert!(looks_like_tls(&reply), "{reply:?}");

    // A TLS client at a plaintext HTTP/2 server, which answers with a SETTINGS frame
    // and a GOAWAY.
    let connector = TlsConnector::new(&client_config()).unwrap();
    let (a, mut b) = tokio::io::duplex(64 * 1024);
    let server = async move {
        let mut hello = [0u8; 24];
        let _ = b.read_exact(&mut hello).await;
        let _ = b.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await;
        let _ = b
            .write_all(&[0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
            .await;
    };
    let name = connector.server_name("localhost").unwrap();
    let (client, ()) = tokio::join!(connector.connect(name, a), server);
    let client = client.unwrap_err().to_string();
    assert!(client.contains("did not answer with TLS"), "{client}");
}

#[tokio::test]
async fn reload_rotates_the_certificate_for_new_connections() {
    let acceptor = TlsAcceptor::new(ServerTlsConfig::new(identity("server"))).unwrap();
    let (_, c) = handshake_with(&acceptor, client_config(), "localhost").await;
    let first = c.unwrap().peer_certificates()[0].clone();
    // A bad reload keeps the old settings.
    let broken = ServerTlsConfig::new(identity("server"))
        .client_auth(ClientAuth::Required(TrustRoots::new()));
    assert!(acceptor.reload(broken).is_err());
    acceptor
        .reload(ServerTlsConfig::new(identity("server-chain")))
        .unwrap();
    let (_, c) = handshake_with(&acceptor, client_config(), "localhost").await;
    let second = c.unwrap();
    assert_ne!(second.peer_certificates()[0], first);
    assert_eq!(second.peer_certificates().len(), 2);
}

#[test]
fn configuration_errors_name_the_problem() {
    let dir = certs();
    let missing = Identity::from_pem_files(format!("{dir}/nope.pem"), format!("{dir}/server.key"))
        .unwrap_err()
        .to_string();
    assert!(missing.contains("nope.pem"), "{missing}");
    let no_key = Identity::from_pem_files(format!("{dir}/server.pem"), format!("{dir}/server.pem"))
        .unwrap_err()
        .to_string();
    assert!(
        no_key.contains("server.pem") && no_key.contains("PRIVATE KEY"),
        "{no_key}"
    );
    let not_pem = TrustRoots::from_pem("hello").unwrap_err().to_string();
    assert!(not_pem.contains("no CERTIFICATE"), "{not_pem}");
    // The key of another certificate.
    let chain = std::fs::read(format!("{dir}/server.pem")).unwrap();
    let key = std::fs::read(format!("{dir}/client.key")).unwrap();
    let mismatch = TlsAcceptor::new(ServerTlsConfig::new(
        Identity::from_pem(chain, key).unwrap(),
    ))
    .unwrap_err()
    .to_string();
    assert!(
        mismatch.contains("server certificate and key"),
        "{mismatch}"
    );
    let no_roots = TlsConnector::new(&ClientTlsConfig::new())
        .unwrap_err()
        .to_string();
    assert!(no_roots.contains("trust roots"), "{no_roots}");
    let bad_name = TlsConnector::new(&client_config().server_name("not a name!"))
        .unwrap_err()
        .to_string();
    assert!(bad_name.contains("invalid TLS server name"), "{bad_name}");
    // SEC1 ("EC PRIVATE KEY") keys load as well as PKCS#8.
    identity("client2");
}

/// One connector per channel: a second connection resumes the first one's session, so the
/// server's certificate is not verified again (what reconnects gain from sharing it).
#[tokio::test]
async fn a_connector_resumes_sessions() {
    let acceptor = TlsAcceptor::new(ServerTlsConfig::new(identity("server"))).unwrap();
    let connector = TlsConnector::new(&client_config()).unwrap();
    let mut resumed = Vec::new();
    for _ in 0..2 {
        let (a, b) = tokio::io::duplex(64 * 1024);
        let name = connector.server_name("localhost").unwrap();
        let server = async {
            let (mut stream, _) = acceptor.accept(a).await.unwrap();
            // TLS 1.3 tickets go out after the handshake: let the client read them.
            stream.write_all(b"x").await.unwrap();
            stream.flush().await.unwrap();
            let mut byte = [0u8; 1];
            let _ = stream.read(&mut byte).await;
        };
        let client = async {
            let (mut stream, info) = connector.connect(name, b).await.unwrap();
            let mut byte = [0u8; 1];
            stream.read_exact(&mut byte).await.unwrap();
            stream.shutdown().await.unwrap();
            info.is_resumed()
        };
        let ((), was_resumed) = tokio::join!(server, client);
        resumed.push(was_resumed);
    }
    assert_eq!(resumed, [false, true]);
}
