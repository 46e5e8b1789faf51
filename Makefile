# The two commands of the README: `make demo` and `make test`.
.PHONY: setup build test lint unit demo fuzz bench gen completions man

setup:
	scripts/setup.sh

build: setup
	cargo build --release

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

test: setup lint
	cargo test --all-targets

demo: setup
	cargo build --release
	scripts/demo.sh

fuzz:
	scripts/fuzz.sh

bench: build
	bench/run-all.sh

# Regenerate completions/, docs/man/ and docs/reference/ from the clap definition (a test fails when stale).
gen completions man:
	cargo run --quiet -- dev gen
