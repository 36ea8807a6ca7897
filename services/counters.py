"""Flume's counter names per component type, kept in one place (docs/flume.md 8)."""
from __future__ import annotations

import time
from collections import Counter

SOURCE = ("EventReceivedCount", "EventAcceptedCount", "AppendReceivedCount",
          "AppendAcceptedCount", "AppendBatchReceivedCount", "AppendBatchAcceptedCount",
          "OpenConnectionCount", "EventReadFail", "ChannelWriteFail", "GenericProcessingFail")
CHANNEL = ("ChannelSize", "ChannelCapacity", "ChannelFillPercentage", "EventPutAttemptCount",
           "EventPutSuccessCount", "EventTakeAttemptCount", "EventTakeSuccessCount")
SINK = ("ConnectionCreatedCount", "ConnectionClosedCount", "ConnectionFailedCount",
        "BatchEmptyCount", "BatchUnderflowCount", "BatchCompleteCount", "EventDrainAttemptCount",
        "EventDrainSuccessCount", "EventWriteFail", "ChannelReadFail")
# Flume has no sink-group metrics; these are zflume's (docs/flume.md 9 asks for them).
ROUTER = ("BatchTakenCount", "BatchDeliveredCount", "BatchFailedCount", "RerouteCount",
          "RollbackCount", "HeartbeatMissCount", "EventDeliveredCount", "QuarantinedBatchCount",
          "QuarantinedEventCount")

BY_TYPE = {"SOURCE": SOURCE, "CHANNEL": CHANNEL, "SINK": SINK, "SINK_GROUP": ROUTER}

# zflume's own counters, by the process class that keeps them (its EXTRA_COUNTERS); every
# process also counts the internal messages it refused.
EVERY_PROCESS = ("MalformedMessageCount",)
ANY_SOURCE = ("DuplicateDroppedCount",)  # the dedupe interceptor
LISTENING_SOURCE = ("BindFailureCount",)  # sources/listener.py
TLS_SOURCE = (*LISTENING_SOURCE, "TlsFailureCount")  # a source with Flume's `ssl` keys
AVRO_SOURCE = (*TLS_SOURCE, "MalformedFrameCount", "RefusedConnectionCount",
               "StalledConnectionCount", "DeniedConnectionCount")
HTTP_SOURCE = (*TLS_SOURCE, "RefusedConnectionCount", "IdleClosedCount")
SEQ_SOURCE = ("GeneratedCount",)
SPOOLDIR_SOURCE = ("TruncatedLineCount", "CompletedFileCount", "FailedFileCount")
FILE_CHANNEL = ("LogSyncCount", "LogFileCount", "CheckpointWriteErrorCount", "Unhealthy",
                "RecoveredEventCount")
ANY_SINK = ("StaleDeliveryCount",)  # a delivery not started: the router gave up on it


class Counters(Counter):
    """A component's counters, all present from the start so `zflume status` shows zeros."""

    def __init__(self, kind: str, extra: tuple[str, ...] = ()) -> None:
        super().__init__({name: 0 for name in (*BY_TYPE[kind], *EVERY_PROCESS, *extra)})
        self.kind = kind
        self.start_ms = int(time.time() * 1000)

    def report(self) -> dict[str, object]:
        """The counters plus the Type / StartTime / StopTime attributes Flume reports."""
        out: dict[str, object] = {"Type": self.kind, "StartTime": self.start_ms, "StopTime": 0}
        out.update(self)
        return out


def flume_json(reports: dict[str, dict[str, object]]) -> dict[str, dict[str, str]]:
    """Reports keyed `TYPE.name`, every value a string, as Flume's /metrics serves them."""
    return {key: {attr: str(value) for attr, value in report.items()}
            for key, report in sorted(reports.items())}
