#!/usr/bin/env python3
"""`make bench`: rgrpc against tonic and a raw-h2 ceiling, side by side, into BENCHMARKS.md.

Runs on loopback with every server pinned to one core and every load generator to another
(`taskset`), alternates the stacks round by round and reports medians:

  1. server throughput: h2load sending helloworld unary calls to rgrpc's bench-server,
     tonic's, and h2-ceiling-server, at -c 1 -m 1 and -c 8 -m 32; server CPU per call;
  2. client throughput and latency: bench-client and tonic-bench-client, unary, against
     rgrpc's bench-server, at concurrency 1 and 64;
  3. streaming: server-stream and bidi ping-pong at 64 B, 1 KiB and 64 KiB, rgrpc client to
     rgrpc server against tonic client to tonic server;
  4. memory and allocations: each server's peak RSS under the unary load and its RSS with
     1,000 idle HTTP/2 connections; heap allocations per unary call, server and client
     (rgrpc also with one interceptor installed that lets every call through);
  5. observers: rgrpc's server and client with no observer, the no-op observer and the
     OpenTelemetry adapter (RGRPC_BENCH_OBSERVER=none|noop|otel): throughput and
     allocations per call;
  6. TLS: unary at concurrency 64 and server streaming at 1 KiB, each stack against itself
     over plaintext and over TLS (rustls with ring on both; tonic built with `tls-ring`),
     with gRPC's test certificate.

Settings (environment): BENCH_SECONDS (measured seconds per run, default 5), BENCH_ROUNDS
(default 3), BENCH_WARMUP (seconds, default 1), BENCH_STREAMS (concurrent streams in
section 3, default 8), BENCH_IDLE_CONNECTIONS (default 1000), BENCH_SERVER_CPU and
BENCH_LOAD_CPU (cores, default 0 and 1), BENCH_OUT (default BENCHMARKS.md at the repo root),
BENCH_SKIP_BUILD=1 to use binaries already built.

Python standard library only.
"""

import datetime
import os
import platform
import queue
import re
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TONIC_DIR = ROOT / "conformance" / "tonic-bench"
OURS_BIN = ROOT / "target" / "release"
TONIC_BIN = TONIC_DIR / "target" / "release"

SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
WARMUP = float(os.environ.get("BENCH_WARMUP", "1"))
STREAMS = int(os.environ.get("BENCH_STREAMS", "8"))
IDLE_CONNECTIONS = int(os.environ.get("BENCH_IDLE_CONNECTIONS", "1000"))
SERVER_CPU = os.environ.get("BENCH_SERVER_CPU", "0")
LOAD_CPU = os.environ.get("BENCH_LOAD_CPU", "1")
OUT = Path(os.environ.get("BENCH_OUT", ROOT / "BENCHMARKS.md"))
CARGO = os.environ.get("CARGO", "cargo")

# `HelloRequest { name: "world" }` behind its 5-byte gRPC frame prefix.
HELLO_REQUEST = b"\x00\x00\x00\x00\x07\x0a\x05world"
SAY_HELLO = "/helloworld.Greeter/SayHello"
UNARY_SIZE = 64
STREAM_SIZES = [64, 1024, 65536]
H2LOAD_LOADS = [("-c 1 -m 1", 1, 1), ("-c 8 -m 32", 8, 32)]
CLIENT_CONCURRENCY = [1, 64]

# The exact commands run, with ports shown as <port>, in the order first used.
COMMANDS = []


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def note_command(argv, env=None):
    shown = " ".join(shlex.quote(str(a)) for a in argv)
    if env:
        shown = " ".join(f"{k}={v}" for k, v in env.items()) + " " + shown
    shown = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", shown)
    shown = shown.replace(str(ROOT) + "/", "")
    shown = re.sub(r"/tmp/[^ ]*/hello\.bin", "hello.bin", shown)
    if shown not in COMMANDS:
        COMMANDS.append(shown)


def pinned(cpu, argv):
    return ["taskset", "-c", cpu] + [str(a) for a in argv]


def run(argv, **kwargs):
    return subprocess.run([str(a) for a in argv], check=True, **kwargs)


# --- set-up -------------------------------------------------------------------------------


def ensure_tools():
    missing = [p for p, tool in [("nghttp2-client", "h2load"), ("util-linux", "taskset")]
               if shutil.which(tool) is None]
    if missing:
        log(f"installing {' '.join(missing)}")
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        run(sudo + ["apt-get", "update", "-qq"])
        run(sudo + ["apt-get", "install", "-y", "-qq"] + missing,
            env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"), stdout=subprocess.DEVNULL)
    # 1,000 idle connections need more than the usual 1,024 descriptors on either side.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, min(hard, 4 * IDLE_CONNECTIONS + 1024))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def build():
    if os.environ.get("BENCH_SKIP_BUILD") == "1":
        return
    log("building rgrpc's bench binaries (release)")
    run([CARGO, "build", "--release", "-q", "-p", "rgrpc-conformance", "--bins"], cwd=ROOT)
    log("building tonic's bench binaries (release)")
    run([CARGO, "build", "--release", "-q", "--locked",
         "--manifest-path", TONIC_DIR / "Cargo.toml"], cwd=ROOT)


# --- processes ----------------------------------------------------------------------------


class Server:
    """A bench server pinned to SERVER_CPU; reads its `PORT` and `STATS` lines."""

    def __init__(self, name, binary, count_allocs=False, env=None, extra=()):
        self.name = name
        argv = [binary, "--port", "0"] + (["--count-allocs"] if count_allocs else [])
        argv += list(extra)
        self.scheme = "https" if "--tls" in extra else "http"
        note_command(pinned(SERVER_CPU, argv), env)
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(pinned(SERVER_CPU, argv), stdout=subprocess.PIPE,
                                     stderr=self.stderr, text=True,
                                     env=dict(os.environ, **(env or {})))
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        first = self._line(10)
        if not first.startswith("PORT "):
            raise RuntimeError(f"{name}: expected PORT, got {first!r}{self._stderr()}")
        self.port = int(first.split()[1])
        self.pid = self.proc.pid

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def _line(self, timeout):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            line = None
        if line is None:
            raise RuntimeError(f"{self.name} said nothing{self._stderr()}")
        return line

    def _stderr(self):
        self.stderr.seek(0)
        text = self.stderr.read().decode(errors="replace").strip()
        return f"; stderr: {text[-2000:]}" if text else ""

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    def stats(self):
        """Signals SIGUSR1 and parses the `STATS` line: calls, allocations, alloc_bytes."""
        self.proc.send_signal(signal.SIGUSR1)
        while True:
            line = self._line(10)
            if line.startswith("STATS "):
                return {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}

    def cpu_seconds(self):
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def vm_kib(self, field):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise RuntimeError(f"no {field} for {self.name}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def seconds_arg(secs):
    return f"{int(round(secs * 1000))}ms"


def h2load(addr, clients, streams, body_file, seconds=None, warmup=None):
    """Runs h2load against SayHello; returns (req/s, requests). Fails on any failed call."""
    seconds = SECONDS if seconds is None else seconds
    warmup = WARMUP if warmup is None else warmup
    argv = ["h2load", "-D", seconds_arg(seconds), "--warm-up-time", seconds_arg(warmup),
            "-c", clients, "-m", streams, "-d", body_file,
            "-H", "content-type: application/grpc", "-H", "te: trailers",
            f"http://{addr}{SAY_HELLO}"]
    note_command(pinned(LOAD_CPU, argv))
    out = subprocess.run(pinned(LOAD_CPU, argv), capture_output=True, text=True, check=True).stdout
    rate = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out)
    counts = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, "
                       r"(\d+) failed, (\d+) errored", out)
    if not rate or not counts:
        raise RuntimeError(f"cannot parse h2load output:\n{out}")
    total, done, ok, failed, errored = map(int, counts.groups())
    if failed or errored or ok != done:
        raise RuntimeError(f"h2load saw failures:\n{out}")
    return float(rate.group(1)), ok


def client(binary, addr, mode, concurrency, size, seconds=None, count_allocs=False, env=None,
           scheme="http", extra=()):
    """Runs a bench client; returns its RESULT fields, or {'error': ...} if it failed."""
    seconds = SECONDS if seconds is None else seconds
    argv = [binary, "--addr", f"{scheme}://{addr}", "--mode", mode, "--concurrency",
            concurrency, "--size", size, "--duration", seconds, "--warmup", WARMUP]
    if count_allocs:
        argv.append("--count-allocs")
    argv += list(extra)
    note_command(pinned(LOAD_CPU, argv), env)
    done = subprocess.run(pinned(LOAD_CPU, argv), capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})))
    result = None
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result = dict(kv.split("=", 1) for kv in line.split()[1:])
    if done.returncode != 0 or result is None:
        message = (done.stderr.strip().splitlines() or ["exit status %d" % done.returncode])[0]
        return {"error": message}
    return {k: (v if k in ("stack", "mode") else float(v)) for k, v in result.items()}


# --- statistics and formatting ------------------------------------------------------------


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt_int(v):
    return "—" if v is None else f"{v:,.0f}"


def fmt(v, digits=1):
    return "—" if v is None else f"{v:,.{digits}f}"


def ratio(a, b):
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}×"


def spread(values):
    values = [v for v in values if v is not None]
    if len(values) < 2 or min(values) == 0:
        return ""
    return f" ±{(max(values) - min(values)) / 2 / statistics.median(values) * 100:.0f}%"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# --- the sections -------------------------------------------------------------------------


def server_throughput(servers, body_file, raw):
    """Section 1: h2load against each server, alternating, rotating the order each round."""
    results = {(load, s.name): {"rps": [], "cpu_us": [], "util": []}
               for load, _, _ in H2LOAD_LOADS for s in servers}
    for r in range(ROUNDS):
        order = servers[r % len(servers):] + servers[:r % len(servers)]
        for load, clients, streams in H2LOAD_LOADS:
            for server in order:
                before_calls, before_cpu = server.stats()["calls"], server.cpu_seconds()
                started = time.monotonic()
                rps, _ = h2load(server.addr, clients, streams, body_file)
                wall = time.monotonic() - started
                calls = server.stats()["calls"] - before_calls
                cpu = server.cpu_seconds() - before_cpu
                cell = results[(load, server.name)]
                cell["rps"].append(rps)
                cell["cpu_us"].append(cpu / calls * 1e6 if calls else None)
                cell["util"].append(cpu / wall * 100)
                raw.append(f"1 | round {r + 1} | {load} | {server.name} | {rps:,.0f} req/s | "
                           f"{cell['cpu_us'][-1] or 0:.2f} µs CPU/call | "
                           f"{cell['util'][-1]:.0f}% CPU")
                log(f"h2load {load} → {server.name}: {rps:,.0f} req/s")
    return results


def client_throughput(target, raw):
    """Section 2: both clients against rgrpc's server, alternating."""
    clients = [("rgrpc", OURS_BIN / "bench-client"), ("tonic", TONIC_BIN / "tonic-bench-client")]
    results = {(c, name): [] for c in CLIENT_CONCURRENCY for name, _ in clients}
    for r in range(ROUNDS):
        order = clients if r % 2 == 0 else clients[::-1]
        for concurrency in CLIENT_CONCURRENCY:
            for name, binary in order:
                res = client(binary, target.addr, "unary", concurrency, UNARY_SIZE)
                results[(concurrency, name)].append(res)
                raw.append(f"2 | round {r + 1} | unary c={concurrency} | {name} client | "
                           + describe(res, "call"))
                log(f"{name} client unary c={concurrency}: {describe(res, 'call')}")
    return results


def streaming(ours, theirs, raw):
    """Section 3: rgrpc→rgrpc against tonic→tonic, alternating."""
    pairs = [("rgrpc", OURS_BIN / "bench-client", ours),
             ("tonic", TONIC_BIN / "tonic-bench-client", theirs)]
    modes = ["server-stream", "bidi"]
    results = {(m, s, name): [] for m in modes for s in STREAM_SIZES for name, _, _ in pairs}
    for r in range(ROUNDS):
        order = pairs if r % 2 == 0 else pairs[::-1]
        for mode in modes:
            for size in STREAM_SIZES:
                for name, binary, server in order:
                    res = client(binary, server.addr, mode, STREAMS, size)
                    results[(mode, size, name)].append(res)
                    raw.append(f"3 | round {r + 1} | {mode} {size} B | {name}→{name} | "
                               + describe(res, "msg"))
                    log(f"{name} {mode} {size} B: {describe(res, 'msg')}")
    return results


def describe(res, op):
    if "error" in res:
        return f"FAILED: {res['error']}"
    text = f"{res['calls_per_sec']:,.0f} calls/s, {res['msgs_per_sec']:,.0f} msgs/s, " \
           f"{res['mb_per_sec']:,.1f} MB/s"
    if "p50_us" in res:
        text += f", p50 {res['p50_us']} µs, p99 {res['p99_us']} µs, p99.9 {res['p999_us']} µs"
    if f"cpu_us_per_{op}" in res:
        text += f", {res[f'cpu_us_per_{op}']} µs CPU/{op}"
    if f"allocs_per_{op}" in res:
        text += f", {res[f'allocs_per_{op}']} allocs/{op}"
    return text


def memory(binaries, body_file, raw):
    """Section 4: fresh servers; RSS, peak RSS under unary load, idle connections, allocs."""
    results = {}
    idle_binary = OURS_BIN / "bench-idle-connections"
    for name, binary, *extra in binaries:
        extra = extra[0] if extra else ()
        cell = {}
        # Under load, counting allocations; h2load at the heavier setting.
        server = Server(name, binary, count_allocs=True, extra=extra)
        try:
            time.sleep(0.2)
            cell["rss_start"] = server.vm_kib("VmRSS")
            before = server.stats()
            h2load(server.addr, 8, 32, body_file)
            after = server.stats()
            calls = after["calls"] - before["calls"]
            cell["allocs"] = (after["allocations"] - before["allocations"]) / calls
            cell["alloc_bytes"] = (after["alloc_bytes"] - before["alloc_bytes"]) / calls
            cell["hwm_load"] = server.vm_kib("VmHWM")
        finally:
            server.stop()
        # Idle connections, on another fresh server.
        server = Server(name, binary, extra=extra)
        try:
            time.sleep(0.2)
            base = server.vm_kib("VmRSS")
            argv = [idle_binary, "--addr", server.addr, "--count", IDLE_CONNECTIONS, "--hold", 60]
            note_command(pinned(LOAD_CPU, argv))
            idle = subprocess.Popen(pinned(LOAD_CPU, argv), stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            ready = idle.stdout.readline()
            if not ready.startswith("READY"):
                raise RuntimeError(f"idle connections: {ready!r} {idle.stderr.read()}")
            time.sleep(0.5)
            cell["rss_idle"] = server.vm_kib("VmRSS")
            cell["per_conn"] = (cell["rss_idle"] - base) / IDLE_CONNECTIONS
            idle.stdin.close()
            idle.wait(timeout=30)
        finally:
            server.stop()
        results[name] = cell
        raw.append(f"4 | {name} | RSS at start {cell['rss_start']} KiB | peak under load "
                   f"{cell['hwm_load']} KiB | {cell['allocs']:.2f} allocs/call | "
                   f"{cell['alloc_bytes']:.0f} B/call | RSS with {IDLE_CONNECTIONS} idle "
                   f"connections {cell['rss_idle']} KiB")
        log(f"{name}: {cell['allocs']:.2f} allocs/call, peak {cell['hwm_load']} KiB, "
            f"{cell['per_conn']:.1f} KiB per idle connection")
    return results


def client_allocations(target, raw):
    """Allocations per call of each client (separate runs: counting costs a little)."""
    results = {}
    for name, binary, extra in CLIENT_ALLOC_VARIANTS:
        for concurrency in CLIENT_CONCURRENCY:
            res = client(binary, target.addr, "unary", concurrency, UNARY_SIZE,
                         seconds=min(SECONDS, 2), count_allocs=True, extra=extra)
            results[(name, concurrency)] = res
            raw.append(f"4 | {name} client | unary c={concurrency} | " + describe(res, "call"))
    return results


OBSERVERS = ["none", "noop", "otel"]


def observers(target, body_file, raw):
    """Section 5: rgrpc's server and client with no observer, the no-op observer and the
    OpenTelemetry adapter (RGRPC_BENCH_OBSERVER), alternating each round. Allocations are
    counted in every run here, so the three are measured alike."""
    servers = []
    results = {}
    try:
        for choice in OBSERVERS:
            servers.append(Server(f"rgrpc/{choice}", OURS_BIN / "bench-server",
                                  count_allocs=True, env={"RGRPC_BENCH_OBSERVER": choice}))
            results[("server", choice)] = {"rps": [], "allocs": []}
            results[("client", choice)] = {"rps": [], "allocs": []}
        for r in range(ROUNDS):
            order = servers[r % len(servers):] + servers[:r % len(servers)]
            for server in order:
                choice = server.name.split("/")[1]
                before = server.stats()
                rps, _ = h2load(server.addr, 8, 32, body_file)
                after = server.stats()
                calls = after["calls"] - before["calls"]
                allocs = (after["allocations"] - before["allocations"]) / calls
                cell = results[("server", choice)]
                cell["rps"].append(rps)
                cell["allocs"].append(allocs)
                raw.append(f"5 | round {r + 1} | server observer={choice} | {rps:,.0f} req/s | "
                           f"{allocs:.2f} allocs/call")
                log(f"server observer={choice}: {rps:,.0f} req/s, {allocs:.2f} allocs/call")
            for choice in OBSERVERS[r % 3:] + OBSERVERS[:r % 3]:
                res = client(OURS_BIN / "bench-client", target.addr, "unary", 64, UNARY_SIZE,
                             count_allocs=True, env={"RGRPC_BENCH_OBSERVER": choice})
                cell = results[("client", choice)]
                if "error" in res:
                    cell["error"] = res["error"]
                    continue
                cell["rps"].append(res["calls_per_sec"])
                cell["allocs"].append(res.get("allocs_per_call"))
                raw.append(f"5 | round {r + 1} | client observer={choice} | "
                           + describe(res, "call"))
                log(f"client observer={choice}: {res['calls_per_sec']:,.0f} calls/s")
    finally:
        for server in servers:
            server.stop()
    return results


TLS_LOADS = [("unary", 64, UNARY_SIZE, "call"), ("server-stream", STREAMS, 1024, "msg")]


def tls_section(servers, raw):
    """Section 6: each stack against itself over plaintext and TLS, alternating."""
    runs = [("rgrpc", "plaintext", OURS_BIN / "bench-client", servers["rgrpc"]),
            ("rgrpc", "TLS", OURS_BIN / "bench-client", servers["rgrpc TLS"]),
            ("tonic", "plaintext", TONIC_BIN / "tonic-bench-client", servers["tonic"]),
            ("tonic", "TLS", TONIC_BIN / "tonic-bench-client", servers["tonic TLS"])]
    results = {(mode, stack, transport): [] for mode, _, _, _ in TLS_LOADS
               for stack, transport, _, _ in runs}
    for r in range(ROUNDS):
        order = runs[r % len(runs):] + runs[:r % len(runs)]
        for mode, concurrency, size, op in TLS_LOADS:
            for stack, transport, binary, server in order:
                res = client(binary, server.addr, mode, concurrency, size, scheme=server.scheme)
                results[(mode, stack, transport)].append(res)
                raw.append(f"6 | round {r + 1} | {mode} c={concurrency} {size} B | {stack} "
                           f"{transport} | " + describe(res, op))
                log(f"{stack} {transport} {mode}: {describe(res, op)}")
    return results


CLIENT_ALLOC_VARIANTS = [
    ("rgrpc", OURS_BIN / "bench-client", ()),
    ("rgrpc + ready interceptor", OURS_BIN / "bench-client", ("--interceptor",)),
    ("tonic", TONIC_BIN / "tonic-bench-client", ()),
]


# --- the report ---------------------------------------------------------------------------


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    h2load_version = subprocess.run(["h2load", "--version"], capture_output=True,
                                    text=True).stdout.strip().splitlines()[0]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "model": model,
        "kernel": platform.release(),
        "rustc": rustc,
        "h2load": h2load_version,
        "commit": commit + (" with uncommitted changes" if dirty else ""),
        "tonic": locked_version(TONIC_DIR / "Cargo.lock", "tonic"),
        "h2_ours": locked_version(ROOT / "Cargo.lock", "h2"),
        "h2_tonic": locked_version(TONIC_DIR / "Cargo.lock", "h2"),
        "hyper": locked_version(TONIC_DIR / "Cargo.lock", "hyper"),
    }


def locked_version(lock, package):
    text = Path(lock).read_text()
    found = re.search(r'name = "%s"\nversion = "([^"]+)"' % re.escape(package), text)
    return found.group(1) if found else "?"


def pick(runs, key):
    """Median of `key` over successful runs; None if any run failed."""
    if not runs or any("error" in r for r in runs):
        return None
    return median([r.get(key) for r in runs])


def failure(runs):
    for r in runs:
        if "error" in r:
            return r["error"]
    return None


def report(info, started, finished, loads, s1, s2, s3, s4, s4_clients, s5, s6, raw):
    out = []
    add = out.append
    add("# Benchmarks: rgrpc, tonic and the raw-h2 ceiling\n")
    add(f"Generated by `make bench` (`conformance/bench/run.py`) on "
        f"{started:%Y-%m-%d %H:%M} UTC, in {(finished - started).seconds // 60} min "
        f"{(finished - started).seconds % 60} s. Do not edit by hand: rerun it.\n")
    add("| | |\n| --- | --- |")
    add(f"| machine | {info['nproc']} × {info['model']}, Linux {info['kernel']} |")
    add(f"| toolchain | {info['rustc']} |")
    add(f"| rgrpc | commit {info['commit']}, h2 {info['h2_ours']} |")
    add(f"| tonic | tonic {info['tonic']} + tonic-prost, hyper {info['hyper']}, "
        f"h2 {info['h2_tonic']} (`conformance/tonic-bench`, its own Cargo.lock) |")
    add(f"| load generator | {info['h2load']} |")
    add(f"| method | rounds: {ROUNDS}, the stacks alternating within each round; medians "
        f"(± is half the min–max spread as a share of the median); {SECONDS:g} s measured "
        f"after {WARMUP:g} s warm-up per run; loopback; servers on core {SERVER_CPU}, load "
        f"on core {LOAD_CPU} (`taskset`); 1 tokio worker thread everywhere; each stack "
        f"with its default HTTP/2 settings (rgrpc: 1 MiB stream / 2 MiB connection windows "
        f"on the server, 2 MiB / 5 MiB on the client, 64 KiB max frame size both ways; "
        f"tonic: hyper's 1 MiB / 1 MiB server, 2 MiB / 5 MiB client, 16 KiB frames) |")
    add(f"| load average | {loads[0]} at the start, {loads[1]} at the end (anything else "
        f"running on these 2 cores skews the figures) |\n")

    add("## 1. Server throughput\n")
    add("`h2load` sends `helloworld.Greeter/SayHello` (a pre-encoded `HelloRequest`) to each "
        "server: rgrpc's `bench-server`, tonic's `tonic-bench-server`, and "
        "`h2-ceiling-server`, which answers every request from h2 directly with a "
        "precomputed reply (no routing, no decoding, no task per call): what a gRPC server on "
        "h2 could at best do. CPU per call is the server's user+system time over the calls it "
        "counted; CPU use near 100% means the server, not the load generator, was the "
        "limit.\n")
    rows = []
    for load, _, _ in H2LOAD_LOADS:
        get = lambda name, k: median(s1[(load, name)][k])
        rows.append([f"`{load}`"]
                    + [fmt_int(get(n, "rps")) + spread(s1[(load, n)]["rps"])
                       for n in ("rgrpc", "tonic", "h2 ceiling")]
                    + [ratio(get("rgrpc", "rps"), get("tonic", "rps")),
                       ratio(get("rgrpc", "rps"), get("h2 ceiling", "rps")),
                       ratio(get("tonic", "rps"), get("h2 ceiling", "rps"))])
    add(table(["load", "rgrpc req/s", "tonic req/s", "h2 ceiling req/s", "rgrpc / tonic",
               "rgrpc / ceiling", "tonic / ceiling"], rows) + "\n")
    rows = []
    for load, _, _ in H2LOAD_LOADS:
        get = lambda name, k: median(s1[(load, name)][k])
        rows.append([f"`{load}`"]
                    + [f"{fmt(get(n, 'cpu_us'), 2)} ({fmt(get(n, 'util'), 0)}%)"
                       for n in ("rgrpc", "tonic", "h2 ceiling")]
                    + [ratio(get("rgrpc", "cpu_us"), get("tonic", "cpu_us")),
                       ratio(get("rgrpc", "cpu_us"), get("h2 ceiling", "cpu_us"))])
    add(table(["load", "rgrpc CPU µs/call (CPU use)", "tonic CPU µs/call (CPU use)",
               "h2 ceiling CPU µs/call (CPU use)", "rgrpc / tonic", "rgrpc / ceiling"], rows)
        + "\n")

    add("## 2. Client throughput and latency\n")
    add(f"Unary `bench.Bench/Unary` with a {UNARY_SIZE} B payload, each client against "
        "the same server: rgrpc's `bench-server` (so the server side is identical and the "
        "difference is the client). One connection, one tokio worker. Client CPU per call "
        "is the client process's user+system time in the measured window: it compares the "
        "clients even where the shared server is what limits calls/s.\n")
    rows = []
    for c in CLIENT_CONCURRENCY:
        for name in ("rgrpc", "tonic"):
            runs = s2[(c, name)]
            err = failure(runs)
            if err:
                rows.append([c, name, f"failed: {err}", "", "", "", "", ""])
                continue
            rate = pick(runs, "calls_per_sec")
            other = pick(s2[(c, "tonic")], "calls_per_sec")
            rows.append([c, name,
                         fmt_int(rate) + spread([r["calls_per_sec"] for r in runs]),
                         ratio(rate, other) if name == "rgrpc" else "",
                         fmt(pick(runs, "p50_us")), fmt(pick(runs, "p99_us")),
                         fmt(pick(runs, "p999_us")), fmt(pick(runs, "cpu_us_per_call"), 2)])
    add(table(["concurrency", "client", "calls/s", "vs tonic", "p50 µs", "p99 µs",
               "p99.9 µs", "client CPU µs/call"], rows) + "\n")

    add("## 3. Streaming\n")
    add(f"Each stack against itself: rgrpc client → rgrpc server, tonic client → tonic "
        f"server; {STREAMS} concurrent streams on one connection. `server-stream`: calls of "
        "about 4 MiB worth of messages (at least 64), back to back; `bidi`: one stream per "
        "task used ping-pong (send one message, wait for its echo), so it is bound by round "
        "trips. msgs/s and MB/s count payloads received by the client.\n")
    rows = []
    notes = []
    for mode in ("server-stream", "bidi"):
        for size in STREAM_SIZES:
            row = [mode, f"{size:,} B"]
            figures = {}
            for name in ("rgrpc", "tonic"):
                runs = s3[(mode, size, name)]
                err = failure(runs)
                if err:
                    notes.append(f"{name} {mode} {size} B failed: `{err}`")
                    row += [f"fails [{len(notes)}]", "—"]
                    figures[name] = None
                else:
                    figures[name] = pick(runs, "msgs_per_sec")
                    row += [fmt_int(figures[name]) + spread([r["msgs_per_sec"] for r in runs]),
                            fmt(pick(runs, "mb_per_sec"))]
            row.append(ratio(figures["rgrpc"], figures["tonic"]))
            rows.append(row)
    add(table(["mode", "payload", "rgrpc msgs/s", "rgrpc MB/s", "tonic msgs/s",
               "tonic MB/s", "rgrpc / tonic"], rows) + "\n")
    for i, n in enumerate(notes, 1):
        add(f"[{i}] {n}\n")

    add("## 4. Memory and allocations\n")
    add(f"Each server freshly started for this section. Peak RSS is `VmHWM` after one "
        f"`h2load -c 8 -m 32` run as in section 1 ({SECONDS:g} s + {WARMUP:g} s warm-up); "
        f"allocations per call come from a counting global allocator (relaxed atomics, on "
        f"only in these runs) over that run, divided by the calls the server handled. Idle "
        f"connections: {IDLE_CONNECTIONS:,} HTTP/2 connections (handshake and one PING "
        f"each, then nothing) held open to another fresh server by "
        f"`bench-idle-connections`; KiB per connection is the RSS growth over that.\n")
    rows = []
    for name in ("rgrpc", "rgrpc + ready interceptor", "tonic", "h2 ceiling"):
        cell = s4[name]
        rows.append([name, fmt(cell["rss_start"] / 1024), fmt(cell["hwm_load"] / 1024),
                     fmt(cell["rss_idle"] / 1024), fmt(cell["per_conn"]),
                     fmt(cell["allocs"], 2), fmt_int(cell["alloc_bytes"])])
    add(table(["server", "RSS at start MiB", "peak RSS under unary load MiB",
               f"RSS with {IDLE_CONNECTIONS:,} idle connections MiB",
               "KiB per idle connection", "allocations per call", "bytes allocated per call"],
              rows) + "\n")
    add(f"Client allocations per unary call ({UNARY_SIZE} B payload, against rgrpc's "
        "server; includes the request's payload copy, one allocation, that both clients "
        "make):\n")
    rows = []
    for name, _, _ in CLIENT_ALLOC_VARIANTS:
        row = [name]
        for c in CLIENT_CONCURRENCY:
            res = s4_clients[(name, c)]
            row += ["failed" if "error" in res else fmt(res.get("allocs_per_call"), 2),
                    "failed" if "error" in res else fmt_int(res.get("alloc_bytes_per_call"))]
        rows.append(row)
    header = ["client"]
    for c in CLIENT_CONCURRENCY:
        header += [f"allocs/call at c={c}", f"bytes/call at c={c}"]
    add(table(header, rows) + "\n")

    add("## 5. Observers\n")
    add(f"rgrpc's server and client with no observer (`RGRPC_BENCH_OBSERVER=none`, the "
        f"default everywhere above), the no-op observer (`noop`: the hook itself), and "
        f"`rgrpc-otel`'s gRFC A66 and semantic-convention metrics on an OpenTelemetry SDK "
        f"meter provider (`otel`; aggregated, exported hourly, so never during the run). "
        f"Server: `h2load -c 8 -m 32`, {ROUNDS} rounds alternating the three servers; client: "
        f"`bench-client --mode unary --concurrency 64` against rgrpc's server (no observer). "
        f"Allocations are counted in every run of this section, all three alike, so its "
        f"req/s are a little under section 1's. Medians of {ROUNDS} rounds.\n")
    rows = []
    base = {side: median(s5[(side, "none")]["rps"]) for side in ("server", "client")}
    for side in ("server", "client"):
        for choice in OBSERVERS:
            cell = s5[(side, choice)]
            if cell.get("error"):
                rows.append([side, choice, "failed", "", "", ""])
                continue
            rps = median(cell["rps"])
            rows.append([side, choice, fmt_int(rps),
                         fmt(rps / base[side], 2) if base[side] else "",
                         fmt(median(cell["allocs"]), 2),
                         fmt(cell["allocs"][0], 2) if cell["allocs"] else ""])
    add(table(["side", "observer", "calls/s", "vs none", "allocations per call (median)",
               "allocations per call (round 1)"], rows) + "\n")

    add("## 6. TLS\n")
    add("Each stack against itself (rgrpc client → rgrpc server, tonic client → tonic "
        "server) over plaintext and over TLS: rustls 0.23 with the ring provider on both "
        "(tonic built with its `tls-ring` feature), gRPC's test certificate "
        "(`conformance/testdata/server1.pem`, ECDSA P-256), the name verified as "
        "`foo.test.google.fr`. One connection, so the handshake happens once per run. "
        f"Unary: {UNARY_SIZE} B payloads at concurrency 64; server streaming: 1 KiB messages "
        f"on {STREAMS} concurrent streams.\n")
    rows = []
    for mode, concurrency, size, op in TLS_LOADS:
        key = "calls_per_sec" if op == "call" else "msgs_per_sec"
        cells = {}
        row = [f"{mode} c={concurrency}, {size:,} B"]
        for stack in ("rgrpc", "tonic"):
            for transport in ("plaintext", "TLS"):
                runs = s6[(mode, stack, transport)]
                err = failure(runs)
                cells[(stack, transport)] = None if err else pick(runs, key)
                row.append(f"failed: {err}" if err else
                           fmt_int(cells[(stack, transport)])
                           + spread([r[key] for r in runs]))
        row += [ratio(cells[("rgrpc", "TLS")], cells[("tonic", "TLS")]),
                ratio(cells[("rgrpc", "TLS")], cells[("rgrpc", "plaintext")]),
                ratio(cells[("tonic", "TLS")], cells[("tonic", "plaintext")])]
        rows.append(row)
    add(table(["load (per second)", "rgrpc plaintext", "rgrpc TLS", "tonic plaintext",
               "tonic TLS", "rgrpc / tonic over TLS", "rgrpc TLS / plaintext",
               "tonic TLS / plaintext"], rows) + "\n")

    add("## Commands\n")
    add("Exactly what ran (`<port>` is the port the server printed):\n")
    add("```sh\n" + "\n".join(COMMANDS) + "\n```\n")
    add("## Every run\n")
    add("<details><summary>Per-run figures (section | round | what | result)</summary>\n")
    add("```\n" + "\n".join(raw) + "\n```\n</details>\n")
    return "\n".join(out)


def main():
    os.chdir(ROOT)
    started = datetime.datetime.now(datetime.timezone.utc)
    load_start = open("/proc/loadavg").read().split()[0]
    ensure_tools()
    build()
    info = machine()
    workdir = tempfile.mkdtemp(prefix="rgrpc-bench-")
    body_file = Path(workdir) / "hello.bin"
    body_file.write_bytes(HELLO_REQUEST)
    raw = []
    server_binaries = [("rgrpc", OURS_BIN / "bench-server"),
                       ("tonic", TONIC_BIN / "tonic-bench-server"),
                       ("h2 ceiling", OURS_BIN / "h2-ceiling-server")]
    servers = []
    try:
        for name, binary in server_binaries:
            servers.append(Server(name, binary))
        ours, theirs = servers[0], servers[1]
        log("1. server throughput (h2load)")
        s1 = server_throughput(servers, body_file, raw)
        log("2. client throughput and latency")
        s2 = client_throughput(ours, raw)
        log("3. streaming")
        s3 = streaming(ours, theirs, raw)
        log("4b. client allocations")
        s4_clients = client_allocations(ours, raw)
        log("5. observers")
        s5 = observers(ours, body_file, raw)
    finally:
        for server in servers:
            server.stop()
    log("6. TLS")
    tls_servers = {}
    try:
        tls_servers["rgrpc TLS"] = Server("rgrpc TLS", OURS_BIN / "bench-server", extra=["--tls"])
        tls_servers["tonic TLS"] = Server("tonic TLS", TONIC_BIN / "tonic-bench-server",
                                          extra=["--tls"])
        tls_servers["rgrpc"] = Server("rgrpc", OURS_BIN / "bench-server")
        tls_servers["tonic"] = Server("tonic", TONIC_BIN / "tonic-bench-server")
        s6 = tls_section(tls_servers, raw)
    finally:
        for server in tls_servers.values():
            server.stop()
    log("4. memory and server allocations")
    s4 = memory(server_binaries + [("rgrpc + ready interceptor", OURS_BIN / "bench-server",
                                    ["--interceptor"])], body_file, raw)
    finished = datetime.datetime.now(datetime.timezone.utc)
    loads = (load_start, open("/proc/loadavg").read().split()[0])
    OUT.write_text(report(info, started, finished, loads, s1, s2, s3, s4, s4_clients, s5, s6,
                          raw))
    shutil.rmtree(workdir, ignore_errors=True)
    log(f"wrote {OUT}")


if __name__ == "__main__":
    try:
        main()
    except (RuntimeError, subprocess.CalledProcessError) as e:
        print(f"bench failed: {e}", file=sys.stderr)
        sys.exit(1)
