"""libaugeas calls never overlap across threads (its regex compiler has process-global
state), while each thread keeps its own handle."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from migrator.config.tree import Serialised


class _Recorder:
    """A stand-in handle that notes how many calls run at once."""

    def __init__(self, seen: list[int], lock: threading.Lock, running: list[int]) -> None:
        self.seen, self.lock, self.running = seen, lock, running

    def load(self) -> str:
        with self.lock:
            self.running[0] += 1
            self.seen.append(self.running[0])
        time.sleep(0.002)
        with self.lock:
            self.running[0] -= 1
        return "loaded"


def test_calls_on_separate_handles_from_many_threads_never_overlap() -> None:
    seen: list[int] = []
    running = [0]
    lock = threading.Lock()
    handles = [Serialised(_Recorder(seen, lock, running)) for _ in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda n: handles[n % 8].load(), range(80)))
    assert results == ["loaded"] * 80
    assert len(seen) == 80 and max(seen) == 1
