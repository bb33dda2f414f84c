#!/usr/bin/env bash
# CI for nanonn's C API (capi/, include/nanonn.h, bindings/c/): run from the repository root on
# a clean clone, as root. Installs what it needs, then checks that the committed header is what
# the pinned cbindgen generates, lints and tests the crate, builds the C example and tests as
# strict C99 (the header also as C++17), runs the tests under valgrind, links through
# pkg-config against the shared library, and trains MNIST from C to >= 0.97 in one epoch.
set -euo pipefail
cd "$(dirname "$0")/.."

CBINDGEN_VERSION=0.29.4
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
BUILD="$CARGO_TARGET_DIR/c"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

step() { printf '\n=== capi: %s ===\n' "$*"; }

step "toolchain components"
rustup component add rustfmt clippy >/dev/null 2>&1 || true

step "system packages"
missing=()
command -v valgrind >/dev/null || missing+=(valgrind)
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v make >/dev/null || missing+=(make)
command -v cc >/dev/null || missing+=(gcc)
command -v c++ >/dev/null || missing+=(g++)
[ -f /usr/include/zlib.h ] || missing+=(zlib1g-dev)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi
valgrind --version

step "cbindgen $CBINDGEN_VERSION"
if ! cbindgen --version 2>/dev/null | grep -qx "cbindgen $CBINDGEN_VERSION"; then
    cargo install cbindgen --version "$CBINDGEN_VERSION" --locked
fi
cbindgen --version

step "include/nanonn.h is the generated header"
cbindgen --quiet --config capi/cbindgen.toml --crate nanonn-capi --output "$WORK/nanonn.h" capi
if ! diff -u include/nanonn.h "$WORK/nanonn.h"; then
    echo "include/nanonn.h is out of date: regenerate it with"
    echo "  cbindgen --config capi/cbindgen.toml --crate nanonn-capi --output include/nanonn.h capi"
    exit 1
fi
if LC_ALL=C grep -n '[^[:print:][:space:]]' include/nanonn.h; then
    echo "include/nanonn.h must be ASCII"
    exit 1
fi

step "format, clippy, Rust tests of the C API crate"
cargo fmt -p nanonn-capi -- --check
cargo clippy -p nanonn-capi --all-targets -- -D warnings
cargo test --release -p nanonn-capi

step "C example, C tests (C99) and header check (C++17), -Wall -Wextra -Werror -pedantic"
make -C bindings/c all

step "C tests and the C++ check under valgrind"
make -C bindings/c valgrind

step "pkg-config: install to a prefix, link the C tests against libnanonn.so"
# The prefix lives in the target directory, not in $WORK: a temporary directory may be mounted
# noexec, and a shared library there cannot be mapped. LD_LIBRARY_PATH is cleared so that the
# library found is the one the rpath names, not another copy the environment points at.
PREFIX_DIR="$CARGO_TARGET_DIR/pkgconfig-prefix"
rm -rf "$PREFIX_DIR"
make -C bindings/c install PREFIX="$PREFIX_DIR" >/dev/null
export PKG_CONFIG_PATH="$PREFIX_DIR/lib/pkgconfig"
pkg-config --modversion nanonn
SHARED_TEST="$BUILD/test_capi_shared"
# shellcheck disable=SC2046 # pkg-config's flags are meant to split
cc -std=c99 -Wall -Wextra -Werror -pedantic bindings/c/test_capi.c \
    $(pkg-config --cflags --libs nanonn) -lm \
    -Wl,-rpath,"$(pkg-config --variable=libdir nanonn)" -o "$SHARED_TEST"
linked=$(env -u LD_LIBRARY_PATH ldd "$SHARED_TEST" | awk '$1 == "libnanonn.so" { print $3 }') || true
if [ -z "$linked" ] || [ "$(readlink -f "$linked")" != "$(readlink -f "$PREFIX_DIR/lib/libnanonn.so")" ]; then
    echo "test_capi_shared does not load $PREFIX_DIR/lib/libnanonn.so; ldd says:"
    env -u LD_LIBRARY_PATH ldd "$SHARED_TEST" || true
    exit 1
fi
echo "linked against $linked"
(cd "$WORK" && env -u LD_LIBRARY_PATH "$SHARED_TEST" | tail -n 1)

step "MNIST from C: one epoch must reach >= 0.97"
out=$("$BUILD/mnist" --data data/mnist)
echo "$out"
acc=$(echo "$out" | tail -n 1 | sed -n 's/^test_accuracy=//p')
python3 -c "import sys; a=float('$acc'); print('accuracy', a); sys.exit(0 if a >= 0.97 else 1)"

step "ok"
