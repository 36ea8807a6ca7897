"""Component types: Flume aliases and class names in any case; Flume types not supported yet."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from config_agent import config, load, problems, write

NETCAT = "a.sources.r1.bind = 0.0.0.0\na.sources.r1.port = 4141\n"
AVRO_SINK = "a.sinks.k1.hostname = h\na.sinks.k1.port = 4545\n"


@pytest.mark.parametrize(
    ("written", "extra", "canonical"),
    [
        ("org.apache.flume.source.ExecSource", "a.sources.r1.command = true\n", "exec"),
        ("org.apache.flume.source.SequenceGeneratorSource", "", "seq"),
        ("org.apache.flume.source.NetcatSource", NETCAT, "netcat"),
        ("org.apache.flume.source.AvroSource", NETCAT, "avro"),
        ("EXEC", "a.sources.r1.command = true\n", "exec"),
        ("NetCat", NETCAT, "netcat"),
        ("org.apache.flume.source.execsource", "a.sources.r1.command = true\n", "exec"),
    ],
)
def test_source_types(tmp_path: Path, written: str, extra: str, canonical: str) -> None:
    assert load(tmp_path, config(source=written, extra=extra)).sources["r1"].type == canonical


@pytest.mark.parametrize(
    ("written", "extra", "canonical"),
    [
        ("org.apache.flume.sink.LoggerSink", "", "logger"),
        ("LOGGER", "", "logger"),
        (
            "org.apache.flume.sink.RollingFileSink",
            "a.sinks.k1.sink.directory = /tmp\n",
            "file_roll",
        ),
        ("File_Roll", "a.sinks.k1.sink.directory = /tmp\n", "file_roll"),
        ("org.apache.flume.sink.NullSink", "", "null"),
        ("NULL", "", "null"),
        ("org.apache.flume.sink.AvroSink", AVRO_SINK, "avro"),
        ("Avro", AVRO_SINK, "avro"),
    ],
)
def test_sink_types(tmp_path: Path, written: str, extra: str, canonical: str) -> None:
    assert load(tmp_path, config(sink=written, extra=extra)).sinks["k1"].type == canonical


@pytest.mark.parametrize("written", ["org.apache.flume.channel.MemoryChannel", "MEMORY", "Memory"])
def test_channel_types(tmp_path: Path, written: str) -> None:
    text = config().replace("a.channels.c1.type = memory", f"a.channels.c1.type = {written}")
    assert load(tmp_path, text).channels["c1"].type == "memory"


@pytest.mark.parametrize(
    ("kind_line", "written"),
    [
        (7, "thrift"),
        (7, "jms"),
        (8, "hdfs"),
        (8, "hive"),
        (8, "hbase"),
        (8, "org.apache.flume.sink.hdfs.HDFSEventSink"),
    ],
)
def test_flume_types_not_supported_yet(tmp_path: Path, kind_line: int, written: str) -> None:
    text = config(source=written) if kind_line == 7 else config(sink=written)
    key = "a.sources.r1.type" if kind_line == 7 else "a.sinks.k1.type"
    assert problems(tmp_path, text) == [(kind_line, key, f"type {written} is not supported yet")]


@pytest.mark.parametrize(
    "written", ["jdbc", "SpillableMemory", "org.apache.flume.channel.jdbc.JdbcChannel"]
)
def test_channel_types_not_supported_yet(tmp_path: Path, written: str) -> None:
    text = config().replace("a.channels.c1.type = memory", f"a.channels.c1.type = {written}")
    assert problems(tmp_path, text) == [
        (6, "a.channels.c1.type", f"type {written} is not supported yet")
    ]


def test_unknown_type(tmp_path: Path) -> None:
    assert problems(tmp_path, config(source="exce", sink="com.example.MySink")) == [
        (7, "a.sources.r1.type", "unknown type exce"),
        (8, "a.sinks.k1.type", "unknown type com.example.MySink"),
    ]
