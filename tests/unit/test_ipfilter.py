"""ipFilterRules: Flume's syntax, first match wins, no match accepts (TestAvroSource's cases)."""
from __future__ import annotations

import pytest

from services.sources.ipfilter import IpFilter, parse_rules

LOCAL = "127.0.0.1"


def accepts(rules: str, address: str = LOCAL, name: str | None = None) -> bool:
    return IpFilter(parse_rules(rules)).accepts(address, name)


@pytest.mark.parametrize("rules", [
    "allow:name:localhost,deny:ip:*",
    f"allow:ip:{LOCAL},deny:ip:*",
    "allow:ip:*",
    f"allow:ip:{LOCAL[:3]}*,deny:ip:*",
    f"allow:ip:127.0.0.2,allow:ip:{LOCAL[:3]}*,deny:ip:*",
    "allow:ip:127.0.0.?,deny:ip:*",
    "deny:ip:10.*",  # no rule matches: accepted
])
def test_allowed(rules: str) -> None:
    assert accepts(rules)


@pytest.mark.parametrize("rules", [
    "deny:ip:*",
    "deny:name:localhost",
    f"deny:ip:{LOCAL},allow:ip:*",
    "allow:ip:45.2.2.2,deny:ip:*",
    f"deny:ip:{LOCAL[:3]}*,allow:ip:*",
    "deny:ip:127.0.0.[0-9],allow:ip:*",  # the rest of a pattern is a regular expression
])
def test_denied(rules: str) -> None:
    assert not accepts(rules)


def test_first_matching_rule_decides() -> None:
    rules = "deny:ip:127.0.0.2,allow:ip:127.*,deny:ip:*"
    assert not accepts(rules, "127.0.0.2")
    assert accepts(rules, "127.0.0.3")
    assert not accepts(rules, "::1")


def test_a_pattern_matches_the_whole_address() -> None:
    assert accepts("deny:ip:127.0.0.1", "127.0.0.10")
    assert not accepts("deny:ip:127.0.0.1*", "127.0.0.10")


def test_name_rules_match_the_resolved_name_or_else_the_address() -> None:
    rules = "allow:name:*.example.org,deny:ip:*"
    assert accepts(rules, "127.0.0.5", "web1.example.org")
    assert not accepts(rules, "127.0.0.5", "web1.example.com")
    assert IpFilter(parse_rules(rules)).needs_names
    assert not IpFilter(parse_rules("allow:name:localhost,deny:ip:*")).needs_names
    assert accepts("allow:name:127.0.0.*,deny:ip:*", "127.0.0.5")  # no name: the address


def test_the_deciding_rule_is_named_for_the_log() -> None:
    ip_filter = IpFilter(parse_rules("allow:ip:127.0.0.2, deny:ip:127.*"))
    assert ip_filter.rule_for("127.0.0.3") == "deny:ip:127.*"
    assert ip_filter.rule_for("::1") == ""


@pytest.mark.parametrize("rules, why", [
    ("", "ipFilterRules is empty"),
    ("   ", "ipFilterRules is empty"),
    ("homer:ip:45.4.23.1", "invalid ipFilter rule 'homer:ip:45.4.23.1'"),
    ("allow:sleeps:45.4.23.1", "invalid ipFilter rule 'allow:sleeps:45.4.23.1'"),
    ("allow:ip", "invalid ipFilter rule 'allow:ip'"),
    ("allow:ip:*,deny", "invalid ipFilter rule 'deny'"),
    ("allow:ip:127.0.0.(", "bad pattern"),
])
def test_malformed_rules_are_refused_naming_ipfilter(rules: str, why: str) -> None:
    with pytest.raises(ValueError, match=r"ipFilter") as caught:
        parse_rules(rules)
    assert why in str(caught.value)
