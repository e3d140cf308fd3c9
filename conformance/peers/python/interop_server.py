#!/usr/bin/env python3
"""The gRPC interop test server on gRPC C-core (grpcio): grpc.testing.TestService.

    interop_server.py --port=N [--use_tls=false [--tls_cert_file=F --tls_key_file=F]]
                      [--host=127.0.0.1] [--lifetime=SECONDS]

With --use_tls the server presents gRPC's standard test certificate (server1.pem, from
conformance/testdata/) unless --tls_cert_file/--tls_key_file name others. With
--require_bearer=TOKEN (an rgrpc addition, for per-call credentials tests) every call must
carry `authorization: Bearer TOKEN`, else it fails UNAUTHENTICATED before its handler runs.

Implements every server feature of grpc/grpc doc/interop-test-descriptions.md ("Server"):
EmptyCall, UnaryCall (payload size and type, Echo Status, Echo Metadata, CompressedRequest,
CompressedResponse), CacheableUnaryCall, StreamingInputCall, StreamingOutputCall and
FullDuplexCall (with interval_us), HalfDuplexCall. UnimplementedCall and
grpc.testing.UnimplementedService are left unregistered, so grpcio answers UNIMPLEMENTED.

Stubs are generated at startup from grpc-proto's grpc/testing protos (stubs.py).

Protocol with the parent process (as greeter_server.py):
  * the first line of stdout is `PORT <n>` (flushed) once the server is listening; with
    --port=0 (the default) n is a free port;
  * the server stops on SIGTERM/SIGINT, when stdin reaches EOF (if stdin is a pipe), or after
    --lifetime seconds (default 600), so it never outlives a runner by long.
"""

import argparse
import os
import signal
import stat
import sys
import tempfile
import threading
import time
from concurrent import futures

import interop_common as common
import stubs


class Servicer(object):
    """The handlers. Each receives Inbound requests (see interop_common.decoder)."""

    def __init__(self, grpc, pb):
        self._grpc = grpc
        self._pb = pb
        self._codes = {code.value[0]: code for code in grpc.StatusCode}

    # Spec, "Echo Metadata".
    def _echo_metadata(self, context):
        initial = []
        trailing = []
        for key, value in context.invocation_metadata():
            if key == common.ECHO_INITIAL_KEY and not initial:
                initial.append((key, value))
            elif key == common.ECHO_TRAILING_KEY and not trailing:
                trailing.append((key, value))
        if initial:
            context.send_initial_metadata(initial)
        if trailing:
            context.set_trailing_metadata(trailing)

    # Spec, "Echo Status": close with the requested status and process nothing more.
    def _echo_status(self, request, context):
        if request.HasField("response_status") and request.response_status.code != 0:
            status = request.response_status
            code = self._codes.get(status.code, self._grpc.StatusCode.UNKNOWN)
            context.abort(code, status.message)

    # Spec, "CompressedRequest": expect_compressed set and the request not compressed is
    # INVALID_ARGUMENT. Like C++'s server, the opposite (expect_compressed present and false,
    # request compressed) is refused too.
    def _check_expect_compressed(self, inbound, context):
        request = inbound.message
        if not request.HasField("expect_compressed"):
            return
        if request.expect_compressed.value and not inbound.compressed:
            context.abort(
                self._grpc.StatusCode.INVALID_ARGUMENT,
                "expect_compressed is set but the request was not compressed",
            )
        if not request.expect_compressed.value and inbound.compressed:
            context.abort(
                self._grpc.StatusCode.INVALID_ARGUMENT,
                "expect_compressed is false but the request was compressed",
            )

    def _payload(self, payload_type, size, context):
        if payload_type != self._pb.messages_pb2.COMPRESSABLE:
            context.abort(
                self._grpc.StatusCode.INVALID_ARGUMENT,
                "unsupported response payload type %d" % payload_type,
            )
        if size < 0:
            context.abort(
                self._grpc.StatusCode.INVALID_ARGUMENT, "negative response size %d" % size
            )
        return self._pb.messages_pb2.Payload(type=payload_type, body=b"\x00" * size)

    def EmptyCall(self, inbound, context):
        self._echo_metadata(context)
        return self._pb.empty_pb2.Empty()

    def UnaryCall(self, inbound, context):
        request = inbound.message
        self._echo_metadata(context)
        self._echo_status(request, context)
        self._check_expect_compressed(inbound, context)
        # Spec, "CompressedResponse": compress this call's response when asked. C-core only
        # compresses if the client's grpc-accept-encoding lists gzip.
        if request.response_compressed.value:
            context.set_compression(self._grpc.Compression.Gzip)
        else:
            context.set_compression(self._grpc.Compression.NoCompression)
        payload = self._payload(request.response_type, request.response_size, context)
        return self._pb.messages_pb2.SimpleResponse(payload=payload)

    def CacheableUnaryCall(self, inbound, context):
        # Spec, "CacheableUnaryCall": the request is ignored; the payload is the time in
        # nanoseconds, and the response may be cached by proxies for 60 s.
        context.send_initial_metadata([("cache-control", "max-age=60, public")])
        payload = self._pb.messages_pb2.Payload(
            type=self._pb.messages_pb2.COMPRESSABLE, body=str(time.time_ns()).encode()
        )
        return self._pb.messages_pb2.SimpleResponse(payload=payload)

    def StreamingInputCall(self, inbounds, context):
        total = 0
        for inbound in inbounds:
            self._check_expect_compressed(inbound, context)
            total += len(inbound.message.payload.body)
        return self._pb.messages_pb2.StreamingInputCallResponse(aggregated_payload_size=total)

    def _responses(self, request, context):
        """One response per ResponseParameters, each after its interval_us, compressed per
        its `compressed` flag (spec, "CompressedResponse" and "Observe
        ResponseParameters.interval_us")."""
        params = list(request.response_parameters)
        if any(p.compressed.value for p in params):
            context.set_compression(self._grpc.Compression.Gzip)
        for p in params:
            if p.interval_us > 0:
                time.sleep(p.interval_us / 1e6)
            if not p.compressed.value:
                context.disable_next_message_compression()
            yield self._pb.messages_pb2.StreamingOutputCallResponse(
                payload=self._payload(request.response_type, p.size, context)
            )

    def StreamingOutputCall(self, inbound, context):
        self._echo_status(inbound.message, context)
        for response in self._responses(inbound.message, context):
            yield response

    def FullDuplexCall(self, inbounds, context):
        self._echo_metadata(context)
        for inbound in inbounds:
            self._echo_status(inbound.message, context)
            for response in self._responses(inbound.message, context):
                yield response

    def HalfDuplexCall(self, inbounds, context):
        requests = [inbound.message for inbound in inbounds]
        for request in requests:
            self._echo_status(request, context)
            for response in self._responses(request, context):
                yield response


def test_service_handler(grpc, pb, servicer):
    messages = pb.messages_pb2
    empty = pb.empty_pb2.Empty

    def method(kind, handler, request_class):
        return kind(
            handler,
            request_deserializer=common.decoder(request_class),
            response_serializer=lambda message: message.SerializeToString(),
        )

    handlers = {
        "EmptyCall": method(grpc.unary_unary_rpc_method_handler, servicer.EmptyCall, empty),
        "UnaryCall": method(
            grpc.unary_unary_rpc_method_handler, servicer.UnaryCall, messages.SimpleRequest
        ),
        "CacheableUnaryCall": method(
            grpc.unary_unary_rpc_method_handler,
            servicer.CacheableUnaryCall,
            messages.SimpleRequest,
        ),
        "StreamingOutputCall": method(
            grpc.unary_stream_rpc_method_handler,
            servicer.StreamingOutputCall,
            messages.StreamingOutputCallRequest,
        ),
        "StreamingInputCall": method(
            grpc.stream_unary_rpc_method_handler,
            servicer.StreamingInputCall,
            messages.StreamingInputCallRequest,
        ),
        "FullDuplexCall": method(
            grpc.stream_stream_rpc_method_handler,
            servicer.FullDuplexCall,
            messages.StreamingOutputCallRequest,
        ),
        "HalfDuplexCall": method(
            grpc.stream_stream_rpc_method_handler,
            servicer.HalfDuplexCall,
            messages.StreamingOutputCallRequest,
        ),
    }
    return grpc.method_handlers_generic_handler("grpc.testing.TestService", handlers)


def watch_stdin(stop):
    # Only a pipe means "a parent is holding the other end".
    try:
        if not stat.S_ISFIFO(os.fstat(sys.stdin.fileno()).st_mode):
            return
    except (OSError, ValueError):
        return

    def run():
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except OSError:
            pass
        stop.set()

    threading.Thread(target=run, daemon=True).start()


def bearer_interceptor(grpc, token):
    """Refuses calls without `authorization: Bearer <token>` (UNAUTHENTICATED)."""
    expected = "Bearer " + token

    def refuse(request, context):
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")

    class Bearer(grpc.ServerInterceptor):
        def intercept_service(self, continuation, handler_call_details):
            metadata = dict(handler_call_details.invocation_metadata)
            if metadata.get("authorization") == expected:
                return continuation(handler_call_details)
            return grpc.unary_unary_rpc_method_handler(refuse)

    return Bearer()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free)")
    common.add_bool_flag(parser, "use_tls", "serve TLS")
    parser.add_argument("--tls_cert_file", default=common.testdata("server1.pem"))
    parser.add_argument("--tls_key_file", default=common.testdata("server1.key"))
    parser.add_argument("--require_bearer", default="", help="token every call must carry")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--lifetime", type=float, default=600.0, help="seconds before the server stops itself"
    )
    opts = parser.parse_args()

    import grpc

    with tempfile.TemporaryDirectory(prefix="rgrpc-py-interop-") as stub_dir:
        pb = stubs.load_grpc_testing(stub_dir)
        interceptors = []
        if opts.require_bearer:
            interceptors.append(bearer_interceptor(grpc, opts.require_bearer))
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=16),
            options=common.RAW_MESSAGE_OPTIONS,
            interceptors=interceptors,
        )
        server.add_generic_rpc_handlers((test_service_handler(grpc, pb, Servicer(grpc, pb)),))
        address = "%s:%d" % (opts.host, opts.port)
        if opts.use_tls:
            with open(opts.tls_key_file, "rb") as key, open(opts.tls_cert_file, "rb") as cert:
                credentials = grpc.ssl_server_credentials([(key.read(), cert.read())])
            port = server.add_secure_port(address, credentials)
        else:
            port = server.add_insecure_port(address)
        if port == 0:
            raise SystemExit("could not bind %s:%d" % (opts.host, opts.port))
        server.start()

        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        watch_stdin(stop)

        print("PORT %d" % port, flush=True)
        stop.wait(opts.lifetime)
        server.stop(grace=1).wait()


if __name__ == "__main__":
    main()
