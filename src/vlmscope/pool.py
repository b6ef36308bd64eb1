"""Work over worker processes that stop when the work does (``vlmscope compare --jobs N``): SIGTERM and SIGINT in
the main process terminate every worker at once, and a worker that dies (the OOM killer, a signal) costs only
the items it held, each run again alone in a fresh process."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def run(work: Callable[[Item], Result], items: Sequence[Item], jobs: int, on_done: Callable[[Item], None] | None,
        died: Callable[[Item], Result]) -> list[Result]:
    """``work`` on every item over ``jobs`` processes, in the items' order. When a worker dies, the pool
    breaks and every item it still held runs again, each alone in a fresh process: one that kills its process
    again gets ``died(item)``, the others their results."""
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    done: dict[int, Result] = {}
    with ProcessPoolExecutor(max_workers=min(jobs, len(items)), initializer=_worker_start) as pool, \
            _workers_stop_with(pool):
        futures = {pool.submit(work, item): i for i, item in enumerate(items)}
        for future in as_completed(futures):
            try:
                done[futures[future]] = future.result()
            except BrokenProcessPool:
                continue
            if on_done is not None:
                on_done(items[futures[future]])
    for i in (i for i in range(len(items)) if i not in done):
        done[i] = _alone(work, items[i], died)
        if on_done is not None:
            on_done(items[i])
    return [done[i] for i in range(len(items))]


def _worker_start() -> None:
    """A worker dies of SIGTERM, as terminate() means. It would otherwise inherit the main process's handler
    through fork, and concurrent.futures' worker catches the SystemExit that raises in an item and takes the
    next one, so that stopped work waited for a worker's item to finish."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextlib.contextmanager
def _workers_stop_with(pool: Any) -> Iterator[None]:
    """The workers stop when the work does: SIGTERM becomes SystemExit(143) in the main process (as SIGINT is
    KeyboardInterrupt), and on either, or any error, every worker is terminated at once and the queued items
    cancelled, instead of the workers finishing their items as orphans."""
    import signal
    import threading

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, stop) if main else None
    try:
        yield
    except BaseException:
        for process in list((getattr(pool, "_processes", None) or {}).values()):
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)


def _alone(work: Callable[[Item], Result], item: Item, died: Callable[[Item], Result]) -> Result:
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    with ProcessPoolExecutor(max_workers=1) as pool:
        try:
            return pool.submit(work, item).result()
        except BrokenProcessPool:
            return died(item)
