"""Per-type key tables: key -> Param(converter, default), so every process reads typed settings.

Each table lists Flume's keys with Flume's defaults, plus zflume's extensions (marked). A key in
`UNSUPPORTED` is one Flume knows and zflume does not implement yet: it is an error, because a
silently ignored `ssl = true` would send events in plaintext. A key in `IGNORED` is accepted with a
warning because ignoring it changes nothing the user relies on; one in `DEPRECATED` is Flume's
old spelling of a key, read as the new one. Type names live in
`services.config.typenames`.

zflume choices where Flume has none or a machine-dependent one:
    exec maxLineLength 0 = unlimited (Flume has no limit; a positive value splits longer lines)
    memory byteCapacity 0 = unbounded (Flume: 80 % of the JVM heap, meaningless here)
    memory lease-timeout 10 s, avro source put-timeout 2000 ms and max-frame-bytes 64 MiB
    processor heartbeat.interval 500 ms (0 = off), heartbeat.liveness 3, window 4, and Flume's
    SinkRunner constants backoffSleepIncrement 1000 ms / maxBackoffSleep 5000 ms as keys
    seq, taildir, spooldir eventIdHeader true / eventIdHeaderKey eventId: a stable id per event
    from its input position (counter; inode and offset; file and line)
"""
from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from typing import Any, NamedTuple

from services.config.model import Component
from services.sources.http_handlers import JSON_HANDLER
from services.sources.interceptors import java_regex
from services.sources.syslog.event import KEEP_NONE, parse_keep_fields

Check = Callable[[Any], "str | None"]

_INT = re.compile(r"[+-]?[0-9]+")
LONG_MAX = 2**63 - 1


class Param(NamedTuple):
    """One key of a type: how to convert its text, its default, and an optional range check."""

    convert: Callable[[str], Any]
    default: Any
    required: bool = False
    check: Check | None = None


def to_int(text: str) -> int:
    """Integer.parseInt: an optional sign and ASCII digits, nothing else (no `1_000`, no `1e3`)."""
    if not _INT.fullmatch(text):
        raise ValueError(f"'{text}' is not an integer")
    return int(text)


def to_bool(text: str) -> bool:
    """`true` or `false`, any case. Flume reads anything else as false; we refuse it."""
    lowered = text.lower()
    if lowered not in ("true", "false"):
        raise ValueError(f"'{text}' is not true or false")
    return lowered == "true"


def to_list(text: str) -> list[str]:
    """Whitespace separated names, order kept."""
    return text.split()


def to_str(text: str) -> str:
    """Text as written (already trimmed by the reader)."""
    return text


def to_regex(text: str) -> str:
    """A Java regular expression as written, once Python's `re` can compile it."""
    java_regex(text)
    return text


def to_charset(text: str) -> str:
    """A charset name Python knows (Java's names: UTF-8, ISO-8859-1, US-ASCII...)."""
    try:
        codecs.lookup(text)
    except LookupError:
        raise ValueError(f"unknown charset {text}") from None
    return text


def at_least(low: int) -> Check:
    """A check that a number is >= low."""
    return lambda value: None if value >= low else f"must be at least {low}"


def between(low: int, high: int) -> Check:
    """A check that a number is in [low, high]."""
    return lambda value: None if low <= value <= high else f"must be between {low} and {high}"


def one_of(*choices: str) -> Check:
    """A check that a lower-cased string is one of `choices`."""
    return lambda value: None if value in choices else f"must be one of {', '.join(choices)}"


def lower(text: str) -> str:
    """Lower-cased text, for keys whose values Flume matches case-insensitively."""
    return text.lower()


def req(convert: Callable[[str], Any], check: Check | None = None) -> Param:
    """A required key (no default)."""
    return Param(convert, None, True, check)


POSITIVE, NON_NEGATIVE, PORT = at_least(1), at_least(0), between(1, 65535)
COMPRESSION = {"compression-type": Param(lower, "none", check=one_of("none", "deflate")),
               "compression-level": Param(to_int, 6, check=between(0, 9))}
# TLS (services/tls.py). An empty store path, password or type is "not set": Flume's
# FLUME_SSL_* environment then applies, and the type defaults to JKS.
TLS_COMMON = {"ssl": Param(to_bool, False),
              "exclude-protocols": Param(to_list, ["SSLv3"]),
              "include-protocols": Param(to_list, []),
              "exclude-cipher-suites": Param(to_list, []),
              "include-cipher-suites": Param(to_list, [])}
# zflume: on the Avro link, deflate outside TLS as Flume 1.11 does it, or inside as Flume 1.9
TLS_ORDER = {"compression-tls-order": Param(to_str, "1.11", check=one_of("1.11", "1.9"))}
TLS_SOURCE = {**TLS_COMMON, "keystore": Param(to_str, ""), "keystore-password": Param(to_str, ""),
              "keystore-type": Param(to_str, ""),
              "ssl.certificate": Param(to_str, ""), "ssl.key": Param(to_str, "")}  # zflume: PEM
TLS_SINK = {**TLS_COMMON, **TLS_ORDER, "trust-all-certs": Param(to_bool, False),
            "truststore": Param(to_str, ""), "truststore-password": Param(to_str, ""),
            "truststore-type": Param(to_str, ""),
            "ssl.verify-hostname": Param(to_bool, True)}  # zflume; Flume never checks the name

SOURCES: dict[str, dict[str, Param]] = {
    "exec": {"command": req(to_str), "shell": Param(to_str, ""),
             "restart": Param(to_bool, False),
             "restartThrottle": Param(to_int, 10000, check=NON_NEGATIVE),
             "logStdErr": Param(to_bool, False), "batchSize": Param(to_int, 20, check=POSITIVE),
             "batchTimeout": Param(to_int, 3000, check=POSITIVE), "charset": Param(to_str, "UTF-8"),
             "maxLineLength": Param(to_int, 0, check=NON_NEGATIVE)},  # zflume: 0 = unlimited
    "seq": {"batchSize": Param(to_int, 1, check=POSITIVE),
            "eventIdHeader": Param(to_bool, True),  # zflume: the counter as a stable id
            "eventIdHeaderKey": Param(to_str, "eventId"),  # zflume
            "totalEvents": Param(to_int, LONG_MAX, check=NON_NEGATIVE),
            "backoffSleepIncrement": Param(to_int, 1000, check=POSITIVE),
            "maxBackoffSleep": Param(to_int, 5000, check=POSITIVE)},
    "netcat": {"bind": req(to_str), "port": req(to_int, PORT),
               "max-line-length": Param(to_int, 512, check=POSITIVE),
               "ack-every-event": Param(to_bool, True), "encoding": Param(to_str, "utf-8")},
    "taildir": {"filegroups": req(to_list), "positionFile":
                Param(to_str, "~/.flume/taildir_position.json"),
                "skipToEnd": Param(to_bool, False),
                "idleTimeout": Param(to_int, 120000, check=POSITIVE),
                "writePosInterval": Param(to_int, 3000, check=POSITIVE),
                "batchSize": Param(to_int, 100, check=POSITIVE),
                "maxBatchCount": Param(to_int, LONG_MAX, check=POSITIVE),
                "backoffSleepIncrement": Param(to_int, 1000, check=POSITIVE),
                "maxBackoffSleep": Param(to_int, 5000, check=POSITIVE),
                "cachePatternMatching": Param(to_bool, True),
                "fileHeader": Param(to_bool, False), "fileHeaderKey": Param(to_str, "file"),
                "byteOffsetHeader": Param(to_bool, False),
                "maxLineLength": Param(to_int, 0, check=NON_NEGATIVE),  # zflume: 0 = unlimited
                "eventIdHeader": Param(to_bool, True),  # zflume: stable id per line
                "eventIdHeaderKey": Param(to_str, "eventId")},  # zflume
    "spooldir": {"spoolDir": req(to_str), "fileSuffix": Param(to_str, ".COMPLETED"),
                 "deletePolicy": Param(lower, "never", check=one_of("never", "immediate")),
                 "fileHeader": Param(to_bool, False), "fileHeaderKey": Param(to_str, "file"),
                 "basenameHeader": Param(to_bool, False),
                 "basenameHeaderKey": Param(to_str, "basename"),
                 "includePattern": Param(to_str, "^.*$"), "ignorePattern": Param(to_str, "^$"),
                 "trackerDir": Param(to_str, ".flumespool"),
                 "trackingPolicy": Param(lower, "rename",
                                         check=one_of("rename", "tracker_dir")),
                 "consumeOrder": Param(lower, "oldest",
                                       check=one_of("oldest", "youngest", "random")),
                 "pollDelay": Param(to_int, 500, check=POSITIVE),
                 "recursiveDirectorySearch": Param(to_bool, False),
                 "maxBackoff": Param(to_int, 4000, check=POSITIVE),
                 "batchSize": Param(to_int, 100, check=POSITIVE),
                 "inputCharset": Param(to_str, "UTF-8"),
                 "decodeErrorPolicy": Param(lower, "fail",
                                            check=one_of("fail", "replace", "ignore")),
                 "deserializer": Param(lower, "line"),
                 "deserializer.maxLineLength": Param(to_int, 2048, check=POSITIVE),
                 "deserializer.outputCharset": Param(to_str, "UTF-8"),
                 "eventIdHeader": Param(to_bool, True),  # zflume: stable id per line
                 "eventIdHeaderKey": Param(to_str, "eventId")},  # zflume
    "avro": {"bind": req(to_str), "port": req(to_int, PORT),
             "threads": Param(to_int, 0, check=NON_NEGATIVE), **COMPRESSION,
             "max-connections": Param(to_int, 1000, check=POSITIVE),
             "put-timeout": Param(to_int, 2000, check=POSITIVE),  # zflume, ms
             # zflume: answer appendBatch once the channel holds it (Flume) or once delivered
             "ack": Param(lower, "channel", check=one_of("channel", "delivered")),
             "max-frame-bytes": Param(to_int, 67108864, check=POSITIVE),  # zflume
             # checked in services.config.components, as Flume does: only when ipFilter is on
             "ipFilter": Param(to_bool, False), "ipFilterRules": Param(to_str, ""),
             **TLS_SOURCE, **TLS_ORDER},
    "syslogtcp": {"host": Param(to_str, "0.0.0.0"), "port": req(to_int, PORT),
                  "eventSize": Param(to_int, 2500, check=POSITIVE),
                  "keepFields": Param(parse_keep_fields, KEEP_NONE),
                  "clientIPHeader": Param(to_str, ""), "clientHostnameHeader": Param(to_str, ""),
                  **TLS_SOURCE},
    "multiport_syslogtcp": {
        "host": Param(to_str, "0.0.0.0"),
        "ports": req(lambda text: [to_int(n) for n in text.split()]),
        "eventSize": Param(to_int, 2500, check=POSITIVE),
        "keepFields": Param(parse_keep_fields, KEEP_NONE), "portHeader": Param(to_str, ""),
        "batchSize": Param(to_int, 100, check=POSITIVE),
        "readBufferSize": Param(to_int, 1024, check=POSITIVE),  # MINA's; zflume reads 64 KiB
        "numProcessors": Param(to_int, 0, check=NON_NEGATIVE),  # MINA's; one loop here
        "charset.default": Param(to_charset, "UTF-8"),
        "clientIPHeader": Param(to_str, ""), "clientHostnameHeader": Param(to_str, ""),
        **TLS_SOURCE},
    "syslogudp": {"host": Param(to_str, "0.0.0.0"), "port": req(to_int, PORT),
                  "keepFields": Param(parse_keep_fields, KEEP_NONE),
                  "clientIPHeader": Param(to_str, ""), "clientHostnameHeader": Param(to_str, "")},
    "netcatudp": {"bind": Param(to_str, "0.0.0.0"), "port": req(to_int, PORT),
                  "remoteAddress": Param(to_str, "")},
    "http": {"bind": Param(to_str, "0.0.0.0"), "port": req(to_int, PORT),
             "handler": Param(to_str, JSON_HANDLER),  # handler.*: services/sources/http_handlers
             "put-timeout": Param(to_int, 2000, check=POSITIVE),  # zflume, ms
             "max-request-bytes": Param(to_int, 104857600, check=POSITIVE),  # zflume
             "max-connections": Param(to_int, 1000, check=POSITIVE),  # zflume
             "idle-timeout": Param(to_int, 30000, check=POSITIVE),  # zflume: Jetty's, ms
             **TLS_SOURCE},
}

_HOME = "~/.flume/file-channel"
CHANNELS: dict[str, dict[str, Param]] = {
    "file": {"checkpointDir": Param(to_str, f"{_HOME}/checkpoint"),
             "dataDirs": Param(lambda text: [d.strip() for d in text.split(",") if d.strip()],
                               [f"{_HOME}/data"]),
             "capacity": Param(to_int, 1000000, check=POSITIVE),
             "transactionCapacity": Param(to_int, 10000, check=POSITIVE),
             "checkpointInterval": Param(to_int, 30000, check=POSITIVE),  # ms
             "maxFileSize": Param(to_int, 2146435071, check=POSITIVE),
             "minimumRequiredSpace": Param(to_int, 524288000, check=NON_NEGATIVE),
             "keep-alive": Param(to_int, 3, check=NON_NEGATIVE),  # seconds
             "lease-timeout": Param(to_int, 10, check=POSITIVE),  # zflume, seconds
             "checkpointOnClose": Param(to_bool, True)},
    "memory": {"capacity": Param(to_int, 100, check=POSITIVE),
               "transactionCapacity": Param(to_int, 100, check=POSITIVE),
               "byteCapacity": Param(to_int, 0, check=NON_NEGATIVE),  # zflume: 0 = unbounded
               "byteCapacityBufferPercentage": Param(to_int, 20, check=between(0, 99)),
               "keep-alive": Param(to_int, 3, check=NON_NEGATIVE),  # seconds
               "lease-timeout": Param(to_int, 10, check=POSITIVE)},  # zflume, seconds
}

SINKS: dict[str, dict[str, Param]] = {
    "logger": {"maxBytesToLog": Param(to_int, 16, check=NON_NEGATIVE)},
    "file_roll": {"sink.directory": req(to_str),
                  "sink.rollInterval": Param(to_int, 30, check=NON_NEGATIVE),
                  "sink.batchSize": Param(to_int, 100, check=POSITIVE),
                  "sink.serializer": Param(lower, "text"),
                  "sink.serializer.appendNewline": Param(to_bool, True),
                  "sink.pathManager": Param(lower, "default"),
                  "sink.pathManager.prefix": Param(to_str, ""),
                  "sink.pathManager.extension": Param(to_str, "")},
    "null": {"batchSize": Param(to_int, 100, check=POSITIVE)},
    "avro": {"hostname": req(to_str), "port": req(to_int, PORT),
             "batch-size": Param(to_int, 100, check=POSITIVE),
             "connect-timeout": Param(to_int, 20000, check=at_least(1000)),
             "request-timeout": Param(to_int, 20000, check=at_least(1000)),
             "reset-connection-interval": Param(to_int, 0, check=NON_NEGATIVE), **COMPRESSION,
             **TLS_SINK},
}

_PROCESSOR_COMMON = {"heartbeat.interval": Param(to_int, 500, check=NON_NEGATIVE),  # zflume, ms
                     # Flume's SinkRunner constants, here settable: the wait when no sink of
                     # the group could take a batch, doubled per round from the first, in ms
                     "backoffSleepIncrement": Param(to_int, 1000, check=POSITIVE),
                     "maxBackoffSleep": Param(to_int, 5000, check=POSITIVE),
                     "heartbeat.liveness": Param(to_int, 3, check=POSITIVE),  # zflume
                     "window": Param(to_int, 4, check=POSITIVE)}  # zflume: batches in flight
PROCESSORS: dict[str, dict[str, Param]] = {
    "default": dict(_PROCESSOR_COMMON),
    "failover": {"maxpenalty": Param(to_int, 30000, check=NON_NEGATIVE), **_PROCESSOR_COMMON},
    "load_balance": {"selector": Param(lower, "round_robin", check=one_of("round_robin", "random")),
                     "backoff": Param(to_bool, False),
                     "selector.maxTimeOut": Param(to_int, 30000, check=NON_NEGATIVE),  # 0 -> 30000
                     **_PROCESSOR_COMMON},
}

INTERCEPTORS: dict[str, dict[str, Param]] = {
    "timestamp": {"headerName": Param(to_str, "timestamp"),
                  "preserveExisting": Param(to_bool, False)},
    "host": {"hostHeader": Param(to_str, "host"), "useIP": Param(to_bool, True),
             "preserveExisting": Param(to_bool, False)},
    "static": {"key": Param(to_str, "key"), "value": Param(to_str, "value"),
               "preserveExisting": Param(to_bool, True)},
    "uuid": {"headerName": Param(to_str, "id"), "preserveExisting": Param(to_bool, True),
             "prefix": Param(to_str, "")},
    "regex_filter": {"regex": Param(to_regex, ".*"), "excludeEvents": Param(to_bool, False)},
    # serializers.NAME.name is the header of group i, .type DEFAULT or the millis one (.pattern)
    "regex_extractor": {"regex": req(to_regex), "serializers": Param(to_list, [])},
    "remove_header": {"withName": Param(to_str, ""), "fromList": Param(to_str, ""),
                      "fromListSeparator": Param(to_regex, r"\s*,\s*"),
                      "matching": Param(to_regex, "")},
    "search_replace": {"searchPattern": req(to_regex), "replaceString": Param(to_str, ""),
                       "charset": Param(to_charset, "UTF-8")},
    "dedupe": {"headerName": Param(to_str, "eventId"),  # zflume: services/sources/dedupe.py
               "capacity": Param(to_int, 1000000, check=POSITIVE)},
}

SELECTORS: dict[str, dict[str, Param]] = {
    "replicating": {"optional": Param(to_list, [])},
    # mapping.VALUE and optional.VALUE: services/sources/selector.py
    "multiplexing": {"header": Param(to_str, "flume.selector.header"),
                     "default": Param(to_list, [])},
    "load_balancing": {"policy": Param(lower, "round_robin",
                                       check=one_of("round_robin", "random"))}}

TABLES = {"source": SOURCES, "channel": CHANNELS, "sink": SINKS, "processor": PROCESSORS,
          "interceptor": INTERCEPTORS, "selector": SELECTORS}

# key -> the one value that means "off" and is therefore honoured (None: any value is an error).
UNSUPPORTED: dict[tuple[str, str], dict[str, str | None]] = {
    ("channel", "file"): {"useDualCheckpoints": "false", "backupCheckpointDir": None,
                          "fsyncPerTransaction": "true", "fsyncInterval": None,
                          "encryption.activeKey": None, "encryption.cipherProvider": None,
                          "encryption.keyProvider": None, "use-log-replay-v1": "false",
                          "use-fast-replay": "false"},
}
# Flume's deprecated spellings, read as the new key when that one is not also written (Flume's
# handleDeprecatedParameter); a warning names the new one.
DEPRECATED: dict[tuple[str, str], dict[str, str]] = {
    ("source", "http"): {"enableSSL": "ssl", "keystorePassword": "keystore-password",
                         "excludeProtocols": "exclude-protocols"}}
IGNORED: dict[tuple[str, str], set[str]] = {("sink", "avro"): {"maxIoWorkers"}}
# Keys under a prefix whose rest is the user's own name (`filegroups.f1`, `headers.f1.k`): kept
# as raw strings in params[prefix + "*"], e.g. params["filegroups.*"] == {"f1": "/var/log/.*"}.
PREFIXED: dict[tuple[str, str], tuple[str, ...]] = {
    ("source", "taildir"): ("filegroups.", "headers."),
    ("source", "http"): ("handler.",),
    ("source", "multiport_syslogtcp"): ("charset.port.",),
    ("interceptor", "regex_extractor"): ("serializers.",),
    ("selector", "multiplexing"): ("mapping.", "optional.")}
# Keys whose other values Flume supports and zflume does not yet (after lower-casing).
SUPPORTED_VALUES: dict[tuple[str, str], dict[str, set[str]]] = {
    ("sink", "file_roll"): {"sink.serializer": {"text"}, "sink.pathManager": {"default"}},
    ("source", "spooldir"): {"deserializer": {"line"}},
}

# Which key sets a component's batch size, checked against its channel's transactionCapacity.
BATCH_KEYS = {("source", "exec"): "batchSize", ("source", "seq"): "batchSize",
              ("source", "taildir"): "batchSize", ("source", "spooldir"): "batchSize",
              ("sink", "file_roll"): "sink.batchSize", ("sink", "null"): "batchSize",
              ("sink", "avro"): "batch-size"}
_FIXED_BATCH = {("source", "netcat"): 1, ("source", "avro"): 0, ("sink", "logger"): 1}


def batch_size(component: Component) -> int:
    """Events a source puts or a sink takes per transaction; 0 means not checked (avro source)."""
    key = BATCH_KEYS.get((component.kind, component.type))
    if key is not None:
        return int(component.params[key])
    return _FIXED_BATCH.get((component.kind, component.type), 0)


def processor_defaults(processor: str = "default") -> dict[str, Any]:
    """Every param of a processor at its default: what an implicit group gets."""
    return {key: param.default for key, param in PROCESSORS[processor].items()}

