#!/usr/bin/env python3
"""grpcio-health-checking's client against a server, for rgrpc's peer tests.

usage: health_client.py HOST:PORT

Prints one line per result, flushed:
  `check <name> <STATUS>` or `check <name> error <CODE>` for Check on "" (shown as `-`),
  `grpc.testing.TestService` and `no.Such.Service`;
  then Watch on `later.Service`: `watch <STATUS>` for each message received, until three have
  arrived. The parent changes the status after each `watch` line; the watch never ends on its
  own, so the client cancels it after the third.
Exits non-zero on anything unexpected.
"""

import sys


def main():
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    status_name = health_pb2.HealthCheckResponse.ServingStatus.Name
    with grpc.insecure_channel(sys.argv[1]) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for name in ("", "grpc.testing.TestService", "no.Such.Service"):
            shown = name or "-"
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=10)
                print("check %s %s" % (shown, status_name(reply.status)), flush=True)
            except grpc.RpcError as e:
                print("check %s error %s" % (shown, e.code().name), flush=True)
        watch = stub.Watch(health_pb2.HealthCheckRequest(service="later.Service"), timeout=30)
        for i, reply in enumerate(watch):
            print("watch %s" % status_name(reply.status), flush=True)
            if i == 2:
                watch.cancel()
                break
    print("done", flush=True)


if __name__ == "__main__":
    main()
