"""services.heap: freed message-sized buffers are reused instead of faulted in afresh."""
from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import pytest

from services import heap

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Fills eight 1 MiB buffers and frees them, 50 times over (flights of events arriving, held until
# acknowledged, then dropped), and prints the minor page faults taken after the first rounds.
CHURN = """
import resource, sys
from services.heap import reuse_freed_buffers
if sys.argv[1] == "tuned":
    reuse_freed_buffers()
def flights(n):
    for _ in range(n):
        held = [b"x" * (1 << 20) for _ in range(8)]
        del held
flights(3)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
flights(50)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

glibc = pytest.mark.skipif(getattr(ctypes.CDLL(None), "mallopt", None) is None,
                           reason="mallopt is glibc's")


def page_faults(mode: str, **env: str) -> int:
    environ = {k: v for k, v in os.environ.items() if k not in heap.USER_SETTINGS}
    result = subprocess.run([sys.executable, "-c", CHURN, mode], cwd=REPO, check=True,
                            capture_output=True, text=True, env={**environ, **env})
    return int(result.stdout)


@glibc
def test_default_heap_faults_every_buffer_in_and_tuned_heap_reuses_it() -> None:
    # 400 buffers of 256 pages each: by default most are faulted in afresh
    assert page_faults("default") > 50_000
    assert page_faults("tuned") < 1000


@glibc
def test_a_users_own_glibc_setting_is_kept() -> None:
    # MALLOC_MMAP_THRESHOLD_ below 1 MiB keeps mapping each buffer: ours did not override it
    assert page_faults("tuned", MALLOC_MMAP_THRESHOLD_="131072") > 50_000
