#!/usr/bin/env bash
# nanonn on a Cortex-M under QEMU (examples/embedded/): builds the firmware for a Cortex-M4F
# (thumbv7em-none-eabihf) and a Cortex-M0+ (thumbv6m-none-eabi), checks that no allocator is
# linked in, runs MNIST inference (both targets) and training (M4F) under QEMU, compares what
# the device printed with what the host computed (examples/embedded/assets/expected.txt, kept
# true by tests/embedded_host.rs), runs two negative controls that must fail, and prints the
# flash/RAM table of the README. Run from anywhere, as root on a clean clone.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
fw=examples/embedded/cortex-m
assets=examples/embedded/assets

step() { printf '\n=== embedded: %s ===\n' "$*"; }
die() {
    echo "FAIL: $*" >&2
    exit 1
}

step "tools"
if ! command -v qemu-system-arm >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends qemu-system-arm >/dev/null
fi
qemu-system-arm --version | head -n 1
rustup target add thumbv7em-none-eabihf thumbv6m-none-eabi
rustup component add llvm-tools clippy rustfmt >/dev/null 2>&1
llvm_bin="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
nm="$llvm_bin/llvm-nm"
size="$llvm_bin/llvm-size"
[ -x "$nm" ] && [ -x "$size" ] || die "llvm-nm/llvm-size not found in $llvm_bin (rustup component add llvm-tools)"

step "host: the device's expected lines are the host's (tests/embedded_host.rs)"
cargo test --release --test embedded_host

cd "$fw"
target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

step "firmware: format and clippy"
cargo fmt --check
cargo clippy --release --locked --bins -- -D warnings
cargo clippy --release --locked --bins --target thumbv6m-none-eabi -- -D warnings

step "firmware: build (Cortex-M4F and Cortex-M0+)"
cargo build --release --locked --bins
cargo build --release --locked --bins --target thumbv6m-none-eabi
m4="$target_dir/thumbv7em-none-eabihf/release"
m0="$target_dir/thumbv6m-none-eabi/release"

step "no allocator in any firmware (nm)"
for elf in "$m4"/{infer,train,fail,fault} "$m0"/{infer,train,fail,fault}; do
    syms=$("$nm" -C "$elf")
    # The check must see the symbols at all: the entry point is always there.
    grep -qw 'main' <<<"$syms" || die "$elf: nm shows no main; is this an ELF with symbols?"
    if grep -E '__rust_alloc|__rust_dealloc|__rust_realloc|__rust_alloc_zeroed|__rg_alloc|__rdl_alloc|__rust_no_alloc_shim|__rust_alloc_error_handler|__rust_alloc_error_handler_should_panic|alloc::alloc' <<<"$syms"; then
        die "$elf links an allocator (symbols above)"
    fi
    echo "ok: no allocator symbols in ${elf#"$target_dir"/}"
done

# Runs a firmware under QEMU (the cargo runner of .cargo/config.toml, inside `timeout`);
# prints its output and leaves it in $out and the exit status in $rc.
run_fw() {
    local start end
    start=$(date +%s)
    set +e
    out=$(cargo run --release --locked "$@" 2>&1)
    rc=$?
    set -e
    end=$(date +%s)
    echo "$out" | grep -v '^\s*\(Finished\|Running\|Compiling\|Blocking\)'
    echo "(exit status $rc, $((end - start)) s)"
}

# Every expected line with the prefix must appear, verbatim, as a line of the output.
check_lines() { # prefix output
    local n=0 line
    while IFS= read -r line; do
        grep -qxF -- "$line" <<<"$2" || {
            echo "missing or different: $line" >&2
            return 1
        }
        n=$((n + 1))
    done < <(grep "^$1" "$root/$assets/expected.txt")
    [ "$n" -gt 0 ] || {
        echo "no expected lines start with $1" >&2
        return 1
    }
    echo "ok: $n lines equal the host's ($1*)"
}

value() { sed -n "s/^$1=//p" <<<"$2" | head -n 1; }

step "inference on the Cortex-M4F (mps2-an386)"
run_fw --bin infer
[ "$rc" = 0 ] || die "inference on the M4F exited with $rc"
check_lines infer_ "$out" || die "M4F inference differs from the host"
infer_m4=$out
host_acc=$(sed -n 's/^infer_accuracy=//p' "$root/$assets/expected.txt")
[ "$(value infer_accuracy "$out")" = "$host_acc" ] || die "device accuracy differs from the host's $host_acc"
echo "device accuracy $(value infer_accuracy "$out") = host accuracy $host_acc"

step "inference on the Cortex-M0+ build (thumbv6m, software floats; run on mps2-an385's Cortex-M3)"
run_fw --bin infer --target thumbv6m-none-eabi
[ "$rc" = 0 ] || die "inference on the M0+ build exited with $rc"
check_lines infer_ "$out" || die "M0+ inference differs from the host"
infer_m0=$out

step "training from scratch on the Cortex-M4F"
run_fw --bin train
[ "$rc" = 0 ] || die "training on the M4F exited with $rc"
check_lines train_ "$out" || die "M4F training differs from the host"
train_m4=$out
python3 - "$out" <<'EOF'
import re, sys
out = sys.argv[1]
epochs = [(int(e), None if t == "-" else float(t), float(hl), float(ha))
          for e, t, hl, ha in re.findall(
              r"^train_epoch_(\d+)=train_loss (\S+) held_loss (\S+) held_accuracy (\S+)$", out, re.M)]
assert len(epochs) >= 3, epochs
losses = [t for _, t, _, _ in epochs if t is not None]
acc = float(re.search(r"^train_held_accuracy=(\S+)$", out, re.M).group(1))
print(f"training loss {losses[0]} -> {losses[-1]}, held-out accuracy {epochs[0][3]} -> {acc}")
assert all(b < a for a, b in zip(losses, losses[1:])), f"training loss does not fall: {losses}"
assert epochs[0][3] < 0.2, "the untrained network should be near chance"
assert acc >= 0.80, f"held-out accuracy {acc} < 0.80"
EOF

step "negative control: an assertion that fails must end QEMU with a non-zero status"
run_fw --bin fail
[ "$rc" != 0 ] || die "the failing assertion exited 0"
[ "$rc" != 124 ] || die "the failing assertion hung until the timeout"
grep -q '^MISMATCH' <<<"$out" || die "the injected miss was not reported"
grep -q 'panicked at' <<<"$out" || die "no panic message"
fake=$(sed 's/^infer_hits=\([0-9]*\)$/infer_hits=0\1/' <<<"$infer_m4") # a changed line
if check_lines infer_ "$fake" 2>/dev/null; then die "check_lines accepted a changed line"; fi
echo "ok: the failing run exited $rc, and this script's own comparison rejects a changed line"

step "negative control: a HardFault must end QEMU with a non-zero status"
run_fw --bin fault
[ "$rc" != 0 ] && [ "$rc" != 124 ] || die "the fault exited with $rc"
grep -q '^HardFault' <<<"$out" || die "the fault was not reported"
echo "ok: the fault exited $rc"

step "flash and RAM (bytes)"
# Flash holds text (.vector_table, .text = code, .rodata = constants and the embedded assets)
# and .data's initial values; RAM holds .data, .bss and the stack. `plan` is what nanonn
# computed before building the network; `reserved` the static array the firmware gives it.
table() { # name elf output
    local text data bss code rodata plan reserved stack
    read -r text data bss <<<"$("$size" "$2" | awk 'NR == 2 { print $1, $2, $3 }')"
    read -r code rodata <<<"$("$size" -A "$2" | awk '$1 == ".text" { c = $2 } $1 == ".rodata" { r = $2 } END { print c, r }')"
    plan=$(sed -n 's/^memory: nanonn plan \([0-9]*\) bytes, reserved \([0-9]*\) bytes.*/\1 \2/p' <<<"$3")
    stack=$(sed -n 's/^stack: peak \([0-9]*\) of.*/\1/p' <<<"$3")
    read -r plan reserved <<<"$plan"
    printf '| %s | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d |\n' "$1" "$text" "$data" \
        "$bss" "$code" "$rodata" $((text + data)) $((data + bss + stack)) "$plan" "$reserved" "$stack"
}
echo "| firmware | text | data | bss | text: code | text: .rodata (assets) | flash (text+data) | RAM (data+bss+stack peak) | nanonn plan | reserved | stack peak |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
table "inference, Cortex-M4F" "$m4/infer" "$infer_m4"
table "inference, Cortex-M0+" "$m0/infer" "$infer_m0"
table "training, Cortex-M4F" "$m4/train" "$train_m4"
echo "(of 1048576 bytes of flash and 196608 bytes of RAM declared in $fw/memory.x)"

step "ok"
