#!/usr/bin/env bash
# Interop between rgrpc and gRPC C-core (Python grpcio), both directions, every case of
# grpc/grpc doc/interop-test-descriptions.md that the clients implement, over plaintext and
# over TLS (gRPC's standard test credentials, conformance/testdata/, with
# --use_test_ca --server_host_override=foo.test.google.fr as interop runners pass them):
#
#   rgrpc-client  -> grpcio-server   (target/debug/interop-client, peers/python/interop_server.py)
#   grpcio-client -> rgrpc-server    (peers/python/interop_client.py, target/debug/interop-server)
#
# Prints one `PASS|FAIL <client> -> <server> <case>` line per run (` (tls)` after the case for
# TLS runs; a failure is followed by the client's output, indented), then `N passed, M
# failed`; exits 1 if anything failed. TRANSPORTS ("plaintext tls") narrows it.
# Both servers listen on free loopback ports and are killed on exit; every client run is
# bounded by CASE_TIMEOUT seconds.
#
# Environment: CARGO (cargo), PYTHON (conformance/.venv/bin/python, from `make venv`),
# CASE_TIMEOUT (60), CASES (space-separated subset of the cases below), CARGO_TARGET_DIR.
set -uo pipefail
cd "$(dirname "$0")/.."

CARGO=${CARGO:-cargo}
PYTHON=${PYTHON:-conformance/.venv/bin/python}
CASE_TIMEOUT=${CASE_TIMEOUT:-60}
BIN_DIR=${CARGO_TARGET_DIR:-target}/debug
PEERS=conformance/peers/python

# The spec's cases, in its order (as in interop::client::TestCase and interop_client.py).
ALL_CASES="empty_unary cacheable_unary large_unary client_compressed_unary
server_compressed_unary client_streaming client_compressed_streaming server_streaming
server_compressed_streaming ping_pong empty_stream cancel_after_begin
cancel_after_first_response timeout_on_sleeping_server custom_metadata
status_code_and_message special_status_message unimplemented_method unimplemented_service
rpc_soak channel_soak"
CASES=${CASES:-$ALL_CASES}
TRANSPORTS=${TRANSPORTS:-plaintext tls}
TLS_CLIENT_FLAGS="--use_tls=true --use_test_ca=true --server_host_override=foo.test.google.fr"

if [ ! -x "$PYTHON" ]; then
  echo "run-interop: no Python with grpcio at $PYTHON: run \`make venv\` or set PYTHON" >&2
  exit 1
fi
echo "building interop-server and interop-client"
"$CARGO" build -q -p rgrpc-conformance --bin interop-server --bin interop-client || exit 1

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rgrpc-interop.XXXXXX")
server_pids=()
cleanup() {
  for pid in "${server_pids[@]}"; do
    kill "$pid" 2>/dev/null
  done
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server NAME CMD...: runs CMD in the background and waits (up to 30 s) for its
# `PORT <n>` line; sets $port.
start_server() {
  local name=$1
  shift
  # Created first, so polling never races the background shell's redirection.
  : >"$tmp/$name.out"
  : >"$tmp/$name.err"
  "$@" >>"$tmp/$name.out" 2>>"$tmp/$name.err" </dev/null &
  local pid=$!
  server_pids+=("$pid")
  local waited=0
  port=""
  while [ $waited -lt 300 ]; do
    port=$(sed -n 's/^PORT \([0-9][0-9]*\)$/\1/p' "$tmp/$name.out" | head -n 1)
    [ -n "$port" ] && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  echo "run-interop: $name did not start:" >&2
  sed 's/^/    /' "$tmp/$name.err" >&2
  exit 1
}

start_server rgrpc-server "$BIN_DIR/interop-server" --port=0 --host=127.0.0.1
rgrpc_port=$port
start_server grpcio-server "$PYTHON" "$PEERS/interop_server.py" --port=0 --host=127.0.0.1 \
  --lifetime=3600
grpcio_port=$port
echo "rgrpc-server on 127.0.0.1:$rgrpc_port, grpcio-server on 127.0.0.1:$grpcio_port"
case " $TRANSPORTS " in
*" tls "*)
  start_server rgrpc-server-tls "$BIN_DIR/interop-server" --port=0 --host=127.0.0.1 \
    --use_tls=true
  rgrpc_tls_port=$port
  start_server grpcio-server-tls "$PYTHON" "$PEERS/interop_server.py" --port=0 \
    --host=127.0.0.1 --lifetime=3600 --use_tls=true
  grpcio_tls_port=$port
  echo "over TLS: rgrpc-server on 127.0.0.1:$rgrpc_tls_port, grpcio-server on" \
    "127.0.0.1:$grpcio_tls_port"
  ;;
esac

passed=0
failed=0
# run_case CLIENT SERVER CASE CMD...
run_case() {
  local client=$1 server=$2 case=$3
  shift 3
  local log="$tmp/case.log"
  timeout -k 5 "$CASE_TIMEOUT" "$@" >"$log" 2>&1 </dev/null
  local status=$?
  if [ $status -eq 0 ]; then
    passed=$((passed + 1))
    echo "PASS $client -> $server $case"
  else
    failed=$((failed + 1))
    echo "FAIL $client -> $server $case"
    if [ $status -eq 124 ]; then
      echo "    (timed out after $CASE_TIMEOUT s)"
    fi
    tail -n 20 "$log" | sed 's/^/    /'
  fi
}

for transport in $TRANSPORTS; do
  for case in $CASES; do
    if [ "$transport" = tls ]; then
      # shellcheck disable=SC2086 # the flags are words
      run_case rgrpc-client grpcio-server "$case (tls)" \
        "$BIN_DIR/interop-client" --server_host=127.0.0.1 --server_port="$grpcio_tls_port" \
        --test_case="$case" $TLS_CLIENT_FLAGS
      # shellcheck disable=SC2086
      run_case grpcio-client rgrpc-server "$case (tls)" \
        "$PYTHON" "$PEERS/interop_client.py" --server_host=127.0.0.1 \
        --server_port="$rgrpc_tls_port" --test_case="$case" $TLS_CLIENT_FLAGS
    else
      run_case rgrpc-client grpcio-server "$case" \
        "$BIN_DIR/interop-client" --server_host=127.0.0.1 --server_port="$grpcio_port" \
        --test_case="$case" --use_tls=false
      run_case grpcio-client rgrpc-server "$case" \
        "$PYTHON" "$PEERS/interop_client.py" --server_host=127.0.0.1 --server_port="$rgrpc_port" \
        --test_case="$case" --use_tls=false
    fi
  done
done

if [ $failed -ne 0 ]; then
  for name in rgrpc-server grpcio-server rgrpc-server-tls grpcio-server-tls; do
    if [ -s "$tmp/$name.err" ]; then
      echo "$name stderr (last 20 lines):"
      tail -n 20 "$tmp/$name.err" | sed 's/^/    /'
    fi
  done
fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
