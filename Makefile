# The two commands of the README: `make demo` and `make test`.
.PHONY: setup build test lint unit demo fuzz conformance-fuzz bench gen completions man

setup:
	scripts/setup.sh

build: setup
	cargo build --release

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

# The whole suite and a summary of skipped tests (scripts/test.sh).
test: setup lint
	scripts/test.sh

# The demo needs only etcd, BIRD 1.6 and the binary, built with the `demo` profile (Cargo.toml:
# dev without debug info; a clean build needs far less than the fat-LTO release build).
demo:
	scripts/setup.sh demo
	@echo "demo: building calicoctl (cargo build --profile demo; a few minutes the first time)"
	cargo build --profile demo
	scripts/demo.sh

fuzz:
	scripts/fuzz.sh

# The differential fuzzer at length (needs CALICOCTL_REFERENCE = the reference calicoctl v3.32.1).
conformance-fuzz:
	CONFORMANCE_FUZZ_DOCS=$${CONFORMANCE_FUZZ_DOCS:-50000} CONFORMANCE_FUZZ_SEED=$${CONFORMANCE_FUZZ_SEED:-$$(date +%s)} \
	  cargo test --release --test conformance fuzz_etcd -- --nocapture

bench: build
	bench/run-all.sh

# Regenerate completions/, docs/man/ and docs/reference/ from the clap definition (a test fails when stale).
gen completions man:
	cargo run --quiet -- dev gen
