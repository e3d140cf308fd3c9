#!/usr/bin/env python3
"""The gRPC interop test client on gRPC C-core (grpcio).

    interop_client.py --server_host=H --server_port=N --test_case=NAME [--use_tls=false]
                      [--use_test_ca=false] [--ca_file=F] [--server_host_override=NAME]
                      [--access_token=TOKEN]
                      [--soak_iterations=10] [--soak_max_failures=0]
                      [--soak_per_iteration_max_acceptable_latency_ms=1000]
                      [--soak_overall_timeout_seconds=10] [--soak_min_time_ms_between_rpcs=0]
                      [--soak_request_size=271828] [--soak_response_size=314159]

Runs one case of grpc/grpc doc/interop-test-descriptions.md (or every case with
--test_case=all). Exits 0 when it passes; otherwise prints the case and what mismatched to
stderr and exits 1 (2 for a bad command line). Every call has a deadline, so the client ends
in bounded time whatever the server does.

Notes on what grpcio can and cannot do here:
  * cacheable_unary: grpcio cannot send GET and there is no caching proxy, so the spec's "both
    payloads are equal" is not asserted; both calls must succeed and carry cache-control.
  * The compression cases read each response's compressed flag by receiving messages raw
    (interop_common.RAW_MESSAGE_OPTIONS), and client_compressed_streaming sends one message
    of a compressed call uncompressed through grpcio internals (see PerMessageCompression),
    because grpcio's public API compresses all messages of a call or none.
"""

import argparse
import queue
import sys
import tempfile
import threading
import time

import interop_common as common
import stubs

# Bounds every call but the soak tests' (which use what is left of their overall timeout).
CALL_TIMEOUT = 30.0

ECHO_INITIAL_VALUE = "test_initial_metadata_value"
ECHO_TRAILING_VALUE = b"\xab\xab\xab"
STATUS_MESSAGE = "test status message"
SPECIAL_STATUS_MESSAGE = (
    "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"
)

CASES = (
    "empty_unary",
    "cacheable_unary",
    "large_unary",
    "client_compressed_unary",
    "server_compressed_unary",
    "client_streaming",
    "client_compressed_streaming",
    "server_streaming",
    "server_compressed_streaming",
    "ping_pong",
    "empty_stream",
    "cancel_after_begin",
    "cancel_after_first_response",
    "timeout_on_sleeping_server",
    "custom_metadata",
    "status_code_and_message",
    "special_status_message",
    "unimplemented_method",
    "unimplemented_service",
    "rpc_soak",
    "channel_soak",
)


class Failure(Exception):
    """A case's assertion did not hold."""


def ensure(condition, message, *args):
    if not condition:
        raise Failure(message % args if args else message)


class Pipe(object):
    """A request iterator fed from the test: lets a case send, read, then send again."""

    _END = object()

    def __init__(self):
        self._queue = queue.Queue()

    def __iter__(self):
        return self

    def __next__(self):
        item = self._queue.get()
        if item is self._END:
            raise StopIteration()
        return item

    def add(self, request):
        self._queue.put(request)

    def close(self):
        self._queue.put(self._END)


class PerMessageCompression(object):
    """Sends chosen messages of a compressed call uncompressed.

    C-core supports this (the GRPC_WRITE_NO_COMPRESS flag on a send-message operation; C++
    calls it WriteOptions::set_no_compression), but grpcio's Python API always passes flags 0.
    grpc._channel builds each operation with `cygrpc.SendMessageOperation(bytes, flags)` right
    after serializing the request, on the same thread, so a serializer that marks a message and
    a proxy for that one constructor can add the flag. Checked for grpcio 1.85; if the
    internals change, `install` fails with a clear message instead of sending the wrong thing.
    """

    _local = threading.local()
    _installed = False

    @classmethod
    def install(cls):
        if cls._installed:
            return
        import grpc._channel as channel_module

        cygrpc = getattr(channel_module, "cygrpc", None)
        if cygrpc is None or not hasattr(cygrpc, "SendMessageOperation"):
            raise Failure(
                "this grpcio's internals differ: cannot send a message uncompressed "
                "inside a compressed call"
            )
        no_compress = cygrpc.WriteFlag.no_compress
        local = cls._local

        class Proxy(object):
            def __getattr__(self, name):
                return getattr(cygrpc, name)

            def SendMessageOperation(self, data, flags):
                if getattr(local, "uncompressed", False):
                    local.uncompressed = False
                    flags |= no_compress
                return cygrpc.SendMessageOperation(data, flags)

        channel_module.cygrpc = Proxy()
        cls._installed = True

    @classmethod
    def serializer(cls, item):
        """Serializes a (message, compress) pair."""
        message, compress = item
        cls._local.uncompressed = not compress
        return message.SerializeToString()


class Client(object):
    def __init__(self, grpc, pb, opts):
        self.grpc = grpc
        self.pb = pb
        self.opts = opts
        self.target = "%s:%d" % (opts.server_host, opts.server_port)
        if ":" in opts.server_host:
            self.target = "[%s]:%d" % (opts.server_host, opts.server_port)

    def channel(self, raw=False):
        options = list(common.RAW_MESSAGE_OPTIONS) if raw else []
        if not self.opts.use_tls:
            return self.grpc.insecure_channel(self.target, options=options)
        ca_file = self.opts.ca_file or (common.testdata("ca.pem") if self.opts.use_test_ca else None)
        roots = None
        if ca_file:
            with open(ca_file, "rb") as f:
                roots = f.read()
        if self.opts.server_host_override:
            options.append(("grpc.ssl_target_name_override", self.opts.server_host_override))
        credentials = self.grpc.ssl_channel_credentials(root_certificates=roots)
        if self.opts.access_token:
            credentials = self.grpc.composite_channel_credentials(
                credentials, self.grpc.access_token_call_credentials(self.opts.access_token)
            )
        return self.grpc.secure_channel(self.target, credentials, options=options)

    def run(self, case):
        with self.channel() as channel:
            stub = self.pb.test_pb2_grpc.TestServiceStub(channel)
            getattr(self, case)(stub, channel)

    # Helpers.

    def check_payload(self, step, payload, size):
        ensure(
            payload.type == self.pb.messages_pb2.COMPRESSABLE,
            "%s: payload type %d, want COMPRESSABLE",
            step,
            payload.type,
        )
        ensure(
            len(payload.body) == size,
            "%s: payload body is %d bytes, want %d",
            step,
            len(payload.body),
            size,
        )
        ensure(payload.body == b"\x00" * size, "%s: payload body is not all zeros", step)

    def large_request(self, **fields):
        m = self.pb.messages_pb2
        return m.SimpleRequest(
            response_type=m.COMPRESSABLE,
            response_size=common.LARGE_RESPONSE_SIZE,
            payload=m.Payload(body=b"\x00" * common.LARGE_REQUEST_SIZE),
            **fields
        )

    def duplex_request(self, response_size, payload_size):
        m = self.pb.messages_pb2
        return m.StreamingOutputCallRequest(
            response_type=m.COMPRESSABLE,
            response_parameters=[m.ResponseParameters(size=response_size)],
            payload=m.Payload(body=b"\x00" * payload_size),
        )

    def expect_error(self, step, call, code, details=None):
        """Runs call(); it must raise an RpcError with `code` (and `details`, if given)."""
        try:
            call()
        except self.grpc.RpcError as err:
            ensure(
                err.code() == code,
                "%s ended with %s %r, want %s",
                step,
                err.code().name,
                err.details(),
                code.name,
            )
            if details is not None:
                ensure(
                    err.details() == details,
                    "%s ended with message %r, want %r",
                    step,
                    err.details(),
                    details,
                )
            return
        raise Failure("%s succeeded, want %s" % (step, code.name))

    # The cases: spec "Procedure" and "Client asserts".

    def empty_unary(self, stub, channel):
        response = stub.EmptyCall(self.pb.empty_pb2.Empty(), timeout=CALL_TIMEOUT)
        ensure(isinstance(response, self.pb.empty_pb2.Empty), "EmptyCall returned %r", response)
        ensure(response.ByteSize() == 0, "EmptyCall response is %d bytes", response.ByteSize())

    def cacheable_unary(self, stub, channel):
        m = self.pb.messages_pb2
        request = m.SimpleRequest(
            response_type=m.COMPRESSABLE,
            payload=m.Payload(body=str(time.time_ns()).encode()),
        )
        bodies = []
        for step in ("first CacheableUnaryCall", "second CacheableUnaryCall"):
            response, call = stub.CacheableUnaryCall.with_call(
                request, metadata=[("x-user-ip", "1.2.3.4")], timeout=CALL_TIMEOUT
            )
            headers = dict(call.initial_metadata())
            ensure("cache-control" in headers, "%s: no cache-control header in %r", step, headers)
            bodies.append(response.payload.body)
        if bodies[0] == bodies[1]:
            print("cacheable_unary: both payloads equal (served by a cache)", file=sys.stderr)
        else:
            print(
                "cacheable_unary: payloads differ, as expected without a caching proxy; the "
                "spec's equality assertion is not checked",
                file=sys.stderr,
            )

    def large_unary(self, stub, channel):
        response = stub.UnaryCall(self.large_request(), timeout=CALL_TIMEOUT)
        self.check_payload("UnaryCall response", response.payload, common.LARGE_RESPONSE_SIZE)

    def client_streaming(self, stub, channel):
        m = self.pb.messages_pb2
        requests = (
            m.StreamingInputCallRequest(payload=m.Payload(body=b"\x00" * size))
            for size in common.REQUEST_SIZES
        )
        response = stub.StreamingInputCall(requests, timeout=CALL_TIMEOUT)
        want = sum(common.REQUEST_SIZES)
        ensure(
            response.aggregated_payload_size == want,
            "aggregated_payload_size is %d, want %d",
            response.aggregated_payload_size,
            want,
        )

    def server_streaming(self, stub, channel):
        m = self.pb.messages_pb2
        request = m.StreamingOutputCallRequest(
            response_type=m.COMPRESSABLE,
            response_parameters=[m.ResponseParameters(size=s) for s in common.RESPONSE_SIZES],
        )
        responses = list(stub.StreamingOutputCall(request, timeout=CALL_TIMEOUT))
        ensure(
            len(responses) == len(common.RESPONSE_SIZES),
            "%d responses, want %d",
            len(responses),
            len(common.RESPONSE_SIZES),
        )
        for index, (response, size) in enumerate(zip(responses, common.RESPONSE_SIZES)):
            self.check_payload("response %d" % index, response.payload, size)

    def ping_pong(self, stub, channel):
        pipe = Pipe()
        responses = stub.FullDuplexCall(pipe, timeout=CALL_TIMEOUT)
        try:
            pairs = zip(common.REQUEST_SIZES, common.RESPONSE_SIZES)
            for index, (request_size, response_size) in enumerate(pairs):
                pipe.add(self.duplex_request(response_size, request_size))
                response = next(responses, None)
                ensure(response is not None, "the call ended after %d responses", index)
                self.check_payload("response %d" % index, response.payload, response_size)
        finally:
            pipe.close()
        extra = next(responses, None)
        ensure(extra is None, "an extra response after half-close")
        ensure(
            responses.code() == self.grpc.StatusCode.OK,
            "FullDuplexCall ended with %s",
            responses.code(),
        )

    def empty_stream(self, stub, channel):
        pipe = Pipe()
        pipe.close()
        responses = list(stub.FullDuplexCall(pipe, timeout=CALL_TIMEOUT))
        ensure(not responses, "%d responses, want 0", len(responses))

    def cancel_after_begin(self, stub, channel):
        pipe = Pipe()
        future = stub.StreamingInputCall.future(pipe, timeout=CALL_TIMEOUT)
        try:
            future.cancel()
            ensure(future.cancelled(), "the call is not cancelled after cancel()")
            ensure(
                future.code() == self.grpc.StatusCode.CANCELLED,
                "the call ended with %s, want CANCELLED",
                future.code(),
            )
        finally:
            pipe.close()

    def cancel_after_first_response(self, stub, channel):
        pipe = Pipe()
        responses = stub.FullDuplexCall(pipe, timeout=CALL_TIMEOUT)
        try:
            pipe.add(self.duplex_request(common.RESPONSE_SIZES[0], common.REQUEST_SIZES[0]))
            ensure(next(responses, None) is not None, "the call ended before a response")
            responses.cancel()
            self.expect_error(
                "FullDuplexCall after cancel()",
                lambda: next(responses),
                self.grpc.StatusCode.CANCELLED,
            )
        finally:
            pipe.close()

    def timeout_on_sleeping_server(self, stub, channel):
        m = self.pb.messages_pb2
        pipe = Pipe()
        responses = stub.FullDuplexCall(pipe, timeout=0.001)
        try:
            pipe.add(
                m.StreamingOutputCallRequest(
                    response_type=m.COMPRESSABLE,
                    payload=m.Payload(body=b"\x00" * common.REQUEST_SIZES[0]),
                )
            )
            self.expect_error(
                "FullDuplexCall with a 1 ms deadline",
                lambda: next(responses),
                self.grpc.StatusCode.DEADLINE_EXCEEDED,
            )
        finally:
            pipe.close()

    def check_echo(self, step, initial, trailing):
        initial_values = [v for k, v in initial if k == common.ECHO_INITIAL_KEY]
        ensure(
            initial_values == [ECHO_INITIAL_VALUE],
            "%s: initial metadata %s is %r, want [%r] (all: %r)",
            step,
            common.ECHO_INITIAL_KEY,
            initial_values,
            ECHO_INITIAL_VALUE,
            initial,
        )
        trailing_values = [v for k, v in trailing if k == common.ECHO_TRAILING_KEY]
        ensure(
            trailing_values == [ECHO_TRAILING_VALUE],
            "%s: trailing metadata %s is %r, want [%r] (all: %r)",
            step,
            common.ECHO_TRAILING_KEY,
            trailing_values,
            ECHO_TRAILING_VALUE,
            trailing,
        )

    def custom_metadata(self, stub, channel):
        metadata = (
            (common.ECHO_INITIAL_KEY, ECHO_INITIAL_VALUE),
            (common.ECHO_TRAILING_KEY, ECHO_TRAILING_VALUE),
        )
        response, call = stub.UnaryCall.with_call(
            self.large_request(), metadata=metadata, timeout=CALL_TIMEOUT
        )
        self.check_payload("UnaryCall response", response.payload, common.LARGE_RESPONSE_SIZE)
        self.check_echo("UnaryCall", call.initial_metadata(), call.trailing_metadata())

        pipe = Pipe()
        pipe.add(self.duplex_request(common.LARGE_RESPONSE_SIZE, common.LARGE_REQUEST_SIZE))
        pipe.close()
        responses = stub.FullDuplexCall(pipe, metadata=metadata, timeout=CALL_TIMEOUT)
        received = list(responses)
        ensure(len(received) == 1, "FullDuplexCall: %d responses, want 1", len(received))
        self.check_payload(
            "FullDuplexCall response", received[0].payload, common.LARGE_RESPONSE_SIZE
        )
        self.check_echo(
            "FullDuplexCall", responses.initial_metadata(), responses.trailing_metadata()
        )

    def check_echoed_status(self, stub, message):
        m = self.pb.messages_pb2
        status = m.EchoStatus(code=2, message=message)
        self.expect_error(
            "UnaryCall",
            lambda: stub.UnaryCall(m.SimpleRequest(response_status=status), timeout=CALL_TIMEOUT),
            self.grpc.StatusCode.UNKNOWN,
            message,
        )
        return status

    def status_code_and_message(self, stub, channel):
        status = self.check_echoed_status(stub, STATUS_MESSAGE)
        pipe = Pipe()
        pipe.add(self.pb.messages_pb2.StreamingOutputCallRequest(response_status=status))
        pipe.close()
        self.expect_error(
            "FullDuplexCall",
            lambda: list(stub.FullDuplexCall(pipe, timeout=CALL_TIMEOUT)),
            self.grpc.StatusCode.UNKNOWN,
            STATUS_MESSAGE,
        )

    def special_status_message(self, stub, channel):
        self.check_echoed_status(stub, SPECIAL_STATUS_MESSAGE)

    def unimplemented_method(self, stub, channel):
        self.expect_error(
            "TestService/UnimplementedCall",
            lambda: stub.UnimplementedCall(self.pb.empty_pb2.Empty(), timeout=CALL_TIMEOUT),
            self.grpc.StatusCode.UNIMPLEMENTED,
        )

    def unimplemented_service(self, stub, channel):
        other = self.pb.test_pb2_grpc.UnimplementedServiceStub(channel)
        self.expect_error(
            "UnimplementedService/UnimplementedCall",
            lambda: other.UnimplementedCall(self.pb.empty_pb2.Empty(), timeout=CALL_TIMEOUT),
            self.grpc.StatusCode.UNIMPLEMENTED,
        )

    def rpc_soak(self, stub, channel):
        self.soak(lambda: (stub, None))

    def channel_soak(self, stub, channel):
        def fresh():
            # A new channel, so a new connection, per call; the loop closes it after the call.
            fresh_channel = self.channel()
            return self.pb.test_pb2_grpc.TestServiceStub(fresh_channel), fresh_channel

        self.soak(fresh)

    def soak(self, make_stub):
        """Large unary calls in sequence; a failed or too-slow call is a soak failure. Fails
        when failures exceed --soak_max_failures or the overall timeout ends the run before
        every iteration ran (as C++'s client does). make_stub returns (stub, channel to close
        after the call, or None)."""
        o = self.opts
        m = self.pb.messages_pb2
        request = m.SimpleRequest(
            response_type=m.COMPRESSABLE,
            response_size=o.soak_response_size,
            payload=m.Payload(body=b"\x00" * o.soak_request_size),
        )
        start = time.monotonic()
        deadline = start + o.soak_overall_timeout_seconds
        ran = failures = 0
        latencies = []
        for iteration in range(o.soak_iterations):
            now = time.monotonic()
            if now >= deadline:
                break
            earliest_next = now + o.soak_min_time_ms_between_rpcs / 1000.0
            error = None
            stub, fresh_channel = make_stub()
            try:
                response = stub.UnaryCall(request, timeout=deadline - now)
                self.check_payload("UnaryCall response", response.payload, o.soak_response_size)
            except (self.grpc.RpcError, Failure) as err:
                error = err
            finally:
                if fresh_channel is not None:
                    fresh_channel.close()
            elapsed_ms = (time.monotonic() - now) * 1000
            ran += 1
            if error is not None:
                failures += 1
                print(
                    "soak iteration %d: elapsed_ms %d: failed: %s" % (iteration, elapsed_ms, error),
                    file=sys.stderr,
                )
            elif elapsed_ms > o.soak_per_iteration_max_acceptable_latency_ms:
                failures += 1
                print(
                    "soak iteration %d: elapsed_ms %d: exceeds the max acceptable latency of %d ms"
                    % (iteration, elapsed_ms, o.soak_per_iteration_max_acceptable_latency_ms),
                    file=sys.stderr,
                )
            else:
                latencies.append(elapsed_ms)
            pause = earliest_next - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        latencies.sort()
        print(
            "soak: ran %d of %d iterations, %d failures; median latency %d ms, worst %d ms"
            % (
                ran,
                o.soak_iterations,
                failures,
                latencies[len(latencies) // 2] if latencies else 0,
                latencies[-1] if latencies else 0,
            ),
            file=sys.stderr,
        )
        ensure(
            ran == o.soak_iterations,
            "soak test hit the overall timeout of %d s after %d of %d iterations",
            o.soak_overall_timeout_seconds,
            ran,
            o.soak_iterations,
        )
        ensure(
            failures <= o.soak_max_failures,
            "soak test had %d failed iterations, more than --soak_max_failures=%d",
            failures,
            o.soak_max_failures,
        )

    # Compression cases. They run on a channel that receives messages raw
    # (RAW_MESSAGE_OPTIONS), so each response's compressed flag is visible.

    def raw_method(self, channel, kind, name, response_class, serializer=None):
        return getattr(channel, kind)(
            "/grpc.testing.TestService/" + name,
            request_serializer=serializer or (lambda message: message.SerializeToString()),
            response_deserializer=common.decoder(response_class),
        )

    def client_compressed_unary(self, stub, channel):
        m = self.pb.messages_pb2
        with self.channel(raw=True) as raw:
            unary = self.raw_method(raw, "unary_unary", "UnaryCall", m.SimpleResponse)
            expect = lambda value: m.BoolValue(value=value)
            # The probe: an uncompressed request that claims to be compressed must be refused,
            # which shows that the server checks (spec, "CompressedRequest").
            self.expect_error(
                "UnaryCall probe (uncompressed, expect_compressed=true)",
                lambda: unary(
                    self.large_request(expect_compressed=expect(True)),
                    timeout=CALL_TIMEOUT,
                    compression=self.grpc.Compression.NoCompression,
                ),
                self.grpc.StatusCode.INVALID_ARGUMENT,
            )
            for compressed in (True, False):
                step = "UnaryCall (%s request)" % ("compressed" if compressed else "uncompressed")
                algorithm = self.grpc.Compression.NoCompression
                if compressed:
                    algorithm = self.grpc.Compression.Gzip
                try:
                    inbound = unary(
                        self.large_request(expect_compressed=expect(compressed)),
                        timeout=CALL_TIMEOUT,
                        compression=algorithm,
                    )
                except self.grpc.RpcError as err:
                    raise Failure("%s failed: %s %r" % (step, err.code().name, err.details()))
                self.check_payload(
                    step + " response", inbound.message.payload, common.LARGE_RESPONSE_SIZE
                )

    def server_compressed_unary(self, stub, channel):
        m = self.pb.messages_pb2
        with self.channel(raw=True) as raw:
            unary = self.raw_method(raw, "unary_unary", "UnaryCall", m.SimpleResponse)
            for compressed in (True, False):
                step = "UnaryCall (response_compressed=%s)" % str(compressed).lower()
                request = self.large_request(response_compressed=m.BoolValue(value=compressed))
                try:
                    inbound = unary(request, timeout=CALL_TIMEOUT)
                except self.grpc.RpcError as err:
                    raise Failure("%s failed: %s %r" % (step, err.code().name, err.details()))
                ensure(
                    inbound.compressed == compressed,
                    "%s: the response's compressed flag is %s, want %s",
                    step,
                    inbound.compressed,
                    compressed,
                )
                self.check_payload(
                    step + " response", inbound.message.payload, common.LARGE_RESPONSE_SIZE
                )

    def client_compressed_streaming(self, stub, channel):
        m = self.pb.messages_pb2
        PerMessageCompression.install()

        def request(size, expect_compressed):
            return m.StreamingInputCallRequest(
                payload=m.Payload(body=b"\x00" * size),
                expect_compressed=m.BoolValue(value=expect_compressed),
            )

        with self.channel(raw=True) as raw:
            streaming = self.raw_method(
                raw,
                "stream_unary",
                "StreamingInputCall",
                m.StreamingInputCallResponse,
                serializer=PerMessageCompression.serializer,
            )
            self.expect_error(
                "StreamingInputCall probe (uncompressed, expect_compressed=true)",
                lambda: streaming(
                    iter([(request(27182, True), False)]),
                    timeout=CALL_TIMEOUT,
                    compression=self.grpc.Compression.NoCompression,
                ),
                self.grpc.StatusCode.INVALID_ARGUMENT,
            )
            messages = [(request(27182, True), True), (request(45904, False), False)]
            try:
                inbound = streaming(
                    iter(messages), timeout=CALL_TIMEOUT, compression=self.grpc.Compression.Gzip
                )
            except self.grpc.RpcError as err:
                raise Failure(
                    "StreamingInputCall (compressed, then uncompressed message) failed: %s %r"
                    % (err.code().name, err.details())
                )
            ensure(
                inbound.message.aggregated_payload_size == 73086,
                "aggregated_payload_size is %d, want 73086",
                inbound.message.aggregated_payload_size,
            )

    def server_compressed_streaming(self, stub, channel):
        m = self.pb.messages_pb2
        params = ((True, 31415), (False, 92653))
        request = m.StreamingOutputCallRequest(
            response_type=m.COMPRESSABLE,
            response_parameters=[
                m.ResponseParameters(size=size, compressed=m.BoolValue(value=compressed))
                for compressed, size in params
            ],
        )
        with self.channel(raw=True) as raw:
            streaming = self.raw_method(
                raw, "unary_stream", "StreamingOutputCall", m.StreamingOutputCallResponse
            )
            try:
                received = list(streaming(request, timeout=CALL_TIMEOUT))
            except self.grpc.RpcError as err:
                raise Failure(
                    "StreamingOutputCall failed: %s %r" % (err.code().name, err.details())
                )
            ensure(len(received) == 2, "%d responses, want 2", len(received))
            for index, (inbound, (compressed, size)) in enumerate(zip(received, params)):
                step = "response %d" % index
                ensure(
                    inbound.compressed == compressed,
                    "%s: compressed flag is %s, want %s",
                    step,
                    inbound.compressed,
                    compressed,
                )
                self.check_payload(step, inbound.message.payload, size)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server_host", default="localhost")
    parser.add_argument("--server_port", type=int, required=True)
    parser.add_argument("--test_case", default="large_unary", choices=CASES + ("all",))
    common.add_bool_flag(parser, "use_tls", "connect with TLS")
    parser.add_argument("--server_host_override", default="", help="the name to verify (TLS)")
    common.add_bool_flag(parser, "use_test_ca", "trust gRPC's test CA (TLS)")
    parser.add_argument("--ca_file", default="", help="trust this CA file (TLS)")
    parser.add_argument(
        "--access_token", default="", help="send this bearer token with every call (TLS)"
    )
    parser.add_argument("--soak_iterations", type=int, default=10)
    parser.add_argument("--soak_max_failures", type=int, default=0)
    parser.add_argument("--soak_per_iteration_max_acceptable_latency_ms", type=int, default=1000)
    parser.add_argument("--soak_overall_timeout_seconds", type=int, default=10)
    parser.add_argument("--soak_min_time_ms_between_rpcs", type=int, default=0)
    parser.add_argument("--soak_request_size", type=int, default=common.LARGE_REQUEST_SIZE)
    parser.add_argument("--soak_response_size", type=int, default=common.LARGE_RESPONSE_SIZE)
    opts = parser.parse_args()

    sys.stdout.reconfigure(encoding="utf-8")
    sys.stderr.reconfigure(encoding="utf-8")

    import grpc

    cases = CASES if opts.test_case == "all" else (opts.test_case,)
    failed = 0
    with tempfile.TemporaryDirectory(prefix="rgrpc-py-interop-") as stub_dir:
        client = Client(grpc, stubs.load_grpc_testing(stub_dir), opts)
        for case in cases:
            try:
                client.run(case)
            except Failure as err:
                failed += 1
                print("interop_client.py: %s: FAILED: %s" % (case, err), file=sys.stderr)
            except grpc.RpcError as err:
                failed += 1
                print(
                    "interop_client.py: %s: FAILED: %s %r" % (case, err.code().name, err.details()),
                    file=sys.stderr,
                )
            else:
                print("interop_client.py: %s: passed" % case, file=sys.stderr)
    if len(cases) > 1:
        print(
            "interop_client.py: %d passed, %d failed" % (len(cases) - failed, failed),
            file=sys.stderr,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
