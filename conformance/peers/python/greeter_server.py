#!/usr/bin/env python3
"""A helloworld.Greeter server on gRPC C-core (grpcio), for rgrpc's real-peer tests.

Stubs are generated at startup from <repo>/proto/helloworld.proto with grpc_tools.protoc into
a temporary directory, so nothing generated is checked in and the proto cannot drift.

Protocol with the parent process:
  * the first line of stdout is `PORT <n>` (flushed) once the server is listening;
  * the server stops on SIGTERM/SIGINT, when stdin reaches EOF (if stdin is a pipe, so a parent
    that dies without cleaning up still takes the server with it), or after --lifetime seconds.

Behaviour of SayHello:
  * replies `Hello <name>`;
  * every invocation metadata key starting with `x-` is echoed back as initial metadata under
    the same key, and as trailing metadata under `<key>-trailer` (for binary keys,
    `x-foo-bin` becomes `x-foo-trailer-bin` so the value stays binary);
  * a name of the form `!<CODE>` (e.g. `!NOT_FOUND`) fails the call with that status code and
    the message `requested <CODE> (ünïcødé)`; the non-ASCII text exercises grpc-message
    percent-encoding.
"""

import argparse
import os
import signal
import stat
import sys
import tempfile
import threading
from concurrent import futures

import stubs


def trailer_key(key):
    if key.endswith("-bin"):
        return key[: -len("-bin")] + "-trailer-bin"
    return key + "-trailer"


def make_servicer(grpc, pb2, pb2_grpc):
    class Greeter(pb2_grpc.GreeterServicer):
        def SayHello(self, request, context):
            echoed = [(k, v) for k, v in context.invocation_metadata() if k.startswith("x-")]
            if echoed:
                context.send_initial_metadata(echoed)
                context.set_trailing_metadata([(trailer_key(k), v) for k, v in echoed])
            if request.name.startswith("!"):
                code_name = request.name[1:]
                code = getattr(grpc.StatusCode, code_name, None)
                if code is None or code is grpc.StatusCode.OK:
                    context.abort(
                        grpc.StatusCode.INVALID_ARGUMENT, "no such status code: " + code_name
                    )
                context.abort(code, "requested %s (ünïcødé)" % code_name)
            return pb2.HelloReply(message="Hello " + request.name)

    return Greeter()


def watch_stdin(stop):
    # Only a pipe means "a parent is holding the other end"; EOF on /dev/null or a closed
    # terminal says nothing about the parent, so those are not watched.
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument(
        "--lifetime", type=float, default=120.0, help="seconds before the server stops itself"
    )
    opts = parser.parse_args()

    import grpc

    with tempfile.TemporaryDirectory(prefix="rgrpc-py-stubs-") as stub_dir:
        pb2, pb2_grpc = stubs.load(stub_dir)

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        pb2_grpc.add_GreeterServicer_to_server(make_servicer(grpc, pb2, pb2_grpc), server)
        port = server.add_insecure_port("127.0.0.1:%d" % opts.port)
        if port == 0:
            raise SystemExit("could not bind 127.0.0.1:%d" % opts.port)
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
