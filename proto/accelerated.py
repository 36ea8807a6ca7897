"""The optional compiled build of the hot Avro modules, used only when built from these sources.

The collector's avro source spends most of its time walking event arrays byte by byte, which is
what CPython is slowest at. `make accelerated` (run by `make test` and `make demo`) compiles the
modules in MODULES with mypyc, mypy's compiler (the very same type-checked Python source, turned
into C extensions), into build/mypyc/, and writes there the digest of every source file under
proto/. A package of MODULES puts that build first on its `__path__` only when the digest still
matches: with no build, a build of other sources (a file edited since) or a Python of another
ABI, the plain modules run, which behave the same, only slower (decoding an event array: 430 ns
per event plain, 30-60 ns compiled). ZFLUME_PLAIN_PYTHON=1 runs the plain ones anyway (py-spy
sees no Python frames inside a compiled module). tests/unit/test_accelerated.py holds the two to
the same answers.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "mypyc"
# What a collector's avro source and an agent's avro sink run per call and per event.
MODULES = tuple(f"proto/avro/{name}.py" for name in (
    "binary", "codec", "framing", "compression", "calls", "server", "client"))


def sources_digest(root: Path = ROOT) -> str:
    """One hash of every source file under proto/ (a compiled module also bakes in what it
    learnt of the modules it imports)."""
    digest = hashlib.sha256()
    for path in sorted((root / "proto").rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def build_path(package: str, root: Path = ROOT) -> str | None:
    """The compiled build's directory for `package` (dotted) when it matches the sources."""
    if os.environ.get("ZFLUME_PLAIN_PYTHON"):
        return None
    build = root / BUILD.relative_to(ROOT)
    try:
        stamp = (build / "SOURCES").read_text().strip()
    except OSError:
        return None
    folder = build.joinpath(*package.split("."))
    if stamp != sources_digest(root) or not folder.is_dir():
        return None
    return str(folder)


def in_use(module: object) -> bool:
    """Whether `module` was loaded from the compiled build."""
    return str(BUILD) in str(getattr(module, "__file__", ""))


def describe() -> str:
    """A line for benchmarks: which Avro modules their figures were measured with."""
    from proto.avro import codec
    if in_use(codec):
        return f"Avro modules: compiled by mypyc ({BUILD})"
    return "Avro modules: plain Python (no current compiled build: `make accelerated`)"


def build() -> None:
    """Compile MODULES into BUILD (needs mypy, from requirements-lint.txt, and a C compiler)."""
    from mypyc.build import mypycify  # only the build needs mypy
    from setuptools import setup

    (BUILD / "SOURCES").unlink(missing_ok=True)  # half a build is no build
    shutil.rmtree(BUILD / "proto", ignore_errors=True)  # nor is one of modules no longer listed
    digest = sources_digest()
    modules = mypycify([str(ROOT / m) for m in MODULES], opt_level="3", separate=True,
                       target_dir=str(BUILD / "c"))
    setup(name="zflume-accelerated", ext_modules=modules, packages=[],
          script_args=["--quiet", "build_ext", "--build-lib", str(BUILD),
                       "--build-temp", str(BUILD / "tmp")])
    (BUILD / "SOURCES").write_text(digest + "\n")


if __name__ == "__main__":
    if sys.argv[1:] != ["build"]:
        sys.exit("usage: python -m proto.accelerated build")
    build()
