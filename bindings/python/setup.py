"""setuptools hook for the nanonn package: puts libnanonn next to the Python modules.

``build_py`` copies the shared library into the built package. The library is the file named
by ``NANONN_LIB`` if that is set; otherwise this directory must sit in the nanonn repository
(``bindings/python``), and ``cargo build --release -p nanonn-capi`` is run at its root (cargo
rebuilds nothing when the library is up to date; ``CARGO_TARGET_DIR`` is honoured). The wheel
is tagged for this platform, since it carries a native library.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

if sys.platform == "darwin":
    SUFFIX = ".dylib"
elif os.name == "nt":
    SUFFIX = ".dll"
else:
    SUFFIX = ".so"


def cargo_build():
    """Builds the C API crate in release mode and returns the path of its shared library."""
    if not (REPO / "capi" / "Cargo.toml").is_file():
        sys.exit(
            "nanonn: %s is not inside the nanonn repository (no capi/Cargo.toml); set "
            "NANONN_LIB to a built libnanonn to install the package" % HERE
        )
    cargo = os.environ.get("CARGO", "cargo")
    command = [
        cargo, "build", "--release", "-p", "nanonn-capi",
        "--message-format=json-render-diagnostics",
    ]
    print("nanonn: running %s in %s" % (" ".join(command), REPO), file=sys.stderr)
    try:
        run = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, check=True)
    except FileNotFoundError:
        sys.exit("nanonn: cargo not found; install Rust (https://rustup.rs) or set NANONN_LIB")
    except subprocess.CalledProcessError as e:
        sys.exit("nanonn: cargo build failed (exit status %d)" % e.returncode)
    for line in run.stdout.decode().splitlines():
        message = json.loads(line) if line.startswith("{") else {}
        target = message.get("target", {})
        if message.get("reason") == "compiler-artifact" and "cdylib" in target.get("kind", []):
            for filename in message.get("filenames", []):
                if filename.endswith(SUFFIX):
                    return Path(filename)
    sys.exit("nanonn: cargo built no shared library (cdylib) for nanonn-capi")


class BuildPyWithLibrary(build_py):
    def run(self):
        super().run()
        env = os.environ.get("NANONN_LIB")
        library = Path(env) if env else cargo_build()
        if not library.is_file():
            sys.exit("nanonn: NANONN_LIB=%s is not a file" % library)
        destination = Path(self.build_lib) / "nanonn" / ("libnanonn" + SUFFIX)
        if os.name == "nt":
            destination = destination.with_name("nanonn.dll")
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(library, destination)
        print("nanonn: bundled %s" % library, file=sys.stderr)


class BinaryDistribution(Distribution):
    """A platform wheel: the package carries a native library."""

    def has_ext_modules(self):
        return True


setup(cmdclass={"build_py": BuildPyWithLibrary}, distclass=BinaryDistribution)
