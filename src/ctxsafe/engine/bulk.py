"""Bulk building of many small objects without the cyclic garbage collector rescanning them all.

Why: reading a 10,000-turn run back from the store builds tens of thousands of pydantic objects;
each burst of allocations triggers collections that walk every live object, which made those reads
about twice as slow as the parsing itself. The objects are acyclic and freed by reference counting,
so pausing the collector while they are built loses nothing; it runs as usual afterwards.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC for the block (re-entrant; restores the previous state)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
