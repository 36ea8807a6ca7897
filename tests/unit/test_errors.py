"""One exception root: every exception class zflume defines derives from ZflumeError."""
from __future__ import annotations

import importlib
import inspect

from proto.errors import ZflumeError
from tests.paths import REPO


def defined_exceptions() -> list[type[BaseException]]:
    found = []
    for package in ("services", "proto", "deploy"):
        for path in sorted((REPO / package).rglob("*.py")):
            module = importlib.import_module(
                ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"))
            found += [cls for _, cls in inspect.getmembers(module, inspect.isclass)
                      if issubclass(cls, BaseException) and cls.__module__ == module.__name__]
    return found


def test_every_exception_zflume_defines_has_one_root() -> None:
    exceptions = defined_exceptions()
    assert len(exceptions) > 20  # the scan finds them
    assert [cls.__qualname__ for cls in exceptions if not issubclass(cls, ZflumeError)] == []
