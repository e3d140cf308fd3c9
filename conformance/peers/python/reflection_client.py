#!/usr/bin/env python3
"""grpcio-reflection's client (ProtoReflectionDescriptorDatabase, reflection v1alpha) against a
server, for rgrpc's peer tests.

usage: reflection_client.py HOST:PORT

Prints, flushed:
  `services <name> <name> ...`                  what list_services returned, sorted;
  `method <Service>.<Method> <input> <output>`  for each method of grpc.testing.TestService;
  `file <name> deps <dep> <dep> ...`            the file defining grpc.testing.TestService;
  `message <name> in <file>`                    grpc.testing.SimpleRequest, from a dependency;
  `unknown <symbol> not found`                  for a symbol the server does not know.
"""

import sys


def main():
    import grpc
    from google.protobuf.descriptor_pool import DescriptorPool
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
        ProtoReflectionDescriptorDatabase,
    )

    with grpc.insecure_channel(sys.argv[1]) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        print("services " + " ".join(sorted(database.get_services())), flush=True)
        pool = DescriptorPool(database)
        service = pool.FindServiceByName("grpc.testing.TestService")
        for method in service.methods:
            print(
                "method %s %s %s"
                % (method.full_name, method.input_type.full_name, method.output_type.full_name),
                flush=True,
            )
        deps = " ".join(d.name for d in service.file.dependencies)
        print("file %s deps %s" % (service.file.name, deps), flush=True)
        message = pool.FindMessageTypeByName("grpc.testing.SimpleRequest")
        print("message %s in %s" % (message.full_name, message.file.name), flush=True)
        try:
            pool.FindMessageTypeByName("no.Such.Message")
            print("unknown no.Such.Message found?!", flush=True)
        except KeyError:
            print("unknown no.Such.Message not found", flush=True)


if __name__ == "__main__":
    main()
