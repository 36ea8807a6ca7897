"""Typed defaults, value checks, and keys zflume does not support yet."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from services.config import schema
from services.config.load import check_file
from services.config.model import Component
from config_agent import HEAD, config, load, problems, write

def warnings(tmp_path: Path, text: str) -> list[str]:
    """Warnings of an error-free config, as `LINE: key: message`."""
    path = write(tmp_path, text)
    errors, found = check_file(path, "a")
    assert errors == []
    return [w.removeprefix(path + ":") for w in found]


NETCAT = "a.sources.r1.bind = 0.0.0.0\na.sources.r1.port = 4141\n"
AVRO_SINK = "a.sinks.k1.hostname = h\na.sinks.k1.port = 4545\n"


def params(
    tmp_path: Path, source: str = "seq", sink: str = "null", extra: str = ""
) -> tuple[dict, dict]:
    """(source params, sink params) of a valid config."""
    agent = load(tmp_path, config(source, sink, extra))
    return agent.sources["r1"].params, agent.sinks["k1"].params


def test_exec_defaults(tmp_path: Path) -> None:
    source, _ = params(tmp_path, "exec", extra="a.sources.r1.command = tail -F x\n")
    assert source == {
        "command": "tail -F x",
        "shell": "",
        "restart": False,
        "restartThrottle": 10000,
        "logStdErr": False,
        "batchSize": 20,
        "batchTimeout": 3000,
        "charset": "UTF-8",
        "maxLineLength": 0,
    }


def test_exec_values_are_converted(tmp_path: Path) -> None:
    extra = (
        "a.sources.r1.command = x\na.sources.r1.restart = TRUE\na.sources.r1.batchSize = 7\n"
        "a.sources.r1.shell = /bin/sh -c\n"
    )
    source, _ = params(tmp_path, "exec", extra=extra)
    assert (source["restart"], source["batchSize"], source["shell"]) == (True, 7, "/bin/sh -c")


def test_seq_netcat_avro_source_defaults(tmp_path: Path) -> None:
    assert params(tmp_path)[0] == {
        "batchSize": 1,
        "eventIdHeader": True,
        "eventIdHeaderKey": "eventId",
        "totalEvents": 2**63 - 1,
        "backoffSleepIncrement": 1000,
        "maxBackoffSleep": 5000,
    }
    assert params(tmp_path, "netcat", extra=NETCAT)[0] == {
        "bind": "0.0.0.0",
        "port": 4141,
        "max-line-length": 512,
        "ack-every-event": True,
        "encoding": "utf-8",
    }
    assert params(tmp_path, "avro", extra=NETCAT)[0] == {
        "bind": "0.0.0.0",
        "port": 4141,
        "threads": 0,
        "compression-type": "none",
        "compression-level": 6,
        "max-connections": 1000,
        "put-timeout": 2000,
        "ack": "channel",
        "max-frame-bytes": 67108864,
        "ipFilter": False,
        "ipFilterRules": "",
        "ssl": False,
        "exclude-protocols": ["SSLv3"],
        "include-protocols": [],
        "exclude-cipher-suites": [],
        "include-cipher-suites": [],
        "compression-tls-order": "1.11",
        "keystore": "",
        "keystore-password": "",
        "keystore-type": "",
        "ssl.certificate": "",
        "ssl.key": "",
    }


def test_memory_channel_defaults(tmp_path: Path) -> None:
    assert load(tmp_path, config()).channels["c1"].params == {
        "capacity": 100,
        "transactionCapacity": 100,
        "byteCapacity": 0,
        "byteCapacityBufferPercentage": 20,
        "keep-alive": 3,
        "lease-timeout": 10,
    }


def test_sink_defaults(tmp_path: Path) -> None:
    assert params(tmp_path, sink="logger")[1] == {"maxBytesToLog": 16}
    assert params(tmp_path)[1] == {"batchSize": 100}
    assert params(tmp_path, sink="file_roll", extra="a.sinks.k1.sink.directory = /d\n")[1] == {
        "sink.directory": "/d",
        "sink.rollInterval": 30,
        "sink.batchSize": 100,
        "sink.serializer": "text",
        "sink.serializer.appendNewline": True,
        "sink.pathManager": "default",
        "sink.pathManager.prefix": "",
        "sink.pathManager.extension": "",
    }
    assert params(tmp_path, sink="avro", extra=AVRO_SINK)[1] == {
        "hostname": "h",
        "port": 4545,
        "batch-size": 100,
        "connect-timeout": 20000,
        "request-timeout": 20000,
        "reset-connection-interval": 0,
        "compression-type": "none",
        "compression-level": 6,
        "ssl": False,
        "exclude-protocols": ["SSLv3"],
        "include-protocols": [],
        "exclude-cipher-suites": [],
        "include-cipher-suites": [],
        "compression-tls-order": "1.11",
        "trust-all-certs": False,
        "truststore": "",
        "truststore-password": "",
        "truststore-type": "",
        "ssl.verify-hostname": True,
    }


def test_missing_required_keys(tmp_path: Path) -> None:
    assert problems(tmp_path, config("netcat", "avro", "a.sources.r1.port = 1\n")) == [
        (7, "a.sources.r1.bind", "missing required key bind"),
        (8, "a.sinks.k1.hostname", "missing required key hostname"),
        (8, "a.sinks.k1.port", "missing required key port"),
    ]
    assert problems(tmp_path, config("exec", "file_roll")) == [
        (7, "a.sources.r1.command", "missing required key command"),
        (8, "a.sinks.k1.sink.directory", "missing required key sink.directory"),
    ]


def test_non_numeric_and_invalid_values(tmp_path: Path) -> None:
    extra = (
        "a.sinks.k1.hostname = h\na.sinks.k1.port = 45x45\na.sinks.k1.batch-size = 1e3\n"
        "a.sinks.k1.compression-type = gzip\na.sinks.k1.compression-level = 12\n"
        "a.sources.r1.batchSize = 0\n"
    )
    assert problems(tmp_path, config(sink="avro", extra=extra)) == [
        (10, "a.sinks.k1.port", "'45x45' is not an integer"),
        (11, "a.sinks.k1.batch-size", "'1e3' is not an integer"),
        (12, "a.sinks.k1.compression-type", "must be one of none, deflate, not gzip"),
        (13, "a.sinks.k1.compression-level", "must be between 0 and 9, not 12"),
        (14, "a.sources.r1.batchSize", "must be at least 1, not 0"),
    ]


def test_boolean_must_be_true_or_false(tmp_path: Path) -> None:
    extra = "a.sources.r1.command = x\na.sources.r1.restart = yes\n"
    assert problems(tmp_path, config("exec", extra=extra)) == [
        (10, "a.sources.r1.restart", "'yes' is not true or false")
    ]


def test_tls_cipher_suite_that_java_does_not_name_is_an_error(tmp_path: Path) -> None:
    extra = AVRO_SINK + "a.sinks.k1.ssl = true\na.sinks.k1.include-cipher-suites = RC4-MD5\n"
    assert problems(tmp_path, config(sink="avro", extra=extra)) == [
        (11, "a.sinks.k1.ssl", "TLS: unknown TLS cipher suite RC4-MD5")]


def test_tls_source_without_a_keystore_is_an_error_naming_ssl(tmp_path: Path) -> None:
    text = config("avro", extra=NETCAT + "a.sources.r1.ssl = true\n")
    assert problems(tmp_path, text) == [(11, "a.sources.r1.ssl", "TLS: ssl = true needs keystore "
                                         "(or ssl.certificate and ssl.key)")]


def test_tls_unreadable_truststore_is_an_error_naming_it(tmp_path: Path) -> None:
    extra = AVRO_SINK + "a.sinks.k1.ssl = true\na.sinks.k1.truststore = /nonexistent/t.jks\n"
    assert problems(tmp_path, config(sink="avro", extra=extra)) == [
        (12, "a.sinks.k1.truststore", "TLS: cannot read /nonexistent/t.jks: No such file or "
         "directory")]


def test_tls_protocol_list_is_checked(tmp_path: Path) -> None:
    extra = AVRO_SINK + "a.sinks.k1.ssl = true\na.sinks.k1.include-protocols = TLSv9\n"
    assert problems(tmp_path, config(sink="avro", extra=extra)) == [
        (11, "a.sinks.k1.ssl", "TLS: unknown TLS protocol TLSv9; known: TLSv1, TLSv1.1, TLSv1.2, "
         "TLSv1.3")]


def test_ip_filter_on_needs_rules(tmp_path: Path) -> None:
    text = config("avro", extra=NETCAT + "a.sources.r1.ipFilter = true\n")
    assert problems(tmp_path, text) == [
        (11, "a.sources.r1.ipFilter", "ipFilterRules is empty: no rule to filter with")]


def test_ip_filter_rule_that_does_not_parse_names_the_rule(tmp_path: Path) -> None:
    extra = NETCAT + "a.sources.r1.ipFilter = true\na.sources.r1.ipFilterRules = " \
        "allow:ip:127.*, homer:ip:45.4.23.1\n"
    assert problems(tmp_path, config("avro", extra=extra)) == [
        (12, "a.sources.r1.ipFilterRules", "invalid ipFilter rule 'homer:ip:45.4.23.1': should "
         "look like <allow or deny>:<ip or name>:<pattern>")]


def test_ip_filter_rules_are_only_warned_about_while_ip_filter_is_off(tmp_path: Path) -> None:
    text = config("avro", extra=NETCAT + "a.sources.r1.ipFilterRules = allow:sleeps:1.2.3.4\n")
    assert warnings(tmp_path, text) == [
        "11: a.sources.r1.ipFilterRules: invalid ipFilter rule 'allow:sleeps:1.2.3.4': should "
        "look like <allow or deny>:<ip or name>:<pattern>; ignored while ipFilter is false"]


def test_ip_filter_with_rules_is_typed(tmp_path: Path) -> None:
    extra = NETCAT + "a.sources.r1.ipFilter = TRUE\na.sources.r1.ipFilterRules = deny:ip:*\n"
    source, _ = params(tmp_path, "avro", extra=extra)
    assert (source["ipFilter"], source["ipFilterRules"]) == (True, "deny:ip:*")


def test_tls_switched_off_explicitly_is_accepted(tmp_path: Path) -> None:
    extra = (
        NETCAT
        + "a.sources.r1.ssl = false\na.sources.r1.ipFilter = False\n"
        + AVRO_SINK.replace("4545", "4546")
        + "a.sinks.k1.ssl = false\n"
    )
    assert warnings(tmp_path, config("avro", "avro", extra)) == []


def test_avro_sink_max_io_workers_is_ignored_with_a_warning(tmp_path: Path) -> None:
    text = config(sink="avro", extra=AVRO_SINK + "a.sinks.k1.maxIoWorkers = 4\n")
    assert warnings(tmp_path, text) == [
        "11: a.sinks.k1.maxIoWorkers: maxIoWorkers is ignored by zflume"
    ]


def test_file_roll_serializer_other_than_text_is_not_supported_yet(tmp_path: Path) -> None:
    extra = (
        "a.sinks.k1.sink.directory = /d\na.sinks.k1.sink.serializer = avro_event\n"
        "a.sinks.k1.sink.pathManager = rolltime\n"
    )
    assert problems(tmp_path, config(sink="file_roll", extra=extra)) == [
        (10, "a.sinks.k1.sink.serializer", "sink.serializer avro_event is not supported yet"),
        (11, "a.sinks.k1.sink.pathManager", "sink.pathManager rolltime is not supported yet"),
    ]
    ok = extra.replace("avro_event", "TEXT").replace("rolltime", "DEFAULT")
    assert params(tmp_path, sink="file_roll", extra=ok)[1]["sink.serializer"] == "text"


def test_unknown_component_key_is_a_warning(tmp_path: Path) -> None:
    assert warnings(tmp_path, config(extra="a.sources.r1.batchsize = 5\n")) == [
        "9: a.sources.r1.batchsize: unknown key batchsize for seq source; ignored"
    ]


def component(kind: str, kind_type: str, params_: dict) -> Component:
    """A bare component for batch_size."""
    return Component(kind, "x", kind_type, params_)


def test_batch_size_helper() -> None:
    assert schema.batch_size(component("source", "exec", {"batchSize": 20})) == 20
    assert schema.batch_size(component("source", "seq", {"batchSize": 3})) == 3
    assert schema.batch_size(component("source", "netcat", {})) == 1
    assert schema.batch_size(component("source", "avro", {})) == 0
    assert schema.batch_size(component("sink", "logger", {})) == 1
    assert schema.batch_size(component("sink", "file_roll", {"sink.batchSize": 9})) == 9
    assert schema.batch_size(component("sink", "null", {"batchSize": 8})) == 8
    assert schema.batch_size(component("sink", "avro", {"batch-size": 7})) == 7


def without_tls(got: dict) -> dict:
    """A listening source's params less Flume's TLS keys, which must hold their defaults."""
    assert {key: got[key] for key in schema.TLS_SOURCE} == {
        key: param.default for key, param in schema.TLS_SOURCE.items()}
    return {key: value for key, value in got.items() if key not in schema.TLS_SOURCE}


def test_http_source_defaults_and_handler_errors(tmp_path: Path) -> None:
    assert without_tls(params(tmp_path, "http", extra="a.sources.r1.port = 8080\n")[0]) == {
        "bind": "0.0.0.0", "port": 8080, "handler": "org.apache.flume.source.http.JSONHandler",
        "put-timeout": 2000, "max-request-bytes": 104857600, "max-connections": 1000,
        "idle-timeout": 30000, "handler.*": {}}
    blob = "a.sources.r1.handler = org.apache.flume.sink.solr.morphline.BlobHandler\n"
    assert problems(tmp_path, config("http", extra="a.sources.r1.port = 1\n" + blob
                                     + "a.sources.r1.handler.maxBlobLength = 0\n")) == [
        (11, "a.sources.r1.handler.maxBlobLength",
         "handler.maxBlobLength must be greater than zero, not 0")]
    errors = problems(tmp_path, config("http", extra="a.sources.r1.port = 1\n"
                                       "a.sources.r1.handler = com.example.Mine\n"
                                       "a.sources.r1.enableSSL = true\n"))
    assert [(line, key) for line, key, _ in errors] == [(10, "a.sources.r1.handler"),
                                                       (11, "a.sources.r1.enableSSL")]
    assert "needs keystore" in errors[1][2]  # Flume's deprecated spelling of ssl is read


def test_http_source_reads_flume_deprecated_tls_keys(tmp_path: Path) -> None:
    """enableSSL and keystorePassword stand for ssl and keystore-password, with a warning; when
    both spellings are written the new one wins."""
    extra = ("a.sources.r1.port = 1\na.sources.r1.enableSSL = true\n"
             "a.sources.r1.keystorePassword = secret\na.sources.r1.keystore-password = other\n")
    assert [(line, key) for line, key, _ in problems(tmp_path, config("http", extra=extra))] == [
        (10, "a.sources.r1.enableSSL")]  # no keystore: the error names the key that enabled TLS
    found = check_file(write(tmp_path, config("http", extra=extra)), "a")[1]
    assert [w.split(": ", 2)[2] for w in found] == [
        "enableSSL is deprecated; read as ssl",
        "keystorePassword is deprecated and ignored: keystore-password is set"]


def test_syslog_sources_take_flume_keys_and_refuse_a_keep_fields_typo(tmp_path: Path) -> None:
    assert without_tls(params(tmp_path, "syslogtcp", extra="a.sources.r1.port = 5140\n"
                              "a.sources.r1.keepFields = timestamp hostname\n")[0]) == {
        "host": "0.0.0.0", "port": 5140, "eventSize": 2500,
        "keepFields": frozenset({"timestamp", "hostname"}),
        "clientIPHeader": "", "clientHostnameHeader": ""}
    assert params(tmp_path, "syslogudp", extra="a.sources.r1.port = 5140\n"
                                              "a.sources.r1.keepFields = true\n")[0][
        "keepFields"] == frozenset({"all"})
    [(line, key, message)] = problems(tmp_path, config(
        "syslogtcp", extra="a.sources.r1.port = 1\na.sources.r1.keepFields = hostnames\n"))
    assert (line, key) == (10, "a.sources.r1.keepFields") and "hostnames" in message


def test_multiport_syslogtcp_keys_and_a_bad_port_charset(tmp_path: Path) -> None:
    got = params(tmp_path, "multiport_syslogtcp", extra="a.sources.r1.ports = 10001 10002\n"
                                                        "a.sources.r1.charset.port.10002 = "
                                                        "ISO-8859-1\n")[0]
    assert (got["ports"], got["charset.default"], got["charset.port.*"], got["batchSize"],
            got["portHeader"]) == ([10001, 10002], "UTF-8", {"10002": "ISO-8859-1"}, 100, "")
    [(line, key, message)] = problems(tmp_path, config(
        "multiport_syslogtcp", extra="a.sources.r1.ports = 1\n"
                                     "a.sources.r1.charset.port.1 = NO-SUCH-CHARSET\n"))
    assert (line, key) == (10, "a.sources.r1.charset.port.1") and "NO-SUCH-CHARSET" in message
