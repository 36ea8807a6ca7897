"""Flume's AvroSourceProtocol: the exact text Java hashes, and what a peer's protocol must share.

The handshake compares MD5(protocol text), so the text must be byte-for-byte what Flume 1.11.0's
`Protocol.toString()` prints: compact JSON, with the licence comment of flume.avdl as a top-level
"doc" (Avro's IDL parser attaches it). MD5 = 86aadae2c45474c0fe93ffd0f2350a65.

A peer's protocol may differ in text (docs, namespace) and still be usable: Avro resolves schemas
by unqualified name. `Protocol.requests` reduces each message's parameters to a *shape* (names,
types, field order; no docs, no namespaces) so a server can tell whether a client's message
reads exactly like its own, which is all the fast codec supports.
"""
from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from fastavro import parse_schema
from fastavro.types import Schema

from .errors import HandshakeError

_LICENCE = (
    "* Licensed to the Apache Software Foundation (ASF) under one\n"
    " * or more contributor license agreements.  See the NOTICE file\n"
    " * distributed with this work for additional information\n"
    " * regarding copyright ownership.  The ASF licenses this file\n"
    " * to you under the Apache License, Version 2.0 (the\n"
    ' * "License"); you may not use this file except in compliance\n'
    " * with the License.  You may obtain a copy of the License at\n"
    " *\n"
    " * http://www.apache.org/licenses/LICENSE-2.0\n"
    " *\n"
    " * Unless required by applicable law or agreed to in writing,\n"
    " * software distributed under the License is distributed on an\n"
    ' * "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY\n'
    " * KIND, either express or implied.  See the License for the\n"
    " * specific language governing permissions and limitations\n"
    " * under the License."
)
_TYPES_AND_MESSAGES = (
    '"types":[{"type":"enum","name":"Status","symbols":["OK","FAILED","UNKNOWN"]},'
    '{"type":"record","name":"AvroFlumeEvent","fields":[{"name":"headers","type":'
    '{"type":"map","values":"string"}},{"name":"body","type":"bytes"}]}],'
    '"messages":{"append":{"request":[{"name":"event","type":"AvroFlumeEvent"}],'
    '"response":"Status"},"appendBatch":{"request":[{"name":"events","type":'
    '{"type":"array","items":"AvroFlumeEvent"}}],"response":"Status"}}}'
)
# json.dumps escapes the doc's quotes and newlines exactly as Java's printer does.
FLUME_PROTOCOL_TEXT = ('{"protocol":"AvroSourceProtocol",'
                       '"namespace":"org.apache.flume.source.avro",'
                       f'"doc":{json.dumps(_LICENCE)},{_TYPES_AND_MESSAGES}')

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_NAMED_KINDS = frozenset({"record", "error", "enum", "fixed"})
MAX_SHAPE_NODES = 10_000  # Flume's protocol has 15
Shape = Any  # nested tuples: "string", ("map", shape), ("record", name, ((field, shape), ...))


class Status(enum.Enum):
    """Flume's call result; the enum's symbols are matched by name across protocols."""
    OK = "OK"
    FAILED = "FAILED"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, eq=False)
class Protocol:
    """A protocol's text and hash, and the shape of each message's request and response."""
    text: str
    md5: bytes
    name: str
    requests: dict[str, Shape]
    responses: dict[str, Shape]

    @classmethod
    def parse(cls, text: str, md5: bytes | None = None) -> Protocol:
        """Parse a peer's protocol; `md5` is the hash the peer claims (Java trusts it, so do we)."""
        try:
            doc = json.loads(text)
            shapes = _Shapes(doc)
            requests, responses = {}, {}
            for message, spec in doc.get("messages", {}).items():
                params = spec["request"]
                requests[message] = tuple((p["name"], shapes.of(p["type"])) for p in params)
                responses[message] = shapes.of(spec["response"])
            name = doc["protocol"]
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            raise HandshakeError(f"unusable protocol text: {exc!r}") from exc
        digest = md5 if md5 is not None else hashlib.md5(text.encode("utf-8")).digest()
        return cls(text, digest, str(name), requests, responses)

    def status_symbols(self, message: str) -> tuple[str, ...]:
        """The symbols of `message`'s enum response, in this protocol's order."""
        shape = self.responses.get(message)
        if not (isinstance(shape, tuple) and shape[0] == "enum"):
            raise HandshakeError(f"{self.name}.{message} does not answer an enum")
        return shape[2]


def _named_types(doc: dict) -> dict[str, dict]:
    """Every named type defined anywhere in the protocol, by unqualified name."""
    named: dict[str, dict] = {}
    nodes: list = list(doc.get("types", []))
    for spec in doc.get("messages", {}).values():
        nodes.extend(p["type"] for p in spec["request"])
        nodes.append(spec["response"])
    while nodes:
        node = nodes.pop()
        if isinstance(node, list):
            nodes.extend(node)
        elif isinstance(node, dict):
            if node.get("type") in _NAMED_KINDS:
                named[node["name"].rsplit(".", 1)[-1]] = node
            nodes.extend(f["type"] for f in node.get("fields", []))
            nodes.extend(node[key] for key in ("items", "values") if key in node)
    return named


class _Shapes:
    """Reduces schemas to shapes: no docs, namespaces or aliases, only what decides how bytes read.

    Named types expand where used, so a hostile text nesting records two by two would expand
    exponentially; a budget of nodes stops it.
    """

    def __init__(self, doc: dict) -> None:
        self.named = _named_types(doc)
        self.budget = MAX_SHAPE_NODES

    def of(self, node: Any, seen: frozenset = frozenset()) -> Shape:
        self.budget -= 1
        if self.budget < 0:
            raise HandshakeError(f"protocol schemas expand to more than {MAX_SHAPE_NODES} nodes")
        if isinstance(node, str):
            if node in _PRIMITIVES:
                return node
            name = node.rsplit(".", 1)[-1]
            return ("ref", name) if name in seen else self.of(self.named[name], seen | {name})
        if isinstance(node, list):
            return ("union", *(self.of(branch, seen) for branch in node))
        kind = node["type"]
        if kind in ("record", "error"):
            name = node["name"].rsplit(".", 1)[-1]
            fields = node["fields"]
            inner = seen | {name}
            return ("record", name, tuple((f["name"], self.of(f["type"], inner)) for f in fields))
        if kind == "enum":
            return ("enum", node["name"].rsplit(".", 1)[-1], tuple(str(s) for s in node["symbols"]))
        if kind == "fixed":
            return ("fixed", node["name"].rsplit(".", 1)[-1], int(node["size"]))
        if kind in ("array", "map"):
            return (kind, self.of(node["items" if kind == "array" else "values"], seen))
        return self.of(kind, seen)


FLUME_PROTOCOL = Protocol.parse(FLUME_PROTOCOL_TEXT)


def _reference_schemas() -> tuple[Schema, Schema, Schema]:
    """fastavro schemas of Status, AvroFlumeEvent and array<AvroFlumeEvent>, from the text above."""
    doc = json.loads(FLUME_PROTOCOL_TEXT)
    status, event = ({**t, "namespace": doc["namespace"]} for t in doc["types"])
    events = {"type": "array", "items": event}
    return parse_schema(status), parse_schema(event), parse_schema(events)


# The reference for every Flume schema (docs/architecture.md 4): the fast codec is tested against
# these.
STATUS_SCHEMA, EVENT_SCHEMA, EVENTS_SCHEMA = _reference_schemas()
