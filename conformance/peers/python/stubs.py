"""Generates Python stubs for the project's .proto files at run time, so no generated Python
is checked in."""

import os
import sys

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
PROTO_DIR = os.path.join(REPO_ROOT, "proto")


def load(out_dir, name="helloworld"):
    """Generates <name>_pb2 and <name>_pb2_grpc into out_dir and imports them."""
    from grpc_tools import protoc
    import importlib

    args = [
        "grpc_tools.protoc",
        "-I" + PROTO_DIR,
        "--python_out=" + out_dir,
        "--grpc_python_out=" + out_dir,
        os.path.join(PROTO_DIR, name + ".proto"),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed to generate %s stubs from %s" % (name, PROTO_DIR))
    sys.path.insert(0, out_dir)
    return importlib.import_module(name + "_pb2"), importlib.import_module(name + "_pb2_grpc")


# Where gRPC's standard protos live (Debian's grpc-proto package); GRPC_PROTO overrides it, as
# the Makefile variable of the same name does.
GRPC_PROTO_DIR = os.environ.get("GRPC_PROTO", "/usr/share/grpc-proto")

GRPC_TESTING_PROTOS = ("empty", "messages", "test")


class GrpcTesting(object):
    """The generated modules for grpc.testing: empty_pb2, messages_pb2, test_pb2, test_pb2_grpc."""

    def __init__(self, modules):
        self.__dict__.update(modules)


def load_grpc_testing(out_dir):
    """Generates Python stubs for grpc/testing/{empty,messages,test}.proto from GRPC_PROTO_DIR
    into out_dir and imports them.

    The protos import each other as "grpc/testing/...", so the generated code imports
    `grpc.testing.<name>_pb2`, a subpackage of grpcio's own `grpc` package. grpcio ships no
    `grpc.testing`, so the generated directory is added to `grpc.__path__` for that one
    subpackage instead of renaming the protos (which would change nothing on the wire but
    would make the stubs differ from every other interop implementation's).
    """
    from grpc_tools import protoc
    import importlib

    import grpc

    files = [
        os.path.join(GRPC_PROTO_DIR, "grpc", "testing", name + ".proto")
        for name in GRPC_TESTING_PROTOS
    ]
    for path in files:
        if not os.path.exists(path):
            raise SystemExit(
                "%s not found: install grpc-proto (make deps) or set GRPC_PROTO" % path
            )
    args = [
        "grpc_tools.protoc",
        "-I" + GRPC_PROTO_DIR,
        "--python_out=" + out_dir,
        "--grpc_python_out=" + out_dir,
    ] + files
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed to generate grpc.testing stubs from %s" % GRPC_PROTO_DIR)
    package_dir = os.path.join(out_dir, "grpc")
    open(os.path.join(package_dir, "testing", "__init__.py"), "a").close()
    if package_dir not in grpc.__path__:
        grpc.__path__.append(package_dir)
    modules = {}
    for name in GRPC_TESTING_PROTOS:
        modules[name + "_pb2"] = importlib.import_module("grpc.testing.%s_pb2" % name)
    modules["test_pb2_grpc"] = importlib.import_module("grpc.testing.test_pb2_grpc")
    return GrpcTesting(modules)
