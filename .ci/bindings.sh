#!/usr/bin/env bash
# CI for nanonn's C++ wrapper (bindings/cpp/) and Python package (bindings/python/): run from the
# repository root on a clean clone, as root. Installs what it needs, builds libnanonn once, then:
#   C++:    the tests (C++17, -Werror with conversion warnings) natively and under valgrind, and
#           one MNIST epoch that must reach >= 0.97;
#   Python: `pip install ./bindings/python`, pytest against the installed package, and one MNIST
#           epoch of tinynn's training loop that must reach >= 0.97.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

step() { printf '\n=== bindings: %s ===\n' "$*"; }

# `check_accuracy OUTPUT`: the last line must be test_accuracy=X with X >= 0.97.
check_accuracy() {
    local acc
    acc=$(echo "$1" | tail -n 1 | sed -n 's/^test_accuracy=//p')
    python3 -c "import sys; a=float('${acc:-0}'); print('accuracy', a); sys.exit(0 if a >= 0.97 else 1)"
}

step "system packages"
missing=()
command -v valgrind >/dev/null || missing+=(valgrind)
command -v make >/dev/null || missing+=(make)
command -v c++ >/dev/null || missing+=(g++)
command -v python3 >/dev/null || missing+=(python3 python3-pip)
[ -f /usr/include/zlib.h ] || missing+=(zlib1g-dev)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi
c++ --version | head -n 1
python3 --version

step "libnanonn (one cargo build, shared by both)"
cargo build --release -p nanonn-capi

step "C++: tests, -std=c++17 -Wall -Wextra -Werror -pedantic -Wconversion -Wshadow ..."
make -C bindings/cpp all
make -C bindings/cpp test

step "C++: tests under valgrind"
make -C bindings/cpp valgrind

step "C++: MNIST, one epoch must reach >= 0.97"
out=$("$CARGO_TARGET_DIR/cpp/mnist_cpp" --data data/mnist)
echo "$out"
check_accuracy "$out"

step "Python: pip install ./bindings/python (builds and bundles libnanonn)"
python3 -m pip install --quiet numpy pytest
python3 -m pip install ./bindings/python
# From outside the source tree, so that the installed package is the one imported and tested.
cd "$WORK"
python3 -c "import nanonn, os; print(nanonn.__file__, nanonn.library_path(), nanonn.version()); \
assert os.path.dirname(str(nanonn.library_path())) == os.path.dirname(nanonn.__file__)"

step "Python: pytest"
python3 -m pytest -q -p no:cacheprovider "$ROOT/bindings/python/tests"

step "Python: MNIST with tinynn's training loop, one epoch must reach >= 0.97"
out=$(python3 "$ROOT/bindings/python/examples/mnist.py" --data "$ROOT/data/mnist")
echo "$out"
check_accuracy "$out"
cd "$ROOT"

step "ok"
