//! Answering a unary or client-streaming call: its single response, or its status.

use bytes::{Bytes, BytesMut};
use h2::server::SendResponse;

use std::sync::Arc;

use super::accepted::Compression;
use super::guard::{deadline_status, panic_status, reset_status, Outcome};
use crate::codec::{framing, Codec};
use crate::metadata::names;
use crate::observe::{EndGuard, Observed};
use crate::transport::budget::{charge_unsent, ConnectionBudget};
use crate::wire::{self, response_head};
use crate::{Response, Status};

/// Sends the single response, or the status, of a unary or client-streaming call.
/// Reports the call's end to its observer (`end`), if it has one. A large response is
/// charged to `budget` until it is written (`transport::budget`).
pub(crate) fn finish_unary<C: Codec>(
    respond: &mut SendResponse<Bytes>,
    outcome: Outcome<Result<Response<C::Encode>, Status>>,
    compression: Compression,
    end: &mut EndGuard,
    budget: &Arc<ConnectionBudget>,
) {
    let status = match outcome {
        Outcome::Done(Ok(response)) => {
            send_unary::<C>(respond, response, compression, end.observed(), budget)
        }
        Outcome::Done(Err(status)) => Some(status),
        Outcome::DeadlineExceeded => Some(deadline_status()),
        Outcome::Panicked => Some(panic_status()),
        Outcome::Reset => {
            // Nothing to send; a status only for what hears the end, so none is built
            // without one.
            if end.is_heard() {
                end.end(Some(&reset_status()));
            }
            return;
        }
    };
    if let Some(status) = &status {
        send_trailers_only(respond, status);
    }
    end.end(status.as_ref());
}

/// Sends the response; `Some` with the status to send instead if it cannot be encoded.
fn send_unary<C: Codec>(
    respond: &mut SendResponse<Bytes>,
    response: Response<C::Encode>,
    compression: Compression,
    observed: Option<&Observed>,
    budget: &Arc<ConnectionBudget>,
) -> Option<Status> {
    let encoding = compression.response(response.compress());
    let (message, metadata, trailers) = response.into_parts();
    let frame = match framing::encode(&C::default(), &message, &mut BytesMut::new(), encoding) {
        Ok(frame) => frame,
        Err(status) => return Some(status),
    };
    if let Some(observed) = observed {
        observed.sent(frame.len(), encoding);
    }
    // h2 holds the message until the client's window lets it out: a large one counts
    // against the connection's and the server's send budgets meanwhile.
    let frame = match charge_unsent(budget, frame) {
        Ok(frame) => frame,
        Err(status) => return Some(status),
    };
    let mut headers = metadata.into_outgoing();
    if let Some(encoding) = encoding {
        headers.insert(names::GRPC_ENCODING, encoding.header_value());
    }
    let Ok(mut stream) = respond.send_response(response_head(headers), false) else {
        return None;
    };
    // The whole message is already in memory; h2 sends it as the window allows.
    if stream.send_data(frame, false).is_err() {
        return None;
    }
    let mut trailers = trailers.into_outgoing();
    wire::write_ok(&mut trailers);
    let _ = stream.send_trailers(trailers);
    None
}

/// A response that is only a HEADERS frame with END_STREAM, carrying the status
/// (PROTOCOL-HTTP2, "Trailers-Only").
pub(crate) fn send_trailers_only(respond: &mut SendResponse<Bytes>, status: &Status) {
    let _ = respond.send_response(wire::trailers_only(status), true);
}
