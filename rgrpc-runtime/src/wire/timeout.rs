//! The `grpc-timeout` header: at most eight ASCII digits and a unit (PROTOCOL-HTTP2,
//! "Requests": `Timeout → "grpc-timeout" TimeoutValue TimeoutUnit`).

use std::time::Duration;

use http::HeaderValue;

const MAX_VALUE: u64 = 99_999_999;

/// Parses a `grpc-timeout` value. `None` for anything the grammar does not allow.
pub fn parse(value: &[u8]) -> Option<Duration> {
    let (unit, digits) = value.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    Some(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Formats a timeout in the finest unit that fits in eight digits, rounding up so the peer
/// never sees a shorter deadline than ours.
pub fn format(timeout: Duration) -> HeaderValue {
    let nanos = timeout.as_nanos();
    let units: [(u128, u8); 6] = [
        (1, b'n'),
        (1_000, b'u'),
        (1_000_000, b'm'),
        (1_000_000_000, b'S'),
        (60_000_000_000, b'M'),
        (3_600_000_000_000, b'H'),
    ];
    let mut text = String::with_capacity(9);
    for (per, unit) in units {
        let n = nanos.div_ceil(per);
        if n <= u128::from(MAX_VALUE) || unit == b'H' {
            let n = n.min(u128::from(MAX_VALUE));
            text.push_str(&n.to_string());
            text.push(char::from(unit));
            break;
        }
    }
    // Digits and a unit letter are always a valid header value.
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("99999999H"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse(b"1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse(b"2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse(b"3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse(b"4m"), Some(Duration::from_millis(4)));
        assert_eq!(parse(b"5u"), Some(Duration::from_micros(5)));
        assert_eq!(parse(b"99999999n"), Some(Duration::from_nanos(99_999_999)));
    }

    #[test]
    fn rejects_malformed_values() {
        for bad in [
            &b""[..],
            b"S",
            b"1",
            b"1s",
            b"-1S",
            b"123456789S",
            b"1.5S",
            b" 1S",
            b"1x",
        ] {
            assert_eq!(parse(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn formats_in_the_finest_unit_that_fits() {
        assert_eq!(format(Duration::from_nanos(500)).as_bytes(), b"500n");
        assert_eq!(format(Duration::from_millis(200)).as_bytes(), b"200000u");
        assert_eq!(format(Duration::from_secs(1)).as_bytes(), b"1000000u");
        assert_eq!(format(Duration::from_secs(1000)).as_bytes(), b"1000000m");
        assert_eq!(
            format(Duration::from_secs(86_400 * 365)).as_bytes(),
            b"31536000S"
        );
        assert_eq!(format(Duration::MAX).as_bytes(), b"99999999H");
        assert_eq!(format(Duration::ZERO).as_bytes(), b"0n");
    }

    #[test]
    fn format_never_shortens() {
        for nanos in [1u64, 999, 100_000_001, 123_456_789_123] {
            let d = Duration::from_nanos(nanos);
            assert!(parse(format(d).as_bytes()).unwrap() >= d);
        }
    }
}
