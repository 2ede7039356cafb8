"""Jobs on quantum backends, run as production runs them: retries, timeouts, a shot budget,
a record of every job, and no credentials in anything a model keeps.

Every primitive call of :class:`~skqegm.quantum.CircuitRunner` goes through a
:class:`JobManager`:

- transient faults (connection errors, timeouts, a runtime job that failed or was
  cancelled by the service, a result of the wrong shape or with NaN) are retried up to
  ``max_retries`` times, after an exponential backoff with jitter drawn from a seeded
  generator; any other error is raised at once;
- a job that has not finished after ``job_timeout`` seconds is cancelled and retried;
- after the last retry one :class:`~skqegm.exceptions.QuantumJobError` names every job id;
- ``max_shots`` refuses a job that would take the shots submitted past the budget,
  before it is submitted;
- inside :meth:`JobManager.scope` (a fit), IBM devices run their jobs in one ``Batch``
  (or ``Session``) opened on the first job and closed when the scope ends; a fake
  device's jobs run in this process (:class:`LocalJob`), with the same budget and records.

Events go to the ``skqegm`` logger (:mod:`logging`), never to print; they name backends
and job ids, nothing else of the account.

A device whose service holds an account (an ``IBMBackend``, or a primitive or batch
built on one) is replaced by a :class:`DeviceRecord` when a model is pickled or saved
with skops: the record describes the device (name, qubits, gates, coupling map,
calibration time) and cannot submit; re-attach the device with
``set_params(backend=...)`` to run circuits again.
"""

import contextlib
import copyreg
import logging
import time
import warnings

import numpy as np

from ..exceptions import QuantumJobError, ShotBudgetError
from ..utils._validation import check_int, check_option, check_real

logger = logging.getLogger(__name__)

#: Retries of a transient fault before a job fails for good (the default ``max_retries``).
DEFAULT_MAX_RETRIES = 3
#: The parameters that say how jobs run, not what they compute. A fitted model or
#: transformer reads their current values at each call that submits jobs, so
#: ``set_params`` of these takes effect at once; ``backend``, ``shots`` and the circuit
#: define the fitted results and stay those of the fit until a refit.
JOB_PARAMETERS = ("max_shots", "max_retries", "job_timeout", "fallback")
#: The first retry waits about this many seconds; each further retry doubles it.
BACKOFF_BASE_S = 1.0
#: No retry waits longer than this (before jitter).
BACKOFF_MAX_S = 60.0
# Each delay is stretched by a uniform fraction up to this, so that clients that failed
# together do not retry together.
_JITTER = 0.5
# Seconds between two looks at a job that has a timeout.
_POLL_S = 1.0
# Injected by tests (deterministic retries, no real waiting): looked up at each call.
_sleep = time.sleep
_clock = time.monotonic


class DeviceRecord:
    """A device described without its service: what a saved model keeps of a remote backend.

    Parameters
    ----------
    name : str
        The device's name.
    num_qubits : int or None, default=None
        Its qubits.
    basis_gates : list of str, default=()
        The operations of its target.
    coupling_map : list of [int, int], default=()
        Its two-qubit connections.
    calibration_time : str or None, default=None
        When its calibration data were last updated (ISO 8601).
    backend_version : str or None, default=None
        The device's version.

    Examples
    --------
    >>> from qiskit_ibm_runtime.fake_provider import FakeManilaV2
    >>> from skqegm.quantum import DeviceRecord
    >>> record = DeviceRecord.from_backend(FakeManilaV2())
    >>> record, record.num_qubits, record.calibration_time[:10]
    (DeviceRecord('fake_manila'), 5, '2024-05-27')
    """

    def __init__(self, name, num_qubits=None, basis_gates=(), coupling_map=(),
                 calibration_time=None, backend_version=None):
        self.name = name
        self.num_qubits = num_qubits
        self.basis_gates = list(basis_gates)
        self.coupling_map = [list(edge) for edge in coupling_map]
        self.calibration_time = calibration_time
        self.backend_version = backend_version

    @classmethod
    def from_backend(cls, backend):
        """The record of a ``BackendV2`` (or of the device behind a primitive)."""
        device = _device_of(backend)
        target = getattr(device, "target", None)
        coupling = []
        if target is not None:
            with contextlib.suppress(Exception):  # a target without two-qubit gates
                coupling = sorted({tuple(edge) for edge in target.build_coupling_map()
                                   .get_edges()})
        return cls(
            name=backend_name(device),
            num_qubits=getattr(device, "num_qubits", None),
            basis_gates=sorted(target.operation_names) if target is not None else (),
            coupling_map=coupling,
            calibration_time=calibration_time(device),
            backend_version=_as_str(getattr(device, "backend_version", None)),
        )

    def as_dict(self):
        """The record as a dict of plain values (what ``provenance_`` holds)."""
        return dict(vars(self))

    def __repr__(self):
        return f"DeviceRecord({self.name!r})"

    def __eq__(self, other):
        return isinstance(other, DeviceRecord) and vars(self) == vars(other)

    __hash__ = None


def backend_name(backend):
    """A readable name: the string itself, a device's name, or a primitive's class.

    Examples
    --------
    >>> from qiskit.primitives import StatevectorSampler
    >>> from skqegm.quantum.runtime import backend_name
    >>> backend_name("aer"), backend_name(None), backend_name(StatevectorSampler())
    ('aer', 'exact', 'StatevectorSampler')
    """
    if backend is None:
        return "exact"
    if isinstance(backend, str):
        return backend
    name = getattr(backend, "name", None)
    return name if isinstance(name, str) else type(backend).__name__


def calibration_time(backend):
    """When the device's calibration data were last updated, ISO 8601, or ``None``.

    Examples
    --------
    >>> from qiskit_ibm_runtime.fake_provider import FakeManilaV2
    >>> from skqegm.quantum.runtime import calibration_time
    >>> calibration_time(FakeManilaV2())[:10], calibration_time("aer")
    ('2024-05-27', None)
    """
    try:
        properties = backend.properties()
    except Exception:  # a simulator or primitive has no calibration
        return None
    return _as_str(getattr(properties, "last_update_date", None))


def carries_credentials(backend):
    """Whether ``backend`` (or the device or batch behind a primitive) holds a service
    with an account: an ``IBMBackend`` and what is built on one do, fake devices and
    simulators do not.

    Examples
    --------
    >>> from qiskit_ibm_runtime.fake_provider import FakeManilaV2
    >>> from skqegm.quantum.runtime import carries_credentials
    >>> carries_credentials(FakeManilaV2()), carries_credentials("aer")
    (False, False)
    """
    if backend is None or isinstance(backend, (str, DeviceRecord)):
        return False
    candidates = [backend] + [vars(backend).get(name) for name in ("_backend", "_mode")
                              if hasattr(backend, "__dict__")]
    return any(_remote_service(getattr(obj, "_service", None)) for obj in candidates
               if obj is not None)


def detach_backend(backend):
    """``backend`` itself, or its :class:`DeviceRecord` when it carries credentials.

    What models and transformers save in place of their ``backend`` and ``fallback``
    parameters (pickle, joblib, skops).

    Examples
    --------
    >>> from qiskit_ibm_runtime.fake_provider import FakeManilaV2
    >>> from skqegm.quantum.runtime import detach_backend
    >>> device = FakeManilaV2()
    >>> detach_backend("aer"), detach_backend(device) is device  # nothing to hide
    ('aer', True)
    """
    if carries_credentials(backend):
        return DeviceRecord.from_backend(backend)
    return backend


class BackendPersistenceMixin:
    """Saving an estimator whose backends are Qiskit objects: skops.io is refused clearly.

    pickle and joblib store a fake device or a primitive given as ``backend`` (or
    ``fallback``) as they are; skops.io cannot store most of them (a fake device, Aer's
    primitives) and failed deep inside, with a ``TypeError`` such as "cannot pickle
    'complex' object". skops gives no hook of its own, and it reads an object's
    ``__getstate__`` exactly as pickle does; but it calls the object's ``__reduce__()``
    first, where pickle, ``copy`` and joblib call ``__reduce_ex__(protocol)``. So
    ``__reduce__`` tries each of the estimator's backends with ``skops.io.dumps`` and
    raises a ``TypeError`` that names the backend and what to do instead, and
    ``__reduce_ex__`` gives what ``object.__reduce_ex__`` gives (which would otherwise
    call the overridden ``__reduce__``). Strings, ``None``,
    :class:`DeviceRecord` and the primitives that skops stores (such as Qiskit's
    ``StatevectorSampler``) pass. Should skops stop calling ``__reduce__``, its own
    error comes back, nothing else changes.

    The attributes checked are ``_saved_backends``: ``backend`` and ``fallback``.

    Examples
    --------
    >>> import pickle
    >>> from qiskit_ibm_runtime.fake_provider import FakeManilaV2
    >>> from skqegm.quantum import SamplerTransformer
    >>> qt = SamplerTransformer(backend=FakeManilaV2())
    >>> pickle.loads(pickle.dumps(qt)).backend.name
    'fake_manila'
    >>> import skops.io as sio
    >>> sio.dumps(qt)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    TypeError: skops.io cannot store SamplerTransformer's backend fake_manila ...
    """

    _saved_backends = ("backend", "fallback")

    def __reduce_ex__(self, protocol):
        # object.__reduce_ex__'s result for protocol 2 and later, valid for every protocol.
        return copyreg.__newobj__, (type(self),), self.__getstate__()

    def __reduce__(self):
        # Called by skops.io (see the class docstring), not by pickle, copy or joblib.
        _check_skops_stores(self)
        return self.__reduce_ex__(2)


def _check_skops_stores(estimator):
    """Raise a clear ``TypeError`` if skops.io cannot store a backend of ``estimator``."""
    try:
        import skops.io as sio
    except ImportError:  # pragma: no cover - only skops calls __reduce__
        return
    for name in estimator._saved_backends:
        backend = detach_backend(vars(estimator).get(name))
        if backend is None or isinstance(backend, (str, DeviceRecord)):
            continue
        try:
            sio.dumps(backend)
        except Exception as exc:
            what = name.lstrip("_").replace("_", " ")
            raise TypeError(
                f"skops.io cannot store {type(estimator).__name__}'s {what} "
                f"{backend_name(backend)} (a {type(backend).__name__}: "
                f"{type(exc).__name__}: {exc}). Save it with pickle or joblib, which keep "
                "the backend; skops stores backends named by a string ('aer', "
                "'statevector'), some primitives (StatevectorSampler) and a real IBM "
                "device's description.") from exc


def _remote_service(service):
    if service is None:
        return False
    try:
        from qiskit_ibm_runtime.fake_provider.local_service import QiskitRuntimeLocalService
    except ImportError:  # pragma: no cover - qiskit-ibm-runtime is a dependency
        return True
    return not isinstance(service, QiskitRuntimeLocalService)


def _device_of(backend):
    """The device behind a primitive or batch (its ``_backend``), else ``backend``."""
    device = vars(backend).get("_backend") if hasattr(backend, "__dict__") else None
    return device if device is not None and hasattr(device, "target") else backend


def _as_str(value):
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


class InvalidResultError(RuntimeError):
    """A job returned a result of the wrong shape or with values that are not finite.

    Retried as a transient fault: a fault must never turn into wrong numbers.

    Examples
    --------
    >>> from skqegm.quantum.runtime import InvalidResultError, transient_errors
    >>> InvalidResultError in transient_errors()
    True
    """


class JobTimeoutError(TimeoutError):
    """A job did not finish within ``job_timeout`` seconds (it was cancelled).

    Examples
    --------
    >>> from skqegm.quantum.runtime import JobTimeoutError
    >>> issubclass(JobTimeoutError, TimeoutError)
    True
    """


def transient_errors():
    """The exception classes retried with backoff: anything else fails at once.

    Returns
    -------
    errors : tuple of type
        Connection errors and timeouts (Python's, ``requests``'), Qiskit's
        ``JobTimeoutError``, qiskit-ibm-runtime's ``RuntimeJobFailureError`` (a job that
        ended in error) and ``RuntimeInvalidStateError`` (a job cancelled by the service),
        and a result of the wrong shape or with NaN (:class:`InvalidResultError`).

    Examples
    --------
    >>> from skqegm.quantum.runtime import transient_errors
    >>> ConnectionError in transient_errors(), ValueError in transient_errors()
    (True, False)
    """
    errors = [ConnectionError, TimeoutError, InvalidResultError]
    with contextlib.suppress(ImportError):
        from qiskit.providers import JobTimeoutError as QiskitJobTimeoutError

        errors.append(QiskitJobTimeoutError)
    with contextlib.suppress(ImportError):
        import requests

        errors += [requests.exceptions.ConnectionError, requests.exceptions.Timeout]
    with contextlib.suppress(ImportError):
        from qiskit_ibm_runtime.exceptions import (
            RuntimeInvalidStateError,
            RuntimeJobFailureError,
        )

        errors += [RuntimeJobFailureError, RuntimeInvalidStateError]
    return tuple(errors)


def current_job_parameters(estimator):
    """The :data:`JOB_PARAMETERS` of a fitted ``estimator`` as they are now, checked.

    A fitted model or transformer calls this before the jobs of a call after its fit,
    so that ``set_params`` of these takes effect at once, validated by its own
    ``_parameter_constraints`` (scikit-learn checks them only at ``fit``).

    Returns
    -------
    params : dict
        ``{name: value}`` for each of :data:`JOB_PARAMETERS`.

    Raises
    ------
    sklearn.utils._param_validation.InvalidParameterError
        A ``ValueError`` naming the parameter, for a value its constraints refuse.

    Examples
    --------
    >>> from skqegm.quantum import SamplerTransformer
    >>> from skqegm.quantum.runtime import current_job_parameters
    >>> qt = SamplerTransformer(max_retries=2)
    >>> current_job_parameters(qt)
    {'max_shots': None, 'max_retries': 2, 'job_timeout': None, 'fallback': None}
    >>> current_job_parameters(qt.set_params(max_retries=True))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    sklearn.utils._param_validation.InvalidParameterError: The 'max_retries' parameter ...
    """
    # Imported here: the runtime is imported by every backend, scikit-learn's
    # validation only by the calls after a fit.
    from sklearn.utils._param_validation import validate_parameter_constraints

    params = {name: getattr(estimator, name) for name in JOB_PARAMETERS}
    validate_parameter_constraints(
        {name: estimator._parameter_constraints[name] for name in JOB_PARAMETERS}, params,
        caller_name=type(estimator).__name__)
    return params


class JobManager:
    """Submits jobs with retries, a timeout and a shot budget, and records each one.

    Parameters
    ----------
    max_retries : int, default=3
        Retries of a transient fault (see :func:`transient_errors`); 0 fails at once.
    job_timeout : float or None, default=None
        Seconds a job may take before it is cancelled and retried; ``None`` waits.
    max_shots : int or None, default=None
        The most shots submitted through this manager (retries included); a job that
        would exceed it is refused before submission.
    session : bool, default=False
        Inside :meth:`scope`, run a qiskit-ibm-runtime device's jobs in a ``Session``
        (dedicated access, billed for its duration) rather than a ``Batch``.
    seed : int or None, default=None
        Seeds the jitter of the backoff.

    Attributes
    ----------
    jobs : list of dict
        One entry per job: ``job_id``, ``backend``, ``shots``, ``retries``,
        ``failed_job_ids``, ``wall_time_s``, ``fallback`` (whether it ran on the fallback
        backend).
    shots_submitted : int
        Shots of every submitted job, retries included.
    shots_used : int
        Shots of the jobs whose results were used.
    fallback_reason : str or None
        Why the fallback backend was taken, once it was.

    Examples
    --------
    >>> from skqegm.quantum.runtime import JobManager
    >>> manager = JobManager(max_shots=100)
    >>> manager.check_budget(60, "a job")
    >>> manager.check_budget(160, "a job")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    skqegm.exceptions.ShotBudgetError: a job needs 160 shots, ...
    """

    def __init__(self, max_retries=DEFAULT_MAX_RETRIES, job_timeout=None, max_shots=None,
                 session=False, seed=None):
        self.set_policy(max_retries=max_retries, job_timeout=job_timeout, max_shots=max_shots)
        self.session = session
        self.jobs = []
        self.shots_submitted = 0
        self.shots_used = 0
        self.fallback_reason = None
        self._rng = np.random.default_rng(seed)
        self._modes = {}
        self._depth = 0
        self._on_fallback = False

    def set_policy(self, *, max_retries, job_timeout, max_shots):
        """Set how the following jobs run: retries, timeout and shot budget.

        A fitted model or transformer calls this with its current parameters before its
        jobs (see :data:`JOB_PARAMETERS`); the shots already submitted still count
        against the new ``max_shots``.

        Parameters
        ----------
        max_retries : int
            Retries of a transient fault, >= 0.
        job_timeout : float or None
            Seconds, > 0, or ``None``.
        max_shots : int or None
            The budget, >= 1, or ``None``.

        Returns
        -------
        self : JobManager

        Examples
        --------
        >>> from skqegm.quantum.runtime import JobManager
        >>> manager = JobManager(max_shots=100)
        >>> manager.shots_submitted = 90
        >>> manager.set_policy(max_retries=0, job_timeout=None, max_shots=200).check_budget(
        ...     100, "a job")
        """
        # Checked here (this is no estimator): max_retries=-1 made no attempt and failed
        # with an IndexError, max_shots=0 refused every job, job_timeout=0 timed out all.
        self.max_retries = check_int(max_retries, "max_retries", min_value=0)
        self.job_timeout = (None if job_timeout is None else
                            check_real(job_timeout, "job_timeout", low=0.0, low_open=True))
        self.max_shots = check_int(max_shots, "max_shots", min_value=1, allow_none=True)
        return self

    # -- scope of a fit: one Batch or Session per device ------------------------------------
    @contextlib.contextmanager
    def scope(self):
        """Jobs of runtime devices inside share one ``Batch`` / ``Session``, closed on exit."""
        self._depth += 1
        try:
            yield self
        finally:
            self._depth -= 1
            if self._depth == 0:
                self.close()

    @property
    def execution_mode(self):
        """``"session"`` or ``"batch"``: how a scope groups a device's jobs."""
        return "session" if self.session else "batch"

    def mode_for(self, backend):
        """The ``mode`` of a runtime primitive on ``backend``: the open Batch / Session of
        the scope (opened now if needed), or the device itself outside a scope."""
        if self._depth == 0:
            return backend
        key = id(backend)
        if key not in self._modes:
            from qiskit_ibm_runtime import Batch, Session

            opener = Session if self.session else Batch
            self._modes[key] = opener(backend=backend)
            logger.info("Opened a %s on %s.", self.execution_mode, backend_name(backend))
        return self._modes[key]

    def close(self):
        """Close every Batch / Session opened by the scope."""
        modes, self._modes = self._modes, {}
        for mode in modes.values():
            try:
                mode.close()
            except Exception as exc:  # closing must not hide the fit's result
                logger.warning("Closing a %s failed: %s", self.execution_mode, exc)
            else:
                logger.info("Closed a %s.", self.execution_mode)

    # -- budget ---------------------------------------------------------------------------
    def check_budget(self, shots, what):
        """Refuse ``shots`` more if they would take the shots submitted past ``max_shots``.

        Raises
        ------
        ShotBudgetError
            With the shots asked for, those already submitted and the budget.
        """
        if self.max_shots is None or self.shots_submitted + shots <= self.max_shots:
            return
        raise ShotBudgetError(
            f"{what} needs {shots:,} shots, and {self.shots_submitted:,} were already "
            f"submitted: more than max_shots={self.max_shots:,}. Raise max_shots, or use "
            "fewer shots, rows or epochs.",
            estimate=self.shots_submitted + shots, max_shots=self.max_shots)

    # -- jobs -----------------------------------------------------------------------------
    def run(self, submit, check, shots, backend):
        """Submit a job, wait for it, check its result; retry transient faults.

        Parameters
        ----------
        submit : callable
            ``submit() -> job``: builds the primitive and calls its ``run``.
        check : callable
            ``check(result)`` raises :class:`InvalidResultError` for a result that must
            not be used (wrong shape, NaN).
        shots : int
            Shots the job submits (for the budget and the record).
        backend : str
            The backend's name, for the record and the messages.

        Returns
        -------
        result : PrimitiveResult

        Raises
        ------
        QuantumJobError
            After ``max_retries`` retries of transient faults, with every job id.
        ShotBudgetError
            Before a submission that would exceed ``max_shots``.
        """
        transient = transient_errors()
        failed, errors, started = [], [], _clock()
        for attempt in range(self.max_retries + 1):
            if attempt:
                delay = self.backoff(attempt)
                logger.warning("Retry %d of %d on %s in %.1f s after %s", attempt,
                               self.max_retries, backend, delay, errors[-1])
                _sleep(delay)
            self.check_budget(shots, f"A job on {backend}")
            job_id = None
            try:
                job = submit()
                job_id = _job_id(job)
                self.shots_submitted += shots
                logger.info("Submitted job %s to %s (%d shots).", job_id, backend, shots)
                result = self._wait(job, job_id)
                check(result)
            except transient as exc:
                failed.append(job_id or "not submitted")
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            self.shots_used += shots
            record = dict(job_id=job_id, backend=backend, shots=shots, retries=attempt,
                          failed_job_ids=failed, wall_time_s=_clock() - started,
                          fallback=self._on_fallback)
            self.jobs.append(record)
            logger.info("Job %s on %s done in %.2f s after %d retries.", job_id, backend,
                        record["wall_time_s"], attempt)
            return result
        raise QuantumJobError(
            f"A job of {shots:,} shots on {backend} failed {len(failed)} times "
            f"(max_retries={self.max_retries}); job ids: {', '.join(failed)}. "
            f"Last error: {errors[-1]}", job_ids=failed)

    def backoff(self, attempt):
        """Seconds to wait before retry ``attempt`` (1, 2, ...): exponential, with jitter."""
        delay = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2.0 ** (attempt - 1))
        return delay * (1.0 + _JITTER * self._rng.random())

    def note_fallback(self, reason):
        """Record that the following jobs run on the fallback backend."""
        self._on_fallback = True
        self.fallback_reason = reason

    def summary(self):
        """Totals for ``provenance_``: jobs, shots, retries, wall time, fallback."""
        return {
            "execution_mode": self.execution_mode,
            "n_jobs": len(self.jobs),
            "shots_used": self.shots_used,
            "shots_submitted": self.shots_submitted,
            "retries": sum(job["retries"] for job in self.jobs),
            "wall_time_s": sum(job["wall_time_s"] for job in self.jobs),
            "fallback_reason": self.fallback_reason,
            "jobs": [dict(job) for job in self.jobs],
        }

    def _wait(self, job, job_id):
        """The job's result; with a timeout, cancel and raise once it has run too long."""
        if self.job_timeout is None:
            return job.result()
        deadline = _clock() + self.job_timeout
        while not job.done():
            if _clock() >= deadline:
                with contextlib.suppress(Exception):  # a job that cannot be cancelled
                    job.cancel()
                raise JobTimeoutError(f"job {job_id} did not finish within job_timeout="
                                      f"{self.job_timeout} s")
            _sleep(min(_POLL_S, self.job_timeout))
        return job.result()

    def __getstate__(self):
        state = self.__dict__.copy()
        # Open batches belong to the live process and its scope: a copy (a transformer
        # saved or deep-copied inside a fit) must not open one it never closes.
        state["_modes"] = {}
        state["_depth"] = 0
        return state


class LocalJob:
    """A job that ran in this process: what :class:`JobManager` submits for a fake device.

    Its result is computed when the job is made, so it is done at once and cannot be
    cancelled; it has an id (a UUID, shaped as a runtime job's) for the records.

    Parameters
    ----------
    result : PrimitiveResult
        The job's result.

    Examples
    --------
    >>> from skqegm.quantum.runtime import LocalJob
    >>> job = LocalJob("a result")
    >>> job.done(), job.result(), len(job.job_id())
    (True, 'a result', 36)
    """

    def __init__(self, result):
        import uuid

        self._result = result
        self._job_id = str(uuid.uuid4())

    def job_id(self):
        """The job's id."""
        return self._job_id

    def done(self):
        """Always ``True``: the result was computed when the job was made."""
        return True

    def cancel(self):
        """Nothing to cancel: the job is done."""

    def result(self):
        """The job's result."""
        return self._result


def _job_id(job):
    try:
        return str(job.job_id())
    except Exception:  # a job without an id is still a job
        return "unknown"


def runtime_primitive(kind, mode, seed=None, local=True):
    """qiskit-ibm-runtime's Sampler or Estimator on ``mode``: the client-side one where
    the installed version has it, else the legacy ``SamplerV2`` / ``EstimatorV2``.

    qiskit-ibm-runtime 0.50 added client-side primitives,
    ``qiskit_ibm_runtime.executor_sampler.Sampler`` and
    ``qiskit_ibm_runtime.executor_estimator.Estimator``, built on its ``Executor``, and
    deprecated ``SamplerV2`` / ``EstimatorV2``. Both kinds take the same ``mode``
    (a device, a ``Batch`` or a ``Session``), the same PUBs and give results of the same
    shape (``result[0].data.meas`` bit arrays, ``result[0].data.evs``), and run locally
    on a fake device (local testing mode). On older versions the legacy classes are used
    (their deprecation warning, where there is one, is silenced).

    In local testing mode ``seed`` seeds the simulator (``options.simulator.seed_simulator``)
    so that a seed reproduces the counts; hardware ignores it. The client-side and legacy
    classes simulate a fake device differently, so one seed gives other counts: the
    client-side Sampler runs Aer with ``NoiseModel.from_backend``, the legacy one a noise
    model with other readout errors, and the client-side Estimator applies its resilience
    level (readout mitigation, TREX, by default) where the legacy one ignored it.

    Parameters
    ----------
    kind : {"sampler", "estimator"}
        Which primitive.
    mode : BackendV2, Batch or Session
        Where its jobs run.
    seed : int or None, default=None
        The simulator's seed in local testing mode.
    local : bool, default=True
        Whether ``mode`` runs locally (a fake device); hardware takes no seed.

    Returns
    -------
    primitive : BaseSamplerV2 or BaseEstimatorV2
        ``executor_sampler.Sampler`` / ``executor_estimator.Estimator`` on
        qiskit-ibm-runtime 0.50 and later, else ``SamplerV2`` / ``EstimatorV2``.

    Raises
    ------
    ValueError
        If ``kind`` is neither ``"sampler"`` nor ``"estimator"``.

    Examples
    --------
    >>> from qiskit import QuantumCircuit
    >>> from qiskit_ibm_runtime.fake_provider import FakeManilaV2
    >>> from skqegm.quantum.runtime import runtime_primitive
    >>> qc = QuantumCircuit(1)
    >>> qc.x(0)  # doctest: +ELLIPSIS
    <...>
    >>> qc.measure_all()
    >>> sampler = runtime_primitive("sampler", FakeManilaV2(), seed=1)
    >>> sampler.run([qc], shots=100).result()[0].data.meas.get_counts()["1"] > 80
    True
    """
    cls, client_side = _runtime_class(check_option(kind, "kind", ("sampler", "estimator")))
    if client_side:
        primitive = cls(mode=mode)
    else:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning,
                                    message=".*(SamplerV2|EstimatorV2) class is deprecated")
            primitive = cls(mode=mode)
    if local and seed is not None:
        # The legacy local mode drops a seed of 0 (it tests the seed's truth): shift it.
        # The client-side one passes the seed to Aer as given.
        seed = int(seed) if client_side else int(seed) or 2**31
        primitive.options.simulator.seed_simulator = seed
    return primitive


def _runtime_class(kind):
    """The class of qiskit-ibm-runtime's ``kind`` primitive, and whether it is the
    client-side one (qiskit-ibm-runtime 0.50 and later)."""
    try:
        if kind == "sampler":
            from qiskit_ibm_runtime.executor_sampler import Sampler
            return Sampler, True
        from qiskit_ibm_runtime.executor_estimator import Estimator
        return Estimator, True
    except ImportError:
        # qiskit-ibm-runtime 0.40 to 0.49, which do not deprecate the legacy classes. (0.49
        # has a preview, executor_sampler.SamplerV2, whose local mode runs the legacy path
        # unless an experimental option says otherwise: it is not used.)
        from qiskit_ibm_runtime import EstimatorV2, SamplerV2
        return (SamplerV2 if kind == "sampler" else EstimatorV2), False
