"""The node registry loads once, whole, even when its first lookups come from many threads at once."""

from __future__ import annotations

import subprocess
import sys

_CHILD = """
import threading
from fenta.nodes.base import registry
barrier = threading.Barrier(32)
missing = []
def first_lookup():
    barrier.wait()
    if registry.get("Render") is None:
        missing.append(1)
threads = [threading.Thread(target=first_lookup) for _ in range(32)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(len(missing))
"""


def test_concurrent_first_lookups_all_find_the_built_in_nodes():
    # A fresh process: the registry's first load happens under these threads, not under pytest's imports.
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "0"
