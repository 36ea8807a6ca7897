"""Component types: Flume's aliases and class names -> zflume's canonical type strings.

Flume accepts a case-insensitive alias (`exec`, `FAILOVER`) or a fully-qualified class name. We
accept both for every built-in zflume implements, matching class names case-insensitively too.
Flume built-ins zflume does not implement yet get a distinct message from names nobody knows, so
a user can tell "wait for zflume" from "typo".
"""
from __future__ import annotations

_S = "org.apache.flume.source."
_K = "org.apache.flume.sink."
_C = "org.apache.flume.channel."
_I = "org.apache.flume.interceptor."
_SOLR = "org.apache.flume.sink.solr.morphline."

# kind -> canonical alias -> Flume class name (None: Flume has an alias only, or no class).
SUPPORTED: dict[str, dict[str, str | None]] = {
    "source": {"exec": _S + "ExecSource", "seq": _S + "SequenceGeneratorSource",
               "netcat": _S + "NetcatSource", "avro": _S + "AvroSource",
               "taildir": _S + "taildir.TaildirSource",
               "spooldir": _S + "SpoolDirectorySource", "http": _S + "http.HTTPSource",
               "netcatudp": _S + "NetcatUdpSource", "syslogtcp": _S + "SyslogTcpSource",
               "syslogudp": _S + "SyslogUDPSource",
               "multiport_syslogtcp": _S + "MultiportSyslogTCPSource"},
    "channel": {"memory": _C + "MemoryChannel", "file": _C + "file.FileChannel"},
    "sink": {"logger": _K + "LoggerSink", "file_roll": _K + "RollingFileSink",
             "null": _K + "NullSink", "avro": _K + "AvroSink"},
    "processor": {"default": _K + "DefaultSinkProcessor", "failover": _K + "FailoverSinkProcessor",
                  "load_balance": _K + "LoadBalancingSinkProcessor"},
    "interceptor": {"timestamp": _I + "TimestampInterceptor$Builder",
                    "host": _I + "HostInterceptor$Builder",
                    "static": _I + "StaticInterceptor$Builder",
                    "regex_filter": _I + "RegexFilteringInterceptor$Builder",
                    "regex_extractor": _I + "RegexExtractorInterceptor$Builder",
                    "remove_header": _I + "RemoveHeaderInterceptor$Builder",
                    "search_replace": _I + "SearchAndReplaceInterceptor$Builder",
                    "uuid": _SOLR + "UUIDInterceptor$Builder",
                    "dedupe": None},  # zflume's own
    "selector": {"replicating": _C + "ReplicatingChannelSelector",
                 "multiplexing": _C + "MultiplexingChannelSelector",
                 "load_balancing": _C + "LoadBalancingChannelSelector"},
}

NOT_YET: dict[str, dict[str, str | None]] = {
    "source": {"thrift": _S + "ThriftSource",
               "jms": _S + "jms.JMSSource",
               "kafka": _S + "kafka.KafkaSource", "twitter": _S + "twitter.TwitterSource",
               "scribe": _S + "scribe.ScribeSource", "stress": _S + "StressSource"},
    "channel": {"jdbc": _C + "jdbc.JdbcChannel",
                "spillablememory": _C + "SpillableMemoryChannel",
                "kafka": _C + "kafka.KafkaChannel",
                "pseudotxnmemory": _C + "PseudoTxnMemoryChannel"},
    "sink": {"hdfs": _K + "hdfs.HDFSEventSink", "irc": _K + "irc.IRCSink",
             "thrift": _K + "ThriftSink", "elasticsearch": _K + "elasticsearch.ElasticSearchSink",
             "hbase": _K + "hbase.HBaseSink", "asynchbase": _K + "hbase.AsyncHBaseSink",
             "hbase2": _K + "hbase2.HBase2Sink",
             "morphline_solr": _K + "solr.morphline.MorphlineSolrSink",
             "hive": _K + "hive.HiveSink", "http": _K + "http.HttpSink",
             "kafka": _K + "kafka.KafkaSink", "kite_dataset": _K + "kite.DatasetSink"},
    "processor": {},
    "interceptor": {"morphline": _SOLR + "MorphlineInterceptor$Builder"},
    "selector": {},
}
# Aliases above that are only class names in Flume (no alias): match them by class name only.
_CLASS_ONLY = {("source", "kafka"), ("source", "twitter"), ("source", "scribe"),
               ("source", "stress"),
               ("channel", "kafka"), ("channel", "pseudotxnmemory"), ("sink", "kafka"),
               ("sink", "kite_dataset"), ("interceptor", "uuid"), ("interceptor", "morphline")}


def _index(table: dict[str, dict[str, str | None]]) -> dict[str, dict[str, str]]:
    """kind -> lower-cased alias or class name -> canonical alias."""
    index: dict[str, dict[str, str]] = {}
    for kind, aliases in table.items():
        names = index.setdefault(kind, {})
        for alias, class_name in aliases.items():
            if (kind, alias) not in _CLASS_ONLY:
                names[alias] = alias
            if class_name:
                names[class_name.lower()] = alias
    return index


_SUPPORTED_INDEX = _index(SUPPORTED)
_NOT_YET_INDEX = _index(NOT_YET)


def resolve(kind: str, written: str) -> tuple[str | None, str | None]:
    """(canonical type, None) for a type zflume runs, else (None, error message)."""
    key = written.strip().lower()
    canonical = _SUPPORTED_INDEX[kind].get(key)
    if canonical is not None:
        return canonical, None
    if key in _NOT_YET_INDEX[kind]:
        return None, f"type {written} is not supported yet"
    return None, f"unknown type {written}"
