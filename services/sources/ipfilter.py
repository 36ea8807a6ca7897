"""Flume's `ipFilter` / `ipFilterRules`: which client addresses a listening source accepts.

    ipFilterRules = allow:ip:127.*,allow:name:localhost,deny:ip:*

Rules are comma separated, each `allow|deny : ip|name : pattern`, tried in order: the first
whose pattern matches decides, and a client no rule matches is accepted (Flume's
RuleBasedIpFilter). A pattern matches the whole text, the client's address for `ip`, its name
for `name`; in it `.` is a literal dot, `*` any run of characters, `?` one character, and the
rest is a regular expression as in Java (Flume's PatternRule). `name:localhost` matches the
loopback address 127.0.0.1 and the host's own address rather than a name.

A name rule needs a reverse lookup, which can take seconds: `needs_names` tells the source to
resolve off its main loop (services/sources/avro.py).
"""
from __future__ import annotations

import re
import socket
from typing import NamedTuple

SYNTAX = "should look like <allow or deny>:<ip or name>:<pattern>"


class Rule(NamedTuple):
    allow: bool
    by_name: bool
    pattern: re.Pattern[str] | None  # None for name:localhost
    text: str


def parse_rules(text: str) -> list[Rule]:
    """The rules of an `ipFilterRules` value; ValueError naming the first malformed one."""
    if not text.strip():
        raise ValueError("ipFilterRules is empty: no rule to filter with")
    return [_parse_rule(part.strip()) for part in text.split(",")]


def _parse_rule(text: str) -> Rule:
    access, _, rest = text.partition(":")
    kind, colon, pattern = rest.partition(":")
    if access not in ("allow", "deny") or kind not in ("ip", "name") or not colon:
        raise ValueError(f"invalid ipFilter rule '{text}': {SYNTAX}")
    by_name = kind == "name"
    if by_name and pattern == "localhost":
        return Rule(access == "allow", True, None, text)
    regex = pattern.replace(".", r"\.").replace("*", ".*").replace("?", ".")
    try:
        return Rule(access == "allow", by_name, re.compile(regex), text)
    except re.error as exc:
        raise ValueError(f"invalid ipFilter rule '{text}': bad pattern ({exc})") from exc


class IpFilter:
    """First match decides; no match accepts."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self.needs_names = any(rule.by_name and rule.pattern is not None for rule in rules)
        self._own = _own_addresses()

    def accepts(self, address: str, name: str | None = None) -> bool:
        """Whether a client at `address` (its reverse-resolved `name`, when a rule needs it)
        may connect. Without a name, name patterns are tried against the address, as Java's
        getHostName() returns the address when the lookup finds nothing."""
        for rule in self.rules:
            if self._matches(rule, address, name or address):
                return rule.allow
        return True

    def _matches(self, rule: Rule, address: str, name: str) -> bool:
        if rule.pattern is None:
            return address in self._own
        return rule.pattern.fullmatch(name if rule.by_name else address) is not None

    def rule_for(self, address: str, name: str | None = None) -> str:
        """The text of the rule that decides for `address` ('' when none matches), for logs."""
        return next((rule.text for rule in self.rules
                     if self._matches(rule, address, name or address)), "")


def reverse_name(address: str) -> str:
    """The client's host name, or its address when it has none (blocking: call off the loop)."""
    try:
        return socket.gethostbyaddr(address)[0]
    except OSError:
        return address


def _own_addresses() -> set[str]:
    """127.0.0.1 and the addresses this host's name resolves to (Java's getLocalHost)."""
    own = {"127.0.0.1"}
    try:
        own.update(socket.gethostbyname_ex(socket.gethostname())[2])
    except OSError:
        pass
    return own
