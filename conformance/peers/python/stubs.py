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
