"""Ordered fan-out of cache-building work to spawned processes.

Both training caches (``train.data`` for the single-target tracker,
``train.rmot_data`` for the referring tracker) render and encode clips
independently of each other, so they hand the clips to a process pool and
merge the results in clip order: the cache is the same for any number of
workers (each worker runs torch on one thread, as a one-worker run does).
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence, Tuple


def ordered_pool_map(fn: Callable[..., Any], args_list: Sequence[Tuple[Any, ...]], workers: int,
                     initializer: Callable[..., None], initargs: Tuple[Any, ...] = ()) -> Iterator[Any]:
    """Yield ``fn(*args)`` for every ``args`` of ``args_list``, in order,
    computed by ``workers`` spawned processes (each set up once by
    ``initializer(*initargs)``; ``fn`` and ``initializer`` must be
    module-level functions so they pickle)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    if workers < 2:
        raise ValueError(f"ordered_pool_map needs >= 2 workers (run one in-process), got {workers}")
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=initializer,
                             initargs=initargs) as pool:
        futures = [pool.submit(fn, *args) for args in args_list]
        for fut in futures:
            yield fut.result()
