"""Where the tests find their data: inside the repository, so a plain clone runs them."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Golden captures of Apache Flume 1.11.0's own Avro client and server, byte for byte as recorded.
AVRO_FIXTURES = REPO / "tests" / "fixtures" / "avro"

# The seed's six example configs (deploy/demo/README.md), as the demo runs them.
SEED_EXAMPLES = sorted(p for p in (REPO / "deploy" / "demo").glob("*.conf")
                       if p.name.startswith(("failover_", "loadbalance_")))


def nonempty(paths: list[Path], what: str) -> list[Path]:
    """Fail at collection when a parametrised test would silently become zero tests."""
    if not paths:
        raise FileNotFoundError(f"no {what} found under {REPO}")
    return paths
