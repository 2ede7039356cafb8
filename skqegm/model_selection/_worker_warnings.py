"""Warnings raised in a worker process, shown in the caller's as if raised there.

joblib's process backends (loky, the default for ``n_jobs > 1``) run each task in
another process, under that process's warning filters and ``stderr``: a warning raised
there (a ``ConvergenceWarning``, an inner search's ``FitFailedWarning``) never reaches
the caller's filters (``warnings.simplefilter``, ``pytest.warns``,
``logging.captureWarnings``) and, in a notebook, is not shown at all. Here the worker
applies the caller's filters (``"ignore"`` and ``"error"`` act there, as they would in
the caller), records what they would show, and the caller replays it with
``warnings.warn_explicit`` at the warning's own file, line and module: its filters then
decide, and its registries show each distinct warning once, as with ``n_jobs=1``. A
warning that points at the worker's frames around the task (joblib's, loky's,
``multiprocessing``'s: where ``caller_stacklevel`` ends in a worker, which has no user's
line) is replayed at the caller's line instead, as with ``n_jobs=1``. In the caller's
own process (``n_jobs=1``, the threading backend) nothing is changed.
"""

import os
import pickle
import sys
import traceback
import warnings

from ..utils._warnings import caller_stacklevel

# In the worker, what the caller would show is recorded (and shown, or not, by the
# caller's own filter on replay); what it ignores or raises is ignored or raised there.
_IN_WORKER = {"ignore": "ignore", "error": "error"}

# The registry of warnings shown from files that are no module in the caller's process
# (a module's own __warningregistry__ serves the others, as for warnings.warn).
_REGISTRY = {}


def caller_context():
    """The caller's process id and warning filters, for :class:`RecordedInWorker`.

    Returns
    -------
    context : tuple
        ``(pid, filters)``, the filters as ``(action, message, category, module,
        lineno)`` with the patterns as strings (picklable).
    """
    filters = tuple(
        (action, getattr(message, "pattern", message) or "", category,
         getattr(module, "pattern", module) or "", lineno)
        for action, message, category, module, lineno in warnings.filters)
    return os.getpid(), filters


class RecordedInWorker:
    """Record the warnings of a block run in a worker process, to replay in the caller.

    In the caller's own process (its id in ``context``) the block runs as it is: its
    warnings are shown and its exceptions raised there, and ``records`` stays empty. In
    another process the block runs under the caller's filters; the warnings they would
    show are kept in ``records`` (one entry per distinct warning, with its count), and
    an exception is kept in ``error`` with its traceback, for :func:`raise_in_caller`:
    raised, joblib would report the first refit to fail in time, dropping the outputs
    (and warnings) of the refits before it that are not yet collected.

    Parameters
    ----------
    context : tuple
        :func:`caller_context` of the caller.
    """

    def __init__(self, context):
        self.context = context
        self.records = []
        self.error = None
        self._log = None
        self._catcher = None
        self._around = frozenset()

    def __enter__(self):
        pid, filters = self.context
        if os.getpid() == pid:
            return self
        self._around = _lines_of(sys._getframe(1))
        self._catcher = warnings.catch_warnings(record=True)
        self._log = self._catcher.__enter__()
        warnings.resetwarnings()
        for action, message, category, module, lineno in filters:
            warnings.filterwarnings(_IN_WORKER.get(action, "always"), message, category,
                                    module, lineno, append=True)
        warnings.simplefilter("always", append=True)  # Python's default is to show
        return self

    def __exit__(self, kind, exc, tb):
        if self._catcher is None:
            return False
        self._catcher.__exit__(kind, exc, tb)
        self.records = _distinct(self._log, self._around)
        if not isinstance(exc, Exception) or not _pickles(exc):
            return False  # KeyboardInterrupt, or an error joblib must report itself
        self.error = (exc, "".join(traceback.format_exception(kind, exc, tb)))
        return True


class WorkerTraceback(Exception):
    """The traceback of an exception raised in a worker process (its ``__cause__``)."""

    def __str__(self):
        return "\n" + self.args[0]


def raise_in_caller(error):
    """Raise ``RecordedInWorker.error`` in the caller's process, the worker's traceback
    as its cause (as joblib does).

    Parameters
    ----------
    error : tuple
        The exception and its traceback, formatted.
    """
    exc, text = error
    raise exc from WorkerTraceback(text)


def _pickles(obj):
    try:
        pickle.dumps(obj)
        return True
    except Exception:
        return False


def _lines_of(frame):
    """``(filename, lineno)`` of ``frame`` and of every frame it was called from."""
    lines = set()
    while frame is not None:
        lines.add((frame.f_code.co_filename, frame.f_lineno))
        frame = frame.f_back
    return frozenset(lines)


def _distinct(log, around=frozenset()):
    """``(message, filename, lineno, module, count)`` of each distinct warning, in the
    order first raised: a warning repeated at every epoch travels once. One that points
    at a line of ``around`` (the worker's frames around the task) has ``None`` for its
    file, line and module: it is shown at the caller's line."""
    if not log:
        return []
    modules = {_file_of(module): name for name, module in list(sys.modules.items())}
    counts = {}
    for entry in log:
        where = (entry.filename, entry.lineno)
        if where in around:
            where = (None, None)
        key = (entry.category, str(entry.message)) + where
        if key in counts:
            counts[key][-1] += 1
            continue
        module = where[0] and (modules.get(where[0]) or _module_of_path(where[0]))
        counts[key] = [_picklable(entry.message), *where, module, 1]
    return [tuple(record) for record in counts.values()]


def _file_of(module):
    try:
        return getattr(module, "__file__", None)
    except Exception:  # a lazy module that imports on attribute access, and fails
        return None


def _module_of_path(filename):
    # What warnings.warn_explicit takes for a file that is no module's.
    return filename[:-3] if filename.endswith(".py") else filename or "<unknown>"


def _picklable(message):
    """The warning itself if it pickles (it must travel back to the caller), else a
    ``UserWarning`` naming its category, with its text."""
    if _pickles(message):
        return message
    return UserWarning(f"{type(message).__name__}: {message}")


def replay_warnings(records):
    """Warn, in the caller's process, each warning a worker recorded, as often as it was
    raised, at its own file, line and module (so that the caller's filters and the
    module's registry of warnings shown act on it as on a warning raised here); one
    without a file at the caller's line, past skqegm's, scikit-learn's and joblib's
    frames.

    Parameters
    ----------
    records : list of tuple
        ``RecordedInWorker.records``.
    """
    for message, filename, lineno, module, count in records:
        if filename is None:
            for _ in range(count):
                warnings.warn(message, type(message), stacklevel=caller_stacklevel())
            continue
        home = sys.modules.get(module)
        registry = (_REGISTRY if home is None
                    else vars(home).setdefault("__warningregistry__", {}))
        for _ in range(count):
            warnings.warn_explicit(message, type(message), filename, lineno,
                                   module=module, registry=registry)
