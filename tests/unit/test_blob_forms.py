"""Which form a source writes its batches in, and when a collector relays Avro undecoded."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from proto import batch
from services.sources.base import SourceProcess
from tests.unit.config_agent import config, load

TWO_SINKS = """\
a.sinks = k1 k2
a.sinks.k2.type = {second}
a.sinks.k2.channel = c1
"""


@pytest.fixture
def run_dir() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="bf", dir="/tmp")  # short: ipc paths are limited
    yield path
    shutil.rmtree(path, ignore_errors=True)


def source(tmp_path: Path, run_dir: str, sink: str, extra: str = "") -> SourceProcess:
    made = SourceProcess(load(tmp_path, config("seq", sink, extra)), "r1", run_dir)
    made.ctx.destroy(linger=0)
    return made


@pytest.mark.parametrize("sink, second, form", [
    ("avro", "", batch.encode_avro),        # an avro sink relays Avro blobs undecoded
    ("logger", "", batch.encode),           # a local sink decodes msgpack in C
    ("avro", "avro", batch.encode_avro),
    ("avro", "logger", batch.encode),       # one sink that decodes is enough for msgpack
])
def test_a_source_writes_avro_only_when_every_sink_downstream_is_an_avro_sink(
        tmp_path: Path, run_dir: str, sink: str, second: str, form: object) -> None:
    extra = "a.sinks.k1.hostname = 127.0.0.1\na.sinks.k1.port = 4141\n" if sink == "avro" else ""
    if second:
        extra += TWO_SINKS.format(second=second)
        if second == "avro":
            extra += "a.sinks.k2.hostname = 127.0.0.1\na.sinks.k2.port = 4142\n"
    assert source(tmp_path, run_dir, sink, extra).encode_blob is form


@pytest.mark.parametrize("extra, relays", [
    ("", True),
    ("a.sources.r1.interceptors = t\na.sources.r1.interceptors.t.type = timestamp\n", False),
    ("a.sources.r1.selector.type = multiplexing\na.sources.r1.selector.header = h\n"
     "a.sources.r1.selector.default = c1\n", False),
    ("a.sources.r1.selector.type = load_balancing\n", False),
])
def test_batches_pass_undecoded_only_where_nothing_looks_at_their_events(
        tmp_path: Path, run_dir: str, extra: str, relays: bool) -> None:
    route = source(tmp_path, run_dir, "null", extra).relay_route()
    assert (route is not None) == relays
    if relays:
        assert route is not None and route.channels == ("c1",)
