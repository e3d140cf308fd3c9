"""What the grpcio interop server and client share: constants from the interop spec
(grpc/grpc doc/interop-test-descriptions.md), flag parsing, and how compressed messages are
told apart from uncompressed ones."""

import argparse
import os
import gzip

REQUEST_SIZES = (27182, 8, 1828, 45904)
RESPONSE_SIZES = (31415, 9, 2653, 58979)
LARGE_REQUEST_SIZE = 271828
LARGE_RESPONSE_SIZE = 314159
ECHO_INITIAL_KEY = "x-grpc-test-echo-initial"
ECHO_TRAILING_KEY = "x-grpc-test-echo-trailing-bin"

# C-core channel arguments. With per-message decompression off, C-core hands the application
# each message exactly as it arrived, so a compressed message reaches the (de)serializer still
# compressed: that is the only way grpcio code can see the message's compressed flag, which
# the compression cases are about. The bitset (bit i = algorithm i: 0 identity, 1 deflate,
# 2 gzip) limits what C-core accepts and advertises to identity and gzip, the only algorithm
# `decoder` below can undo.
RAW_MESSAGE_OPTIONS = [
    ("grpc.per_message_decompression", 0),
    ("grpc.compression_enabled_algorithms_bitset", 0b101),
]

_GZIP_MAGIC = b"\x1f\x8b"


class Inbound(object):
    """A received message and whether it arrived compressed."""

    __slots__ = ("message", "compressed")

    def __init__(self, message, compressed):
        self.message = message
        self.compressed = compressed


def decoder(message_class):
    """A deserializer for messages received with RAW_MESSAGE_OPTIONS, returning Inbound.

    A serialized protobuf message never starts with 0x1f (field 3 with wire type 7, which
    does not exist), so gzip's magic number tells a compressed message from an uncompressed
    one without access to the frame's flag byte.
    """

    def decode(raw):
        compressed = raw[:2] == _GZIP_MAGIC
        if compressed:
            raw = gzip.decompress(raw)
        return Inbound(message_class.FromString(raw), compressed)

    return decode


def parse_bool(value):
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise argparse.ArgumentTypeError("expected true or false, got %r" % value)


def add_bool_flag(parser, name, help_text):
    # `--use_tls` alone means true, as in the other interop programs.
    parser.add_argument(
        "--" + name, type=parse_bool, nargs="?", const=True, default=False, help=help_text
    )


def testdata(name):
    """A file of gRPC's standard interop test credentials in conformance/testdata/."""
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(here, "..", "..", "testdata", name)
