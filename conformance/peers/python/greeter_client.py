#!/usr/bin/env python3
"""A helloworld.Greeter client on gRPC C-core (grpcio), for rgrpc's real-peer tests.

    greeter_client.py --target 127.0.0.1:50051 --name world

Calls SayHello once with metadata `x-peer: python` and a deadline (so the server has a
grpc-timeout header to parse) and prints the reply message as the first line of stdout. Then
calls a method the server does not have and expects UNIMPLEMENTED. Exits 0 when every check
passes; otherwise prints the failing status to stderr and exits 1.

Stubs are generated at startup from <repo>/proto/helloworld.proto with grpc_tools.protoc into
a temporary directory.
"""

import argparse
import os
import sys
import tempfile

import stubs


def describe(err):
    return "%s: %s" % (err.code().name, err.details())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="host:port of the server")
    parser.add_argument("--name", default="world", help="name to greet")
    parser.add_argument("--timeout", type=float, default=10.0, help="per-call deadline, seconds")
    opts = parser.parse_args()

    # The name may be non-ASCII; do not let the locale decide whether it can be printed.
    sys.stdout.reconfigure(encoding="utf-8")
    sys.stderr.reconfigure(encoding="utf-8")

    import grpc

    with tempfile.TemporaryDirectory(prefix="rgrpc-py-stubs-") as stub_dir:
        pb2, pb2_grpc = stubs.load(stub_dir)
        with grpc.insecure_channel(opts.target) as channel:
            stub = pb2_grpc.GreeterStub(channel)
            try:
                reply, call = stub.SayHello.with_call(
                    pb2.HelloRequest(name=opts.name),
                    metadata=[("x-peer", "python")],
                    timeout=opts.timeout,
                )
            except grpc.RpcError as err:
                print("SayHello failed: " + describe(err), file=sys.stderr)
                return 1
            print(reply.message, flush=True)
            if call.code() is not grpc.StatusCode.OK:
                print("SayHello status: %s" % call.code().name, file=sys.stderr)
                return 1

            missing = channel.unary_unary("/helloworld.Greeter/NoSuchMethod")
            try:
                missing(b"", timeout=opts.timeout)
            except grpc.RpcError as err:
                if err.code() is not grpc.StatusCode.UNIMPLEMENTED:
                    print("NoSuchMethod: want UNIMPLEMENTED, got " + describe(err), file=sys.stderr)
                    return 1
            else:
                print("NoSuchMethod: want UNIMPLEMENTED, got OK", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
