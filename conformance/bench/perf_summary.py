#!/usr/bin/env python3
"""Summarises `perf script -F comm,tid,ip,sym,dso` output (DWARF call graphs) for profile.sh.

Prints: where samples land by component (the leaf frame's crate or library), the callers
of memmove/memcpy (big copies hide in struct moves), and inclusive time per rgrpc_runtime
function (each function counted once per sample). Standard library only.
"""

import collections
import re
import sys

COMPONENTS = [
    ("kernel (syscalls, TCP)", re.compile(r"\[kernel|kallsyms")),
    ("memmove/memcpy", re.compile(r"__mem(move|cpy)|memcpy")),
    ("malloc/free", re.compile(r"malloc|_int_free|free\b|cfree|memalign|realloc|CountingAlloc")),
    ("rgrpc_runtime", re.compile(r"rgrpc_runtime::|rgrpc_conformance|rgrpc_examples")),
    ("h2 (incl. hpack)", re.compile(r"\bh2::")),
    ("http (HeaderMap etc.)", re.compile(r"\bhttp::")),
    ("bytes", re.compile(r"\bbytes::")),
    ("protobuf", re.compile(r"\bprotobuf::")),
    ("tokio", re.compile(r"\btokio(_util)?::")),
]


def samples(lines):
    frames = []
    for line in lines:
        if not line.strip():
            if frames:
                yield frames
            frames = []
        elif line.startswith(("\t", " ")) and re.match(r"\s+[0-9a-f]+ ", line):
            parts = line.strip().split(" ", 1)
            frames.append(parts[1] if len(parts) > 1 else "?")
    if frames:
        yield frames


def component(frames):
    """The component of the innermost frame that belongs to one: inlined `core::`/`alloc::`
    helpers (a `Vec` push, a `mem::replace`) count for the code that called them."""
    for frame in frames:
        for name, pattern in COMPONENTS:
            if pattern.search(frame):
                return name
    return "other"


def symbol(frame):
    return re.sub(r" \((inlined|/[^)]*|\[[^]]*\])\)$", "", frame)


def main():
    total = 0
    by_component = collections.Counter()
    memmove_callers = collections.Counter()
    memmove_components = collections.Counter()
    rgrpc_inclusive = collections.Counter()
    for frames in samples(sys.stdin):
        total += 1
        by_component[component(frames)] += 1
        if re.search(r"__mem(move|cpy)|memcpy", frames[0]):
            caller = next((symbol(f) for f in frames[1:]
                           if not re.search(r"mem(move|cpy)|copy_from_slice|ptr::copy|"
                                            r"write_bytes|core::intrinsics", f)), "?")
            memmove_callers[caller] += 1
            memmove_components[component(frames[1:])] += 1
        seen = {symbol(f) for f in frames if "rgrpc_runtime::" in f}
        for name in seen:
            rgrpc_inclusive[name] += 1
    if not total:
        print("no samples")
        return
    pct = lambda n: f"{n / total * 100:5.1f}%"
    print(f"{total} samples")
    print("== where samples land (innermost frame of a known component) ==")
    for name, n in by_component.most_common():
        print(f"  {pct(n)}  {name}")
    print("== memmove/memcpy: by the component that called it ==")
    for name, n in memmove_components.most_common():
        print(f"  {pct(n)}  {name}")
    print("== memmove/memcpy: immediate callers ==")
    for name, n in memmove_callers.most_common(12):
        print(f"  {pct(n)}  {name[:150]}")
    print("== rgrpc_runtime functions, inclusive ==")
    for name, n in rgrpc_inclusive.most_common(15):
        print(f"  {pct(n)}  {name[:150]}")


if __name__ == "__main__":
    main()
