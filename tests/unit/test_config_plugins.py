"""A source's interceptors (in listed order) and channel selector: types, params, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.config.load import check_file, load_agent
from services.config.model import Component

SOURCE = """\
a.sources = r1
a.channels = c1 c2
a.sinks = k1 k2
a.sources.r1.type = seq
a.sources.r1.channels = c1 c2
a.channels.c1.type = memory
a.channels.c2.type = memory
a.sinks.k1.type = null
a.sinks.k1.channel = c1
a.sinks.k2.type = null
a.sinks.k2.channel = c2
"""  # extra lines start at 12


def write(tmp_path: Path, extra: str) -> str:
    """Write the agent plus extra lines; return the path."""
    path = tmp_path / "agent.conf"
    path.write_text(SOURCE + extra)
    return str(path)


def source(tmp_path: Path, extra: str) -> Component:
    """The source of a valid agent."""
    return load_agent(write(tmp_path, extra), "a").sources["r1"]


def problems(tmp_path: Path, extra: str) -> list[tuple[int, str, str]]:
    """(line, key, message) of every error."""
    return [(e.line, e.key, e.message) for e in check_file(write(tmp_path, extra), "a")[0]]


def test_interceptors_in_listed_order_with_defaults(tmp_path: Path) -> None:
    plugins = source(
        tmp_path,
        "a.sources.r1.interceptors = ts st hn\n"
        "a.sources.r1.interceptors.hn.type = host\n"
        "a.sources.r1.interceptors.ts.type = timestamp\n"
        "a.sources.r1.interceptors.st.type = static\n",
    ).interceptors
    assert [(p.name, p.type) for p in plugins] == [
        ("ts", "timestamp"),
        ("st", "static"),
        ("hn", "host"),
    ]
    assert [p.params for p in plugins] == [
        {"headerName": "timestamp", "preserveExisting": False},
        {"key": "key", "value": "value", "preserveExisting": True},
        {"hostHeader": "host", "useIP": True, "preserveExisting": False},
    ]


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("org.apache.flume.interceptor.TimestampInterceptor$Builder", "timestamp"),
        ("org.apache.flume.interceptor.HostInterceptor$Builder", "host"),
        ("org.apache.flume.interceptor.StaticInterceptor$Builder", "static"),
        ("TIMESTAMP", "timestamp"),
        ("Static", "static"),
    ],
)
def test_interceptor_types(tmp_path: Path, written: str, canonical: str) -> None:
    extra = f"a.sources.r1.interceptors = i\na.sources.r1.interceptors.i.type = {written}\n"
    assert source(tmp_path, extra).interceptors[0].type == canonical


def test_interceptor_params_are_typed(tmp_path: Path) -> None:
    extra = (
        "a.sources.r1.interceptors = s\na.sources.r1.interceptors.s.type = static\n"
        "a.sources.r1.interceptors.s.key = dc\na.sources.r1.interceptors.s.value = eu-1\n"
        "a.sources.r1.interceptors.s.preserveExisting = false\n"
    )
    assert source(tmp_path, extra).interceptors[0].params == {
        "key": "dc",
        "value": "eu-1",
        "preserveExisting": False,
    }


def test_interceptor_without_type(tmp_path: Path) -> None:
    extra = "a.sources.r1.interceptors = i1 i2\na.sources.r1.interceptors.i2.headerName = t\n"
    assert problems(tmp_path, extra) == [
        (12, "a.sources.r1.interceptors.i1.type", "interceptor i1 has no type"),
        (13, "a.sources.r1.interceptors.i2.type", "interceptor i2 has no type"),
    ]


@pytest.mark.parametrize(
    "written",
    [
        "org.apache.flume.sink.solr.morphline.MorphlineInterceptor$Builder",
    ],
)
def test_interceptors_not_supported_yet(tmp_path: Path, written: str) -> None:
    extra = f"a.sources.r1.interceptors = i\na.sources.r1.interceptors.i.type = {written}\n"
    assert problems(tmp_path, extra) == [
        (13, "a.sources.r1.interceptors.i.type", f"type {written} is not supported yet")
    ]


def test_keys_of_an_unlisted_interceptor_are_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, "a.sources.r1.interceptors.x.type = host\n")
    assert check_file(path, "a") == (
        [],
        [
            f"{path}:12: a.sources.r1.interceptors.x.type: interceptor is not listed in "
            "a.sources.r1.interceptors; ignored"
        ],
    )


def test_selector_defaults_to_replicating(tmp_path: Path) -> None:
    selector = source(tmp_path, "").selector
    assert selector is not None and (selector.type, selector.params) == (
        "replicating",
        {"optional": []},
    )


@pytest.mark.parametrize(
    "written", ["replicating", "REPLICATING", "org.apache.flume.channel.ReplicatingChannelSelector"]
)
def test_replicating_selector_with_optional_channels(tmp_path: Path, written: str) -> None:
    extra = f"a.sources.r1.selector.type = {written}\na.sources.r1.selector.optional = c2\n"
    selector = source(tmp_path, extra).selector
    assert selector is not None and (selector.type, selector.params) == (
        "replicating",
        {"optional": ["c2"]},
    )


def test_optional_channel_must_be_one_of_the_sources_channels(tmp_path: Path) -> None:
    extra = "a.sources.r1.selector.optional = c2 c3\n"
    assert problems(tmp_path, extra) == [
        (
            12,
            "a.sources.r1.selector.optional",
            "channel c3 is not one of the source's channels",
        )
    ]


@pytest.mark.parametrize(
    "written",
    ["load_balancing", "org.apache.flume.channel.LoadBalancingChannelSelector"],
)
def test_load_balancing_selector_takes_flume_policies(tmp_path: Path, written: str) -> None:
    assert source(tmp_path, f"a.sources.r1.selector.type = {written}\n").selector.params == {
        "policy": "round_robin"}
    assert problems(tmp_path, f"a.sources.r1.selector.type = {written}\n"
                              "a.sources.r1.selector.policy = weighted\n") == [
        (13, "a.sources.r1.selector.policy",
         "must be one of round_robin, random, not weighted")]


def test_regex_interceptors_are_typed_with_flume_defaults(tmp_path: Path) -> None:
    extra = ("a.sources.r1.interceptors = f e\n"
             "a.sources.r1.interceptors.f.type = org.apache.flume.interceptor."
             "RegexFilteringInterceptor$Builder\n"
             "a.sources.r1.interceptors.e.type = regex_extractor\n"
             "a.sources.r1.interceptors.e.regex = (\\\\d+)\n"  # \\d in the file, as Flume's docs write it
             "a.sources.r1.interceptors.e.serializers = s1\n"
             "a.sources.r1.interceptors.e.serializers.s1.name = num\n")
    interceptors = source(tmp_path, extra).interceptors
    assert interceptors[0].params == {"regex": ".*", "excludeEvents": False}
    assert interceptors[1].params == {"regex": "(\\d+)", "serializers": ["s1"],
                                      "serializers.*": {"s1.name": "num"}}


def test_a_regex_python_cannot_read_is_an_error_naming_the_key(tmp_path: Path) -> None:
    extra = ("a.sources.r1.interceptors = f\na.sources.r1.interceptors.f.type = regex_filter\n"
             "a.sources.r1.interceptors.f.regex = ([a-z]\n")
    assert problems(tmp_path, extra)[0][:2] == (14, "a.sources.r1.interceptors.f.regex")


def test_multiplexing_selector_is_typed_and_its_channels_checked(tmp_path: Path) -> None:
    extra = ("a.sources.r1.selector.type = multiplexing\n"
             "a.sources.r1.selector.header = state\n"
             "a.sources.r1.selector.mapping.CZ = c1\n"
             "a.sources.r1.selector.mapping.US = c1 c2\n"
             "a.sources.r1.selector.optional.CZ = c2\n"
             "a.sources.r1.selector.default = c2\n")
    selector = source(tmp_path, extra).selector
    assert selector is not None and selector.type == "multiplexing"
    assert selector.params == {"header": "state", "default": ["c2"],
                               "mapping.*": {"CZ": "c1", "US": "c1 c2"},
                               "optional.*": {"CZ": "c2"}}
    bad = extra.replace("mapping.US = c1 c2", "mapping.US = c9")
    assert problems(tmp_path, bad) == [
        (15, "a.sources.r1.selector.mapping.US", "channel c9 is not one of the source's channels")]


def test_morphline_uuid_interceptor_loads_by_its_builder_class(tmp_path: Path) -> None:
    extra = ("a.sources.r1.interceptors = i\na.sources.r1.interceptors.i.type = "
             "org.apache.flume.sink.solr.morphline.UUIDInterceptor$Builder\n"
             "a.sources.r1.interceptors.i.prefix = web-\n")
    assert problems(tmp_path, extra) == []


def test_regex_extractor_serializer_errors_name_their_key(tmp_path: Path) -> None:
    extra = ("a.sources.r1.interceptors = e\na.sources.r1.interceptors.e.type = regex_extractor\n"
             "a.sources.r1.interceptors.e.regex = (\\\\d+)\n"
             "a.sources.r1.interceptors.e.serializers = s1\n"
             "a.sources.r1.interceptors.e.serializers.s1.name = n\n"
             "a.sources.r1.interceptors.e.serializers.s1.type = org.apache.flume.interceptor."
             "RegexExtractorInterceptorMillisSerializer\n")
    assert problems(tmp_path, extra) == [
        (17, "a.sources.r1.interceptors.e.serializers.s1.type",
         "serializers.s1.type org.apache.flume.interceptor.RegexExtractorInterceptorMillis"
         "Serializer needs serializers.s1.pattern")]
    assert problems(tmp_path, extra + "a.sources.r1.interceptors.e.serializers.s1.pattern = "
                                      "yyyy-MM-dd qq\n") == [
        (18, "a.sources.r1.interceptors.e.serializers.s1.pattern",
         "serializers.s1.pattern pattern letter q of 'yyyy-MM-dd qq' is not supported")]
