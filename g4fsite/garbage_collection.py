"""The cyclic garbage collector, set for serving: called once the ASGI application has loaded.

With CPython's defaults a young collection runs whenever 700 more container objects are alive than
at the last one. Sixteen requests in flight hold more than that, so collections came every few dozen
requests, each walking every object of those requests (about 1.5 ms), and every few thousand
requests a full collection walked the ~120,000 objects of Django, the catalogue and the imported
modules (about 100 ms, the event loop stalled meanwhile). Measured with `gc.callbacks` in
`bench.inprocess` (2026-11-30): 0.6 s of collections over 6,600 requests, about 90 µs per request.

What a request allocates is freed by reference counting when it ends; only cycles need the
collector. So the objects alive after start-up are frozen (`gc.freeze`: never walked again, nor
copied by a fork) and a young collection waits for `YOUNG_THRESHOLD` more objects: in-flight
requests stay below it, cyclic garbage is still collected.
"""

import gc

YOUNG_THRESHOLD = 20_000


def tune_for_serving() -> None:
    """Collect once, freeze what start-up left alive, raise the young generation's threshold."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
