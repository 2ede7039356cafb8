"""Torch's intra-op thread count, held at one while skqegm's own torch work runs."""

import contextlib
import threading

import torch


class _TorchThreads:
    """Torch's intra-op thread count, held at one while any skqegm work runs.

    The networks are small, so a second thread gains nothing (measured), while two
    processes that each spin two threads on two cores, as in ``GridSearchCV(n_jobs=2)``,
    ran 20x slower than one alone. Work that pays for several cores splits its rows over
    Python threads instead, each running single-threaded torch (the simulator's forward
    path). The setting is global to the process, so concurrent users in threads share
    one reference count: the first sets one thread, the last restores the caller's
    setting, also when interrupted.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._users = 0
        self._saved = None

    @contextlib.contextmanager
    def single(self):
        with self._lock:
            if self._users == 0:
                self._saved = torch.get_num_threads()
                torch.set_num_threads(1)
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    torch.set_num_threads(self._saved)


#: Use as ``with single_torch_thread(): ...`` around torch work.
single_torch_thread = _TorchThreads().single
