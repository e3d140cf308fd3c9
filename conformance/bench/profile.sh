#!/usr/bin/env bash
# Where rgrpc's bench-server spends its time under h2load -c 8 -m 32 (helloworld unary):
# perf's software cpu-clock sampler with DWARF call graphs (no hardware counters needed, so
# it works inside VMs), server on core 0, load on core 1. Prints the top symbols by self
# time and by inclusive time. Not part of `make bench`; run it by hand:
#
#   conformance/bench/profile.sh [SECONDS] [H2LOAD_FLAGS...]   (default: 3 -c 8 -m 32)
#
# Needs perf (Debian: linux-perf) and h2load (nghttp2-client); builds the release binaries.
# TOP=N shows N symbols per list (default 15); PERF_DATA=FILE keeps the recording;
# SERVER=h2-ceiling-server profiles the ceiling instead, for comparison.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-3}
shift || true
load=("$@")
[ ${#load[@]} -gt 0 ] || load=(-c 8 -m 32)
for tool in perf:linux-perf h2load:nghttp2-client; do
  command -v "${tool%%:*}" >/dev/null || { echo "needs ${tool%%:*} (apt-get install ${tool#*:})" >&2; exit 1; }
done
${CARGO:-cargo} build --release -q -p rgrpc-conformance --bins
work=$(mktemp -d)
printf '\x00\x00\x00\x00\x07\x0a\x05world' > "$work/hello.bin"
taskset -c 0 "target/release/${SERVER:-bench-server}" --port 0 > "$work/server.out" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do grep -q '^PORT' "$work/server.out" && break; sleep 0.1; done
port=$(awk '/^PORT/ {print $2}' "$work/server.out")
h2l=(h2load -D "$((secs + 2))s" "${load[@]}" -d "$work/hello.bin" -H 'content-type: application/grpc'
     -H 'te: trailers' "http://127.0.0.1:$port/helloworld.Greeter/SayHello")
taskset -c 1 "${h2l[@]}" > "$work/h2load.out" &
loadgen=$!
sleep 1
perf record -q -e cpu-clock -F 999 --call-graph dwarf,32768 -p "$server" -o "$work/perf.data" \
  -- sleep "$secs" 2>/dev/null
wait $loadgen
grep -E 'finished in|requests:' "$work/h2load.out"
# Frames that only wrap others (the runtime, panic guards, thread start-up) fill the top of
# an inclusive list without saying anything; they are left out of it.
wrappers='catch_unwind|panicking|[Hh]arness|UnsafeCell|LocalKey|Scoped|context::|AssertUnwindSafe|0xffffffffffffffff|__rust_begin_short_backtrace|blocking::pool|start_thread|clone3|std::thread|FnOnce|multi_thread::worker|task::core::Core|UnownedTask|runtime::task::raw|block_on|enter_runtime|\[unknown\]|Builder::spawn|thread_start|BlockingTask|coop::|LocalNotified'
report() {
  perf report -i "$work/perf.data" --stdio --sort symbol -g none --percent-limit 0.3 "$@" \
    2>/dev/null | grep -E '^ +[0-9]' | grep -Ev "$wrappers" | head -"$top" | cut -c1-200 || true
}
top=${TOP:-15}
echo "== top symbols by self time (exclusive) =="
report --no-children
echo "== top symbols by inclusive time (children included; runtime wrapper frames left out) =="
report --children
perf script -i "$work/perf.data" -F comm,tid,ip,sym,dso 2>/dev/null \
  | python3 conformance/bench/perf_summary.py
if [ -n "${PERF_DATA:-}" ]; then cp "$work/perf.data" "$PERF_DATA"; fi
