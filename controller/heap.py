"""Keep the garbage collector off the process's old objects while a run goes on.

A run keeps every message record and response (a pause repeats from the last checkpoint by replaying
them), so the collector's youngest generations keep promoting objects and now and then a full collection
walks the whole heap. In a process holding a large import graph (a ``hilcal`` session imports pandas,
SciPy and SQLAlchemy, about 170 000 objects), those full collections cost more per scan point than the
journal does (docs/benchmarks.md). ``gc.freeze()`` at the start of a run moves every object that exists
then into a generation the collector does not walk; ``gc.unfreeze()`` at its end gives them back, so
nothing stays out of reach of the collector after the run. A process that froze objects itself (a forking
server does) is left as it is.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_runs = 0  # runs under way that froze (or found frozen by us) the heap
_ours = False  # whether the objects in the permanent generation were frozen here


@contextmanager
def old_objects_frozen() -> Iterator[None]:
    """While the block runs, full collections walk only what was created inside it (and other runs)."""
    global _runs, _ours
    with _lock:
        if _runs == 0:
            _ours = gc.isenabled() and gc.get_freeze_count() == 0
            if _ours:
                gc.freeze()
        _runs += 1
    try:
        yield
    finally:
        with _lock:
            _runs -= 1
            if _runs == 0 and _ours:
                gc.unfreeze()
                _ours = False
