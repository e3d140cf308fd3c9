#!/usr/bin/env python3
"""grpcio's reference health and reflection services (grpcio-health-checking,
grpcio-reflection) beside a helloworld.Greeter, for rgrpc's clients to talk to.

Protocol with the parent process:
  * the first line of stdout is `PORT <n>` (flushed) once the server is listening;
  * each line on stdin is a command, answered by one line on stdout:
      `set <service> <STATUS>`  sets a health status (`-` names the server as a whole, "");
  * the server stops when stdin reaches EOF, on SIGTERM/SIGINT, or after --lifetime seconds.

grpcio-reflection serves grpc.reflection.v1alpha only.
"""

import argparse
import signal
import sys
import tempfile
import threading
from concurrent import futures

import stubs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lifetime", type=float, default=120.0)
    opts = parser.parse_args()

    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection

    with tempfile.TemporaryDirectory(prefix="rgrpc-py-stubs-") as stub_dir:
        pb2, pb2_grpc = stubs.load(stub_dir)

        class Greeter(pb2_grpc.GreeterServicer):
            def SayHello(self, request, context):
                return pb2.HelloReply(message="Hello " + request.name)

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        pb2_grpc.add_GreeterServicer_to_server(Greeter(), server)
        servicer = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
        names = (
            pb2.DESCRIPTOR.services_by_name["Greeter"].full_name,
            health.SERVICE_NAME,
            reflection.SERVICE_NAME,
        )
        reflection.enable_server_reflection(names, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()

        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())

        def commands():
            for line in sys.stdin:
                parts = line.split()
                if len(parts) == 3 and parts[0] == "set":
                    service = "" if parts[1] == "-" else parts[1]
                    status = health_pb2.HealthCheckResponse.ServingStatus.Value(parts[2])
                    servicer.set(service, status)
                    print("ok", flush=True)
                else:
                    print("error: unknown command %r" % line.strip(), flush=True)
            stop.set()

        threading.Thread(target=commands, daemon=True).start()
        print("PORT %d" % port, flush=True)
        stop.wait(opts.lifetime)
        server.stop(grace=1).wait()


if __name__ == "__main__":
    main()
