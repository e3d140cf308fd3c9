//! W3C Trace Context (`traceparent`, `tracestate`) in gRPC metadata, written and read here so
//! the adapter needs only the OpenTelemetry API, not the SDK. The header values are peer data:
//! anything malformed is ignored, never a panic.

use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use rgrpc_runtime::MetadataMap;

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

/// Writes `context` as `traceparent` (version `00`) and, if it has one, `tracestate`.
/// An invalid context writes nothing.
pub fn inject_trace_context(context: &SpanContext, metadata: &mut MetadataMap) {
    if !context.is_valid() {
        return;
    }
    let traceparent = format!(
        "00-{}-{}-{:02x}",
        context.trace_id(),
        context.span_id(),
        context.trace_flags().to_u8() & TraceFlags::SAMPLED.to_u8()
    );
    let _ = metadata.insert(TRACEPARENT, &traceparent);
    let state = context.trace_state().header();
    if !state.is_empty() {
        let _ = metadata.insert(TRACESTATE, &state);
    }
}

/// Reads a remote span context from `traceparent` (and `tracestate`), per the W3C spec's
/// parsing rules; `None` if absent or malformed.
pub fn extract_trace_context(metadata: &MetadataMap) -> Option<SpanContext> {
    let value = metadata.get(TRACEPARENT)?.trim();
    let mut parts = value.split('-');
    let version = parts.next()?;
    let trace_id = parts.next()?;
    let span_id = parts.next()?;
    let flags = parts.next()?;
    // Version 00 has exactly four fields; a later version may append more.
    if version.len() != 2 || !is_lower_hex(version) || version == "ff" {
        return None;
    }
    if version == "00" && parts.next().is_some() {
        return None;
    }
    if trace_id.len() != 32 || span_id.len() != 16 || flags.len() != 2 {
        return None;
    }
    if !(is_lower_hex(trace_id) && is_lower_hex(span_id) && is_lower_hex(flags)) {
        return None;
    }
    let trace_id = TraceId::from_hex(trace_id).ok()?;
    let span_id = SpanId::from_hex(span_id).ok()?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    let state = metadata
        .get(TRACESTATE)
        .and_then(|s| s.parse::<TraceState>().ok())
        .unwrap_or_default();
    let context = SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(flags) & TraceFlags::SAMPLED,
        true,
        state,
    );
    context.is_valid().then_some(context)
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let context = SpanContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            false,
            "congo=t61rcWkgMzE".parse().unwrap(),
        );
        let mut md = MetadataMap::new();
        inject_trace_context(&context, &mut md);
        assert_eq!(
            md.get("traceparent"),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        );
        assert_eq!(md.get("tracestate"), Some("congo=t61rcWkgMzE"));
        let back = extract_trace_context(&md).unwrap();
        assert_eq!(back.trace_id(), context.trace_id());
        assert_eq!(back.span_id(), context.span_id());
        assert!(back.is_sampled() && back.is_remote());
        assert_eq!(back.trace_state().header(), "congo=t61rcWkgMzE");
    }

    #[test]
    fn malformed_is_ignored() {
        for bad in [
            "",
            "00",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "00-ünïcødé",
        ] {
            let mut md = MetadataMap::new();
            let _ = md.insert("traceparent", bad);
            assert!(extract_trace_context(&md).is_none(), "{bad:?}");
        }
        // A later version may add fields.
        let mut md = MetadataMap::new();
        md.insert(
            "traceparent",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more",
        )
        .unwrap();
        assert!(extract_trace_context(&md).is_some());
    }
}
