//! The few fields of an X.509 certificate that name its holder: subject alternative names
//! (URI, DNS, IP) and the subject, read with a small DER walker.
//!
//! rustls has already verified the certificate by the time this runs, but the bytes still
//! came from the network: every read is bounds-checked and a malformed certificate yields
//! `None`, never a panic. Only what authorization needs is parsed (gRFC A41/A43 match a
//! principal against URI SANs, then DNS SANs, then the subject), so a general X.509 crate
//! and its dependencies are not needed.

use std::fmt::Write as _;
use std::net::IpAddr;

/// What identifies the holder of a certificate: its subject alternative names and subject.
///
/// The subject is formatted as Go's `pkix.Name.String()` does (RFC 2253 order, most specific
/// first, e.g. `CN=client,O=rgrpc,C=US`), so authorization policies written for grpc-go
/// match the same certificates here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CertificateIdentity {
    uris: Vec<String>,
    dns_names: Vec<String>,
    ip_addresses: Vec<IpAddr>,
    subject: String,
}

impl CertificateIdentity {
    /// Parses the identity out of a DER certificate; `None` if it is not well-formed DER of
    /// the expected shape.
    pub fn from_der(der: &[u8]) -> Option<CertificateIdentity> {
        parse(der)
    }

    /// URI subject alternative names (SPIFFE IDs look like `spiffe://trust-domain/path`).
    pub fn uris(&self) -> &[String] {
        &self.uris
    }

    /// DNS subject alternative names.
    pub fn dns_names(&self) -> &[String] {
        &self.dns_names
    }

    /// IP address subject alternative names.
    pub fn ip_addresses(&self) -> &[IpAddr] {
        &self.ip_addresses
    }

    /// The subject distinguished name in RFC 2253 form, as Go formats it.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The names an authorization policy matches against, in the order gRFC A41 gives:
    /// URI SANs, then DNS SANs, then the subject.
    pub fn principals(&self) -> impl Iterator<Item = &str> {
        self.uris
            .iter()
            .chain(&self.dns_names)
            .map(String::as_str)
            .chain(std::iter::once(self.subject.as_str()))
    }
}

// DER tags used below (X.690 §8; X.509 / RFC 5280 §4.1).
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const BOOLEAN: u8 = 0x01;
const OCTET_STRING: u8 = 0x04;
/// `[0] EXPLICIT` version in a TBSCertificate.
const VERSION: u8 = 0xa0;
/// `[3] EXPLICIT` extensions in a TBSCertificate.
const EXTENSIONS: u8 = 0xa3;
/// GeneralName choices (RFC 5280 §4.2.1.6), context-specific and implicit.
const SAN_DNS: u8 = 0x82;
const SAN_URI: u8 = 0x86;
const SAN_IP: u8 = 0x87;
/// id-ce-subjectAltName, 2.5.29.17.
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];

/// One DER element: its tag, its contents, and what follows it.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        // High tag numbers never occur in the structures read here.
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        let len = bytes
            .iter()
            .fold(0usize, |len, &b| (len << 8) | usize::from(b));
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (contents, rest) = rest.split_at(len);
    Some((tag, contents, rest))
}

/// The contents of an element that must have `tag`.
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    match element(input)? {
        (t, contents, rest) if t == tag => Some((contents, rest)),
        _ => None,
    }
}

/// Skips one element of any tag.
fn skip(input: &[u8]) -> Option<&[u8]> {
    element(input).map(|(_, _, rest)| rest)
}

fn parse(der: &[u8]) -> Option<CertificateIdentity> {
    let (certificate, _) = expect(der, SEQUENCE)?;
    let (tbs, _) = expect(certificate, SEQUENCE)?;
    let mut rest = tbs;
    if rest.first() == Some(&VERSION) {
        rest = skip(rest)?;
    }
    rest = skip(rest)?; // serialNumber
    rest = skip(rest)?; // signature algorithm
    rest = skip(rest)?; // issuer
    rest = skip(rest)?; // validity
    let (subject, after_subject) = expect(rest, SEQUENCE)?;
    rest = skip(after_subject)?; // subjectPublicKeyInfo
    let mut identity = CertificateIdentity {
        subject: format_name(subject)?,
        ..CertificateIdentity::default()
    };
    // issuerUniqueID [1], subjectUniqueID [2], then extensions [3].
    while let Some((tag, contents, next)) = element(rest) {
        if tag == EXTENSIONS {
            read_extensions(contents, &mut identity)?;
        }
        rest = next;
    }
    Some(identity)
}

fn read_extensions(explicit: &[u8], identity: &mut CertificateIdentity) -> Option<()> {
    let (mut extensions, _) = expect(explicit, SEQUENCE)?;
    while !extensions.is_empty() {
        let (extension, next) = expect(extensions, SEQUENCE)?;
        extensions = next;
        let (oid, mut rest) = expect(extension, OID)?;
        if rest.first() == Some(&BOOLEAN) {
            rest = skip(rest)?; // critical
        }
        let (value, _) = expect(rest, OCTET_STRING)?;
        if oid == OID_SUBJECT_ALT_NAME {
            read_general_names(value, identity)?;
        }
    }
    Some(())
}

fn read_general_names(value: &[u8], identity: &mut CertificateIdentity) -> Option<()> {
    let (mut names, _) = expect(value, SEQUENCE)?;
    while !names.is_empty() {
        let (tag, contents, next) = element(names)?;
        names = next;
        match tag {
            SAN_DNS => identity.dns_names.push(ascii(contents)?),
            SAN_URI => identity.uris.push(ascii(contents)?),
            SAN_IP => match contents.len() {
                4 => {
                    let octets: [u8; 4] = contents.try_into().ok()?;
                    identity.ip_addresses.push(IpAddr::from(octets));
                }
                16 => {
                    let octets: [u8; 16] = contents.try_into().ok()?;
                    identity.ip_addresses.push(IpAddr::from(octets));
                }
                _ => return None,
            },
            // Other GeneralName forms (email, directory names, …) name nothing authz uses.
            _ => {}
        }
    }
    Some(())
}

/// An IA5String's contents (SAN DNS names and URIs).
fn ascii(bytes: &[u8]) -> Option<String> {
    if bytes.is_ascii() {
        std::str::from_utf8(bytes).ok().map(str::to_owned)
    } else {
        None
    }
}

/// Attribute types Go's `pkix.Name` knows, in the order `ToRDNSequence` emits them; the
/// string form lists them reversed. (id-at-*, 2.5.4.N.)
const KNOWN_ATTRIBUTES: [(u8, &str); 9] = [
    (6, "C"),
    (8, "ST"),
    (7, "L"),
    (9, "STREET"),
    (17, "POSTALCODE"),
    (10, "O"),
    (11, "OU"),
    (3, "CN"),
    (5, "SERIALNUMBER"),
];

/// Formats a Name as Go's `pkix.Name.String()`: the known attributes grouped by type in
/// Go's order (each type one RDN, several values joined by `+`), most specific first, then
/// any other attribute as `OID=#hex` of its DER value.
fn format_name(name: &[u8]) -> Option<String> {
    // (type index or None for unknown, OID bytes, the whole value element, string value)
    let mut known: [Vec<String>; 9] = Default::default();
    let mut others: Vec<String> = Vec::new();
    let mut rdns = name;
    while !rdns.is_empty() {
        let (mut set, next) = expect(rdns, SET)?;
        rdns = next;
        while !set.is_empty() {
            let (attribute, next) = expect(set, SEQUENCE)?;
            set = next;
            let (oid, value) = expect(attribute, OID)?;
            let (value_tag, value_contents, _) = element(value)?;
            let index = match oid {
                [0x55, 0x04, n] => KNOWN_ATTRIBUTES.iter().position(|(id, _)| id == n),
                _ => None,
            };
            match (index, directory_string(value_tag, value_contents)) {
                (Some(i), Some(text)) => known.get_mut(i)?.push(escape(&text)),
                _ => {
                    let value_len = value.len() - skip(value)?.len();
                    let mut text = dotted_oid(oid)?;
                    text.push_str("=#");
                    for byte in value.get(..value_len)? {
                        let _ = write!(text, "{byte:02x}");
                    }
                    others.push(text);
                }
            }
        }
    }
    let mut parts: Vec<String> = Vec::new();
    for (i, values) in known.iter().enumerate().rev() {
        if values.is_empty() {
            continue;
        }
        let label = KNOWN_ATTRIBUTES.get(i)?.1;
        let rdn: Vec<String> = values.iter().map(|v| format!("{label}={v}")).collect();
        parts.push(rdn.join("+"));
    }
    // Go puts attributes it does not name at the start of the sequence, so at the end of
    // the string, in reverse order of appearance.
    parts.extend(others.into_iter().rev());
    Some(parts.join(","))
}

/// The text of a DirectoryString (RFC 5280 §4.1.2.4) or IA5String value.
fn directory_string(tag: u8, contents: &[u8]) -> Option<String> {
    match tag {
        // UTF8String, PrintableString, T61String (read as Latin-1 in practice), IA5String
        0x0c | 0x13 | 0x16 => std::str::from_utf8(contents).ok().map(str::to_owned),
        0x14 => Some(contents.iter().map(|&b| char::from(b)).collect()),
        // BMPString: UCS-2 big-endian
        0x1e => {
            let units: Vec<u16> = contents
                .chunks(2)
                .map(|pair| match pair {
                    [hi, lo] => Some(u16::from_be_bytes([*hi, *lo])),
                    _ => None,
                })
                .collect::<Option<_>>()?;
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

/// RFC 2253 escaping as Go's `RDNSequence.String` does it.
fn escape(value: &str) -> String {
    let count = value.chars().count();
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        let needs = match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => true,
            ' ' => i == 0 || i + 1 == count,
            '#' => i == 0,
            _ => false,
        };
        if needs {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// An OID's contents in dotted form.
fn dotted_oid(oid: &[u8]) -> Option<String> {
    let (&first, rest) = oid.split_first()?;
    let mut out = format!("{}.{}", first / 40, first % 40);
    let mut arc: u64 = 0;
    for &byte in rest {
        arc = arc.checked_mul(128)?.checked_add(u64::from(byte & 0x7f))?;
        if byte & 0x80 == 0 {
            let _ = write!(out, ".{arc}");
            arc = 0;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;

    fn cert(path: &str) -> Vec<u8> {
        let pem = std::fs::read(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        CertificateDer::from_pem_slice(&pem).unwrap().to_vec()
    }

    #[test]
    fn client_certificate_with_uri_san() {
        let id = CertificateIdentity::from_der(&cert("tests/certs/client.pem")).unwrap();
        assert_eq!(id.uris(), ["spiffe://rgrpc.test/client"]);
        assert_eq!(id.dns_names(), ["client.rgrpc.test"]);
        assert_eq!(id.subject(), "CN=client,O=rgrpc,C=US");
        let principals: Vec<&str> = id.principals().collect();
        assert_eq!(
            principals,
            [
                "spiffe://rgrpc.test/client",
                "client.rgrpc.test",
                "CN=client,O=rgrpc,C=US"
            ]
        );
    }

    #[test]
    fn server_certificate_names_and_ips() {
        let id = CertificateIdentity::from_der(&cert("tests/certs/server.pem")).unwrap();
        assert!(id.uris().is_empty());
        assert_eq!(id.dns_names(), ["localhost", "*.test.rgrpc"]);
        let ips: Vec<String> = id.ip_addresses().iter().map(|ip| ip.to_string()).collect();
        assert_eq!(ips, ["127.0.0.1", "::1"]);
        assert_eq!(id.subject(), "CN=localhost,O=rgrpc");
    }

    /// gRPC's standard `server1.pem`: the subject string grpc-go's authz tests match.
    #[test]
    fn grpc_test_server_subject_as_go_prints_it() {
        let der = cert("../conformance/testdata/server1.pem");
        let id = CertificateIdentity::from_der(&der).unwrap();
        assert_eq!(
            id.subject(),
            "CN=*.test.google.com,O=Example\\, Co.,L=Chicago,ST=Illinois,C=US"
        );
        assert_eq!(
            id.dns_names(),
            [
                "*.test.google.fr",
                "waterzooi.test.google.be",
                "*.test.youtube.com"
            ]
        );
        assert_eq!(id.ip_addresses(), [IpAddr::from([192, 168, 1, 3])]);
    }

    #[test]
    fn escaping_and_oids() {
        assert_eq!(escape(" a,b+c#"), "\\ a\\,b\\+c#");
        assert_eq!(escape("#x "), "\\#x\\ ");
        assert_eq!(
            dotted_oid(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01]).unwrap(),
            "1.2.840.113549.1.9.1"
        );
    }

    /// Every truncation and every single-byte corruption of a real certificate parses to
    /// something or nothing, never a panic.
    #[test]
    fn malformed_input_never_panics() {
        let der = cert("tests/certs/client.pem");
        for len in 0..der.len() {
            let _ = CertificateIdentity::from_der(&der[..len]);
        }
        for i in 0..der.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = der.clone();
                bad[i] ^= flip;
                let _ = CertificateIdentity::from_der(&bad);
            }
        }
        assert!(CertificateIdentity::from_der(&[]).is_none());
        assert!(CertificateIdentity::from_der(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
    }
}
