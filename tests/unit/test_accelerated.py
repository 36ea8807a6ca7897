"""The compiled build of the hot Avro modules (proto/accelerated.py): used only while it matches
the sources, and answering exactly as the plain modules do, garbage included."""
from __future__ import annotations

import importlib
import os
import random
import subprocess
import sys
import types
from pathlib import Path
from typing import Any, Callable

import pytest

from proto import accelerated
from proto.avro import codec, framing

TREE = Path(__file__).resolve().parents[2]
COMPILED = accelerated.in_use(codec)
needs_build = pytest.mark.skipif(not COMPILED, reason="no current compiled build: the suite "
                                 "runs the plain modules already (`make accelerated`)")


def fake_tree(root: Path) -> Path:
    (root / "proto").mkdir()
    (root / "proto" / "x.py").write_text("X = 1\n")
    built = root / "build" / "mypyc" / "proto" / "avro"
    built.mkdir(parents=True)
    (root / "build" / "mypyc" / "SOURCES").write_text(accelerated.sources_digest(root) + "\n")
    return built


def test_a_build_is_used_only_while_it_matches_the_sources(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = fake_tree(tmp_path)
    monkeypatch.delenv("ZFLUME_PLAIN_PYTHON", raising=False)
    assert accelerated.build_path("proto.avro", tmp_path) == str(built)
    assert accelerated.build_path("proto.other", tmp_path) is None  # nothing built for it
    monkeypatch.setenv("ZFLUME_PLAIN_PYTHON", "1")
    assert accelerated.build_path("proto.avro", tmp_path) is None
    monkeypatch.delenv("ZFLUME_PLAIN_PYTHON")
    (tmp_path / "proto" / "x.py").write_text("X = 2\n")  # edited since the build
    assert accelerated.build_path("proto.avro", tmp_path) is None
    (tmp_path / "proto" / "x.py").write_text("X = 1\n")
    (tmp_path / "proto" / "new.py").write_text("")  # a module added since
    assert accelerated.build_path("proto.avro", tmp_path) is None
    (tmp_path / "proto" / "new.py").unlink()
    (tmp_path / "build" / "mypyc" / "SOURCES").unlink()  # a build that did not finish
    assert accelerated.build_path("proto.avro", tmp_path) is None


def plain_avro() -> types.ModuleType:
    """proto/avro's plain modules, imported as a package of their own beside the compiled."""
    name = "proto._plain_avro"
    if name not in sys.modules:
        package = types.ModuleType(name)
        package.__path__ = [str(TREE / "proto" / "avro")]
        sys.modules[name] = package
    return sys.modules[name]


def outcome(call: Callable[[], Any]) -> Any:
    try:
        return ("ok", call())
    except Exception as exc:  # the kind and the words must agree too
        return (type(exc).__name__, str(exc))


def cases(rng: random.Random) -> list[bytes]:
    """Event arrays as clients send them, then cut and corrupted at random places."""
    out = []
    for _ in range(300):
        n = rng.choice([0, 1, 5, 100])
        bodies = [rng.randbytes(rng.choice([0, 1, 63, 64, 127, 128, 8191, 8192, 9000]))
                  for _ in range(n)]
        headers = rng.choice([None, [{"host": "a", "seq": str(i)} for i in range(n)],
                              [{"k": "v"}] * n])
        good = codec.encode_events(headers, bodies)
        out.append(good)
        out.append(good[:rng.randrange(len(good) + 1)])
        flipped = bytearray(good)
        for _ in range(rng.choice([1, 3])):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        out.append(bytes(flipped))
    return out


@needs_build
def test_compiled_and_plain_codecs_agree_on_good_cut_and_corrupt_input() -> None:
    plain = importlib.import_module(plain_avro().__name__ + ".codec")
    assert not accelerated.in_use(plain)
    for data in cases(random.Random(13)):
        assert outcome(lambda: codec.decode_events(data)) == outcome(
            lambda: plain.decode_events(data))
        assert outcome(lambda: codec.scan_events(data)) == outcome(
            lambda: plain.scan_events(data))
        assert outcome(lambda: codec.scan_event(data)) == outcome(
            lambda: plain.scan_event(data))


@needs_build
def test_compiled_and_plain_frame_decoders_agree_however_the_bytes_are_cut() -> None:
    plain = importlib.import_module(plain_avro().__name__ + ".framing")
    rng = random.Random(7)
    for data in cases(rng)[:200]:
        wire = framing.encode_frame(rng.randrange(1 << 31), [data[:8192], data[8192:]])
        wire = wire if rng.random() < 0.7 else wire[:rng.randrange(len(wire))] + data[:40]
        compiled_decoder, plain_decoder = framing.FrameDecoder(), plain.FrameDecoder()
        at = 0
        while at < len(wire):
            step = rng.choice([1, 7, 4096, len(wire)])
            chunk = wire[at:at + step]
            at += step
            assert outcome(lambda: compiled_decoder.feed(chunk)) == outcome(
                lambda: plain_decoder.feed(chunk))
        assert compiled_decoder.has_partial == plain_decoder.has_partial


@needs_build
def test_the_avro_tests_pass_on_the_plain_modules_too(tmp_path: Path) -> None:
    """What runs where no compiler is: the same Avro tests, with ZFLUME_PLAIN_PYTHON."""
    env = {**os.environ, "ZFLUME_PLAIN_PYTHON": "1"}
    check = "import proto.avro.codec as c, proto.avro.server as s; " \
            "assert c.__file__.endswith('.py') and s.__file__.endswith('.py')"
    subprocess.run([sys.executable, "-c", check], env=env, cwd=TREE, check=True)
    tests = sorted(str(p) for p in (TREE / "tests" / "unit").glob("test_avro_*.py"))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--basetemp", str(tmp_path / "t"), *tests],
                          env=env, cwd=TREE, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]
