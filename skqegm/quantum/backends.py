"""The one place that knows every kind of backend: Qiskit V2 primitives behind one runner.

A batch is always ONE primitive call: all parameter sets of the batch form one PUB whose
parameter values sweep the batch. With ``shots=None`` results are exact where the backend
allows it (an estimator at precision 0, probabilities from the expectation values of all
Z-strings); with ``shots`` everything derives from sampled bitstrings, so shot noise is real
shot noise (never the Gaussian that simulator estimators add for ``precision > 0``). The
one exception is a ready estimator instance, which gets ``precision = 1 / sqrt(shots)``
and does with it what it does (hardware estimators choose their shots from it).

The backend kinds:

``None`` / ``"exact"``
    The torch simulator (:mod:`skqegm.quantum.simulator`); not handled here.
``"statevector"``
    ``qiskit.primitives.StatevectorEstimator`` / ``StatevectorSampler``.
``"aer"``
    ``qiskit_aer.primitives.EstimatorV2`` / ``SamplerV2`` on a noiseless ``AerSimulator``.
a ``BackendV2`` (e.g. ``FakeTorontoV2()``)
    Circuits are transpiled to the device once and cached. A fake device runs locally
    under its noise model (``NoiseModel.from_backend``): with ``shots=None`` the
    transformers and :class:`~skqegm.quantum.QuantumLayer` take exact noisy results from
    :meth:`CircuitRunner.noisy_simulator` (a torch density-matrix simulation of the
    transpiled circuit, readout errors included, differentiable);
    :meth:`CircuitRunner.expval_z` / :meth:`CircuitRunner.probabilities` themselves still
    ask Aer's estimator on ``AerSimulator.from_backend`` (built once per process and
    calibration, :func:`~skqegm.quantum.noisy_simulator.device_aer_simulator`; gate
    noise only, observables mapped with ``apply_layout``). With ``shots`` the shots are drawn from
    the exact noisy probabilities of the same simulation (readout included), seeded by
    the runner's seed: sampled results converge to the exact ones. A circuit that
    touches more device qubits than that simulation holds
    (:data:`~skqegm.quantum.noisy_simulator.MAX_ACTIVE_QUBITS`) is sampled by Aer on
    ``AerSimulator.from_backend``, the same noise model.
    A real IBM device (``qiskit_ibm_runtime.IBMBackend``) is sampled through
    qiskit-ibm-runtime's Sampler, with :data:`DEVICE_DEFAULT_SHOTS` when ``shots=None``.
a ``BaseEstimatorV2`` / ``BaseSamplerV2`` instance
    Used as given with the logical circuit (bring ISA circuits' transpilation yourself if
    the primitive needs it).
a :class:`~skqegm.quantum.DeviceRecord`
    What a saved model keeps of a device whose service holds credentials: it describes
    the device and cannot submit (re-attach the device with ``set_params(backend=...)``).

Every sampled job goes through the runner's :class:`~skqegm.quantum.runtime.JobManager`,
which retries transient faults, enforces the shot budget and records every job: on a real
IBM device, qiskit-ibm-runtime's Sampler (:func:`~skqegm.quantum.runtime.runtime_primitive`)
inside the manager's Batch or Session; on a fake device, a
:class:`~skqegm.quantum.runtime.LocalJob` run in this process, from the exact noisy
probabilities, rather than qiskit-ibm-runtime's local testing mode. (That mode's legacy
``SamplerV2`` builds its noise model from the device's ``BackendProperties``, with other
readout errors; its client-side Sampler samples ``NoiseModel.from_backend``'s noise, as
here, but rebuilds the simulator on every job.)
"""

import logging

import numpy as np
import torch
from sklearn.utils._param_validation import StrOptions

from ..exceptions import QuantumJobError
from ..utils._memory import check_memory, chunk_rows, memory_limit, rows_per_chunk
from ..utils._validation import (
    LoadedInstanceOf,
    check_option,
    check_readout_mitigation,
    check_seed,
    check_shots,
    is_loaded_instance,
)
from .mitigation import (
    mitigate_probabilities,
    noise_model_assignment_matrices,
    readout_assignment_matrices,
)
from .noisy_simulator import (
    MAX_ACTIVE_QUBITS,
    NoisyDensityMatrixSimulator,
    active_qubits,
    device_aer_simulator,
)
from .runtime import (
    DeviceRecord,
    InvalidResultError,
    JobManager,
    LocalJob,
    backend_name,
    detach_backend,
    runtime_primitive,
)

logger = logging.getLogger(__name__)

BACKEND_NAMES = ("exact", "statevector", "aer")
# Qiskit's classes of backends and primitives, by module and name: qiskit is imported by
# the backends that run it, never to check that a backend is not one of them (the exact
# simulator path does not import qiskit).
_QISKIT_KINDS = (("device", "qiskit.providers", "BackendV2"),
                 ("estimator", "qiskit.primitives", "BaseEstimatorV2"),
                 ("sampler", "qiskit.primitives", "BaseSamplerV2"))
#: The ``backend`` parameter's constraint for scikit-learn's ``_parameter_constraints``:
#: what :func:`check_backend` accepts.
BACKEND_CONSTRAINT = [None, StrOptions(set(BACKEND_NAMES)),
                      *(LoadedInstanceOf(module, name) for _, module, name in _QISKIT_KINDS),
                      DeviceRecord]
#: The transpiler's optimisation level for devices (recorded in ``provenance_``).
OPTIMIZATION_LEVEL = 1
#: Shots used on real hardware when ``shots=None`` (hardware cannot be exact).
DEVICE_DEFAULT_SHOTS = 4096
#: Exact probabilities need the 2**n Z-string expectation values: refuse beyond this.
EXACT_PROBABILITY_MAX_QUBITS = 12
#: Bytes a simulator's sampler holds per shot while it runs, an upper bound of what was
#: measured: Aer ``SamplerV2`` 130-230 B, ``StatevectorSampler`` 25-45 B over a sweep of
#: parameter sets but 850 B when one parameter set takes all the shots (its memory strings).
SAMPLER_BYTES_PER_SHOT = 256


def _estimator_bytes_per_row(n_params, n_observables):
    """Bytes an estimator holds per parameter set of a sweep, an upper bound of what was
    measured (peak resident memory over 20,000 rows): Aer ``EstimatorV2`` about 16 KiB,
    1 KiB per circuit parameter and 1.5 KiB per observable (24 KiB at 2 qubits and 1
    layer, 95 KiB at 8 qubits and 4 layers); ``StatevectorEstimator`` about 9 KiB at 4
    qubits and 1 layer."""
    return 16384.0 + 1024.0 * n_params + 1536.0 * n_observables
# Bytes per amplitude of a simulation's complex128 state, with the copies it makes: peak
# resident growth of one row of CircuitRunner.expval_z (1 layer), upper bounds. Measured
# first at 22 qubits on qiskit 2.x / Aer 0.18 (Statevector primitives 65 B, Aer 19 B),
# again on qiskit 2.6.2 / qiskit-aer 0.18.2: qiskit's StatevectorEstimator 90, 112, 98 and
# 65 B at 16, 18, 20 and 22 qubits (a new state per gate, the probabilities; a few tens of
# MB that do not grow weigh on the smaller ones); Aer's EstimatorV2 18.3, 16.7 and 16.2 B
# at 20, 22 and 24 qubits, its SamplerV2 (64 shots) 16.1, 16.1 and 16.0 B (Aer refuses by
# itself, but only once the job is built). A fake device's Aer sampling (FakeTorontoV2, 64
# shots) grew by 75, 41 and 148 MB at 16, 18 and 20 qubits: costs that do not grow with
# the state, which is Aer's 16 B per amplitude.
_STATE_BYTES_PER_AMPLITUDE = {"statevector": 128, "aer": 24, "device": 24, "exact": 48}
# Aer's noisy shots (a fake device's circuit beyond the noisy simulator's width), peak RSS
# growth of one job, re-measured on qiskit-aer 0.18.2 (FakeTorontoV2, 2 cores): one state
# per parallel shot (136 MB at 22 qubits with 2, 72 MB with one; 72 MB at 21 qubits with
# 2), plus 8 MB. Below 21 qubits (states under glibc's 32 MiB mmap threshold) the freed
# states of shot after shot stay in malloc's arenas: 50, 110 and 260 MB at 16, 18 and 20
# qubits (64 shots; 184 MB at 20 with one parallel shot), counted by this allowance.
_AER_NOISY_SHOTS_BYTES = 256 * 2**20
# qiskit's StatevectorSampler also labels every outcome of every row with a string
# (Statevector.sample_memory): 258 and 259 B per amplitude and qubit measured at 16 and 18
# qubits (4.1 and 4.7 KiB per amplitude): about 24 GB for one row at 22 qubits, where a
# measurement run was killed (SIGKILL) on a 24 GB machine.
_LABEL_BYTES_PER_AMPLITUDE_QUBIT = 288
#: Largest seed accepted where a method takes one: what ``random_state`` accepts.
# Work estimated below this is not checked against the memory available: reading
# /proc/meminfo (~20 us) is most of a small call's time (QuantumRandomSource.random(64)).


def check_backend(backend):
    """Validate ``backend`` and return its kind.

    Parameters
    ----------
    backend : None, str, BackendV2, BaseEstimatorV2 or BaseSamplerV2
        ``None`` or one of :data:`BACKEND_NAMES`, a Qiskit device (real or fake), or a
        ready primitive.

    Returns
    -------
    kind : {"exact", "statevector", "aer", "device", "estimator", "sampler", "detached"}
        ``"exact"`` for ``None``; the name itself for a string; ``"detached"`` for a
        :class:`~skqegm.quantum.DeviceRecord`.

    Raises
    ------
    ValueError
        For an unknown string or object, listing what is accepted.

    Examples
    --------
    >>> from qiskit.primitives import StatevectorSampler
    >>> from skqegm.quantum import check_backend
    >>> check_backend(None), check_backend("statevector"), check_backend(StatevectorSampler())
    ('exact', 'statevector', 'sampler')
    >>> check_backend("gpu")
    Traceback (most recent call last):
        ...
    ValueError: backend must be one of 'exact', 'statevector', 'aer'; got 'gpu'.
    """
    if backend is None:
        return "exact"
    if isinstance(backend, str):
        return check_option(backend, "backend", BACKEND_NAMES)
    for kind, module, name in _QISKIT_KINDS:
        if is_loaded_instance(backend, module, name):
            return kind
    if isinstance(backend, DeviceRecord):
        return "detached"
    raise ValueError(
        "backend must be None, one of 'exact', 'statevector', 'aer', a qiskit BackendV2 "
        "(e.g. qiskit_ibm_runtime.fake_provider.FakeTorontoV2()), or a BaseEstimatorV2 / "
        f"BaseSamplerV2 instance; got {backend!r}."
    )


def fitted_backend(fit_backend, backend):
    """The backend a fitted estimator runs on: the fit's, until a refit.

    ``set_params(backend=...)`` after a fit takes effect at the next fit, with one
    exception: a model saved with a device kept as its description (a
    :class:`~skqegm.quantum.DeviceRecord`) runs on the device re-attached with
    ``set_params(backend=device)``.

    Parameters
    ----------
    fit_backend : backend
        The backend the estimator was fitted with.
    backend : backend
        Its ``backend`` parameter now.

    Returns
    -------
    backend : backend
        ``backend`` if ``fit_backend`` is a description and ``backend`` is not, else
        ``fit_backend``.

    Examples
    --------
    >>> from skqegm.quantum.backends import fitted_backend
    >>> fitted_backend("aer", "statevector")  # set after the fit: not used until a refit
    'aer'
    """
    if check_backend(fit_backend) == "detached" and check_backend(backend) != "detached":
        return backend
    return fit_backend


def check_state_memory(n_qubits, kind, what, advice="", sampled=False):
    """Refuse a statevector simulation of ``n_qubits`` that cannot fit in memory.

    Parameters
    ----------
    n_qubits : int
        Width of the simulated circuit: its state holds ``2**n_qubits`` amplitudes.
    kind : {"statevector", "aer", "device", "exact"}
        The simulator (``"exact"``: a ``Statevector`` and its probabilities in numpy).
    sampled : bool, default=False
        Whether the simulation samples bitstrings: qiskit's ``StatevectorSampler``
        (``kind="statevector"``) then also builds a string label for every one of the
        ``2**n_qubits`` outcomes, and Aer's noisy shots on a fake device
        (``kind="device"``, beyond the 12 qubits of its exact noisy simulation) keep up
        to about 256 MiB besides their state.
    what : str
        The call, naming ``n_qubits``, for the error message.
    advice : str, default=""
        How to ask for less.

    Raises
    ------
    MemoryLimitError
        If ``2**n_qubits`` amplitudes, with the copies the simulator makes, exceed the
        memory available.

    Examples
    --------
    >>> from skqegm.quantum.backends import check_state_memory
    >>> check_state_memory(10, "aer", "a 10-qubit circuit")  # 2**10 amplitudes: accepted
    >>> check_state_memory(60, "aer", "a 60-qubit circuit")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    skqegm.exceptions.MemoryLimitError: a 60-qubit circuit needs an estimated ...
    """
    per_amplitude = _STATE_BYTES_PER_AMPLITUDE[kind]
    if sampled and kind == "statevector":
        per_amplitude += _LABEL_BYTES_PER_AMPLITUDE_QUBIT * n_qubits
    n_bytes = float(2**n_qubits) * per_amplitude
    if sampled and kind == "device" and n_qubits > MAX_ACTIVE_QUBITS:
        # Aer samples it, shot by shot, and runs no noisy shot with less than two
        # states' worth of max_memory_mb (see _aer_noisy_run_options).
        n_bytes = max(n_bytes, 2.0 * _aer_state_mb(n_qubits) * 2**20)
        n_bytes += _AER_NOISY_SHOTS_BYTES
    check_memory(n_bytes, what, advice)


def _aer_state_mb(n_qubits):
    """Aer's ``required_memory_mb`` of a statevector: 16 B per amplitude, whole MiB."""
    return max(1, -(-16 * 2**n_qubits // 2**20))


def _aer_noisy_run_options(n_qubits):
    """Aer's run options for noisy shots on ``n_qubits`` (a job's, never the shared
    simulator's).

    ``max_memory_mb``: qiskit-aer 0.18.2 runs ``max_memory_mb // (2 * state)`` noisy
    shots at a time, so with a limit between one and two states it runs none and
    reports success with no counts, which its ``SamplerV2`` returns as all-zero
    bitstrings (16 of 16 shots at 13 qubits with ``max_memory_mb=1``). Its default, half
    the physical memory, ignores containers and ``SKQEGM_MEMORY_LIMIT_GB``, so the limit
    set is the memory available (:func:`check_state_memory` refused less than two
    states), or two states where that is unknown.

    ``max_parallel_shots``: as many states as half the memory available holds, at least
    one (one where it is unknown); Aer's default is one per thread, whatever the memory.

    Neither changes a shot: Aer seeds every shot by its index.
    """
    two_states = 2 * _aer_state_mb(n_qubits)
    limit = memory_limit()
    if limit is None:
        return {"max_memory_mb": two_states, "max_parallel_shots": 1}
    per_state = _STATE_BYTES_PER_AMPLITUDE["device"] * float(2**n_qubits)
    return {"max_memory_mb": max(two_states, int(limit // 2**20)),
            "max_parallel_shots": max(1, int(limit // (2 * per_state)))}


def _is_ibm_hardware(backend):
    try:
        from qiskit_ibm_runtime import IBMBackend
    except ImportError:  # pragma: no cover - qiskit-ibm-runtime is a dependency
        return False
    return isinstance(backend, IBMBackend)


class CircuitRunner:
    """Runs parametrised circuits on one Qiskit backend, one primitive call per batch.

    Parameters
    ----------
    backend : str, BackendV2, BaseEstimatorV2 or BaseSamplerV2
        Any backend of :func:`check_backend` except the exact torch path.
    shots : int or None
        ``None``: exact where the backend allows it. Otherwise the shots per
        parameter set.
    seed : int or None
        Seed of simulators and of the transpiler, so that a run is reproducible.
    jobs : JobManager or None, default=None
        Submits every primitive call (retries, timeout, shot budget, Batch / Session,
        records); ``None`` makes one with the defaults.
    fallback : backend or None, default=None
        Another backend (any kind but the exact one), taken only after a job has failed
        for good on ``backend``: it then runs the rest of the jobs, and the switch is
        recorded in ``jobs``.
    readout_mitigation : bool, default=False
        Undo the device's readout errors in sampled :meth:`probabilities`, with tensored
        assignment matrices from its calibration data (see
        :mod:`skqegm.quantum.mitigation`); needs a device and ``shots``.

    Attributes
    ----------
    kind : str
        The backend's kind, as returned by :func:`check_backend`.
    samples : bool
        Whether results come from sampled bitstrings rather than exact expectation
        values.
    layout : list of int or None
        The device qubits of the last circuit transpiled for a device.

    Raises
    ------
    ValueError
        For an invalid backend or ``shots``, or the exact backend (``None`` or
        ``"exact"``), which runs in :mod:`skqegm.quantum.simulator` instead.

    See Also
    --------
    skqegm.quantum.StatevectorSimulator : The exact torch path (``backend=None``).

    Examples
    --------
    >>> import numpy as np
    >>> from qiskit.quantum_info import Statevector
    >>> from skqegm.quantum import CircuitRunner, variational_circuit
    >>> qc, inputs, weights = variational_circuit(2, n_layers=1)
    >>> params = inputs + weights
    >>> values = np.array([[0.3, -0.7, 0.1, 0.2, 0.3, 0.4]])  # one row per parameter set
    >>> runner = CircuitRunner("statevector")
    >>> runner.samples
    False
    >>> probs = runner.probabilities(qc, params, values)
    >>> exact = Statevector(qc.assign_parameters(dict(zip(params, values[0])))).probabilities()
    >>> probs.shape, bool(np.allclose(probs[0], exact))
    ((1, 4), True)
    >>> outcomes = CircuitRunner("statevector", shots=1000, seed=0).sample_outcomes(
    ...     qc, params, values)
    >>> frequencies = np.bincount(outcomes[0], minlength=4) / 1000
    >>> outcomes.shape, bool(np.abs(frequencies - exact).max() < 0.05)
    ((1, 1000), True)
    """

    def __init__(self, backend, shots=None, seed=None, jobs=None, fallback=None,
                 readout_mitigation=False):
        self.kind = check_backend(backend)
        if self.kind == "exact":
            raise ValueError("CircuitRunner runs Qiskit backends; 'exact' is the torch simulator.")
        self.backend = backend
        self.shots = check_shots(shots)
        self.seed = check_seed(seed)
        self.jobs = JobManager() if jobs is None else jobs
        self.fallback = _check_fallback(fallback)
        self.layout = None
        self.readout_mitigation = readout_mitigation
        check_readout_mitigation(readout_mitigation, self.kind in ("device", "detached")
                                 and self.samples, backend, shots)
        self._aer_simulator = None
        self._prepared = {}
        self._noisy = {}
        self._fallback_runner = None

    @property
    def name(self):
        """The backend's name, as jobs are recorded under."""
        return backend_name(self.backend)

    def describe(self):
        """What ``provenance_`` records of the backend: its device, transpilation, jobs.

        Returns
        -------
        description : dict
            ``backend`` (name), ``device`` (a :class:`DeviceRecord` as a dict, for a
            device), ``seed_transpiler``, ``optimization_level``, ``layout``,
            ``noisy_simulator`` (whether exact results come from
            :meth:`noisy_simulator`), and the totals of :meth:`JobManager.summary`
            (jobs, shots used, retries, wall time).
        """
        device = None
        if self.kind in ("device", "detached"):
            record = (self.backend if self.kind == "detached"
                      else DeviceRecord.from_backend(self.backend))
            device = record.as_dict()
        return {
            "backend": self.name,
            "device": device,
            "seed_transpiler": self.seed if self.kind == "device" else None,
            "optimization_level": OPTIMIZATION_LEVEL if self.kind == "device" else None,
            "layout": self.layout,
            "fallback": None if self.fallback is None else backend_name(self.fallback),
            "readout_mitigation": self.readout_mitigation,
            "noisy_simulator": self.exact_noisy,
            **self.jobs.summary(),
        }

    def set_job_params(self, *, max_shots, max_retries, job_timeout, fallback):
        """Set how the following jobs run (:data:`~skqegm.quantum.runtime.JOB_PARAMETERS`).

        What a fitted transformer or model calls with its current parameters before its
        jobs: the retries, timeout and budget go to :attr:`jobs`
        (:meth:`~skqegm.quantum.runtime.JobManager.set_policy`), ``fallback`` is the
        backend taken if a job fails for good. A switch to a fallback already made stays:
        its runner goes on running the jobs. The backend and shots stay the runner's own.

        Parameters
        ----------
        max_shots : int or None
        max_retries : int
        job_timeout : float or None
        fallback : backend or None
            Any backend but the exact one.

        Returns
        -------
        self : CircuitRunner
        """
        fallback = _check_fallback(fallback)
        self.jobs.set_policy(max_retries=max_retries, job_timeout=job_timeout,
                             max_shots=max_shots)
        if self._fallback_runner is None:
            self.fallback = fallback
        return self

    # -- public ------------------------------------------------------------------------------
    @property
    def samples(self):
        """Whether results come from sampled bitstrings (else exact expectation values)."""
        if self.kind == "estimator":
            return False  # shots become the estimator's precision, 1 / sqrt(shots)
        if self.kind == "sampler" or (self.kind == "device" and _is_ibm_hardware(self.backend)):
            return True
        return self.shots is not None

    @property
    def exact_noisy(self):
        """Whether exact results come from :meth:`noisy_simulator`: a fake (local) device
        with ``shots=None``."""
        return (self.kind == "device" and self.shots is None
                and not _is_ibm_hardware(self.backend) and self._fallback_runner is None)

    def noisy_simulator(self, circuit, input_params, weight_params, readout=True):
        """The exact noisy simulator of ``circuit`` transpiled for this runner's fake device.

        Built once per circuit (the transpilation of :meth:`expval_z` is shared) and
        cached; see :class:`~skqegm.quantum.NoisyDensityMatrixSimulator`.

        Parameters
        ----------
        circuit : QuantumCircuit
            The logical, parametrised circuit.
        input_params, weight_params : list of Parameter
            Its per-row and shared parameters, in column order.
        readout : bool, default=True
            Include the device's readout errors in the outputs.

        Returns
        -------
        simulator : NoisyDensityMatrixSimulator

        Raises
        ------
        ValueError
            If this runner is not on a fake device with ``shots=None``, or the
            transpiled circuit is too wide.
        """
        if not self.exact_noisy:
            raise ValueError("The noisy simulator runs a fake device's noise model with "
                             f"shots=None; this runner has backend={self.name!r}, "
                             f"shots={self.shots!r}.")
        key = (id(circuit), bool(readout))
        if key not in self._noisy:
            run_circuit = self._prepare(circuit)
            simulator = NoisyDensityMatrixSimulator(
                run_circuit, input_params, weight_params, self.backend, circuit.num_qubits,
                readout=readout)
            self._noisy[key] = (circuit, simulator)
        return self._noisy[key][1]

    @property
    def shots_per_circuit(self):
        """Shots each parameter set costs: 0 where results are exact (a simulator's
        estimator), else the shots sampled (or a ready estimator's shots)."""
        if self.kind == "estimator":
            return self.shots or 0
        return self._shots_for(None) if self.samples else 0

    def check_width(self, n_qubits, what, advice="use fewer qubits."):
        """Refuse a circuit of ``n_qubits`` that this backend cannot run.

        A device (real or fake) has a fixed number of qubits; a simulator (``"statevector"``,
        ``"aer"``, a fake device's local Aer simulator) holds ``2**n_qubits`` amplitudes per
        circuit, which must fit in memory. Ready primitives are not checked: what they run
        on is theirs to know.

        Parameters
        ----------
        n_qubits : int
            Width of the logical circuit.
        what : str
            The call asking for it, for the error messages.
        advice : str, default="use fewer qubits."
            How to ask for fewer qubits, for the error messages.

        Raises
        ------
        ValueError
            If a device has fewer qubits than ``n_qubits``.
        MemoryLimitError
            If the simulated state cannot fit in memory.
        """
        if self.kind == "detached":
            raise ValueError(_detached_message(self.backend))
        if self.kind == "device":
            device_qubits = getattr(self.backend, "num_qubits", None)
            if device_qubits is not None and n_qubits > device_qubits:
                raise ValueError(
                    f"{what} needs n_qubits={n_qubits}, more than the {device_qubits} qubits of "
                    f"device {getattr(self.backend, 'name', self.backend)!r}; {advice}"
                )
            if _is_ibm_hardware(self.backend):  # pragma: no cover - needs IBM credentials
                return
            if getattr(self.backend, "coupling_map", None) is None:
                # The transpiler gives such a circuit no layout, and the device's
                # simulation reads one: an AttributeError in the first job.
                raise ValueError(
                    f"backend {getattr(self.backend, 'name', self.backend)!r} is a "
                    "simulator without a coupling map, not a device: pass backend='aer' "
                    "(with shots), a device (real or fake, or AerSimulator.from_backend("
                    "device)), or a primitive such as qiskit_aer.primitives.SamplerV2 for "
                    "a noise model of your own.")
        if self.exact_noisy:
            # The noisy simulator holds 4**n Pauli coefficients per row and per output
            # (more if routing adds device qubits: refused when the circuit is built).
            if n_qubits > MAX_ACTIVE_QUBITS:
                raise ValueError(
                    f"{what} needs n_qubits={n_qubits}; the exact noisy simulation of a "
                    f"fake device (shots=None) handles at most {MAX_ACTIVE_QUBITS} qubits "
                    f"(4**n Pauli coefficients per row); set shots to sample instead, or "
                    f"{advice}")
            check_memory(8.0 * 4**n_qubits * (n_qubits + 3),
                         f"{what}: the exact noisy simulation of n_qubits={n_qubits} "
                         f"(4**{n_qubits} Pauli coefficients per row and output)", advice)
            return
        if self.kind in ("statevector", "aer", "device"):
            check_state_memory(
                n_qubits, self.kind, f"{what} simulates n_qubits={n_qubits} (2**{n_qubits} "
                f"amplitudes per circuit on backend {self.kind!r})", advice,
                sampled=self.samples)

    def expval_z(self, circuit, params, values, seed=None):
        """``<Z_i>`` of every qubit for each row of ``values``: shape ``(n_rows, n_qubits)``.

        ``values`` has one column per entry of ``params`` (the binding order). Sampled
        results are the mean of ``1 - 2 b_i`` over the shots.

        Parameters
        ----------
        circuit : QuantumCircuit
            The parametrised circuit, without measurements (sampling adds them).
        params : list of Parameter
            The circuit's parameters in binding order.
        values : array-like of shape (n_rows, n_params)
            One parameter set per row, its columns in the order of ``params``.
        seed : int or None, default=None
            Seed of the shots when results are sampled; ``None`` uses the runner's
            ``seed``. Ignored by a ready sampler primitive.

        Returns
        -------
        expval : ndarray of shape (n_rows, n_qubits)
            ``<Z_i>`` of qubit ``i`` for each parameter set, in [-1, 1].

        Notes
        -----
        Exact mode sends the rows in as few estimator calls as scikit-learn's
        ``working_memory`` allows (one for any ordinary batch): an estimator holds every
        parameter set of a call.
        """
        n = circuit.num_qubits
        values = _check_values(values, params)
        if self.samples:
            outcomes = self.sample_outcomes(circuit, params, values, seed=seed)
            n_rows, shots = outcomes.shape
            expval = np.empty((n_rows, n))
            # The bits of every shot are n int64 per shot: unpack a chunk of rows at a time.
            rows = rows_per_chunk(n_rows, 16.0 * shots * n, expval.nbytes,
                                   f"expval_z with shots={shots} on n_qubits={n}")
            for start in range(0, n_rows, rows):
                bits = (outcomes[start:start + rows, :, None] >> np.arange(n)) & 1
                expval[start:start + rows] = 1.0 - 2.0 * bits.mean(axis=1)
            return expval
        observables = [_z_string(n, 1 << i) for i in range(n)]
        expval = np.empty((len(values), n))
        # The estimator holds every parameter set of a call (200,000 rows at 4 qubits took
        # 6.5 GB on Aer): as few calls as working_memory allows, one for ordinary batches.
        rows = rows_per_chunk(len(values), _estimator_bytes_per_row(len(params), n),
                              expval.nbytes, f"expectation values of {len(values)} rows on "
                              f"n_qubits={n}", "pass fewer rows at a time.")
        for start in range(0, len(values), rows):
            block = slice(start, start + rows)
            expval[block] = self._estimate(circuit, params, values[block], observables)
        return np.clip(expval, -1.0, 1.0)

    def probabilities(self, circuit, params, values, seed=None):
        """Outcome probabilities for each row of ``values``: shape ``(n_rows, 2**n_qubits)``.

        Exact mode estimates the ``2**n`` Z-string expectations ``E_m = sum_k p_k (-1)^|m&k|``
        in one call and inverts them with a Walsh-Hadamard transform; sampled mode gives
        the outcome frequencies of the shots.

        Parameters
        ----------
        circuit : QuantumCircuit
            The parametrised circuit, without measurements (sampling adds them).
        params : list of Parameter
            The circuit's parameters in binding order.
        values : array-like of shape (n_rows, n_params)
            One parameter set per row, its columns in the order of ``params``.
        seed : int or None, default=None
            Seed of the shots when results are sampled; ``None`` uses the runner's
            ``seed``. Ignored by a ready sampler primitive.

        Returns
        -------
        probabilities : ndarray of shape (n_rows, 2**n_qubits)
            Each row sums to 1; outcome ``k`` has qubit 0 as its least significant bit.

        Raises
        ------
        ValueError
            In exact mode on more than :data:`EXACT_PROBABILITY_MAX_QUBITS` qubits.
        MemoryLimitError
            If the ``(n_rows, 2**n_qubits)`` output (or, sampled, the shots) cannot fit in
            memory.

        Notes
        -----
        Exact mode sends the rows in as few estimator calls as scikit-learn's
        ``working_memory`` allows (one for any ordinary batch): each row costs ``2**n``
        expectation values.
        """
        n = circuit.num_qubits
        values = _check_values(values, params)
        n_rows = values.shape[0]
        output_bytes = float(n_rows) * 2**n * 8
        what = (f"probabilities of {n_rows} rows on n_qubits={n} (2**{n} outcomes per row, "
                "float64)")
        advice = ("use fewer qubits, fewer rows at a time, or expectation values "
                  "(EstimatorTransformer) or sampled outcomes instead of probabilities.")
        if self.samples:
            shots = self._shots_for(None)
            # Refused before sampling, the output (n_qubits) then with the shots (shots).
            check_memory(output_bytes, what, advice)
            check_memory(output_bytes + self._sampling_bytes(n_rows, shots, n, len(params)),
                         f"probabilities from {n_rows} rows x shots={shots} on n_qubits={n}",
                         "use fewer shots, or fewer rows at a time.")
            outcomes = self.sample_outcomes(circuit, params, values, seed=seed)
            frequencies = _outcome_frequencies(outcomes, n)
            if self.readout_mitigation and self._fallback_runner is None and n_rows:
                frequencies = mitigate_probabilities(frequencies, self._readout_matrices(n))
            return frequencies
        if n > EXACT_PROBABILITY_MAX_QUBITS:
            raise ValueError(
                f"Exact probabilities on n_qubits={n} need 2**{n} expectation values per row; "
                f"set shots, or use at most {EXACT_PROBABILITY_MAX_QUBITS} qubits."
            )
        observables = [_z_string(n, m) for m in range(2**n)]
        probs = np.empty((n_rows, 2**n))
        # Per row: what the estimator holds for its 2**n expectation values, and their
        # four copies in the Walsh-Hadamard transform.
        rows = rows_per_chunk(n_rows, 2**n * 4 * 8 + _estimator_bytes_per_row(len(params), 2**n),
                              output_bytes, what, advice)
        for start in range(0, n_rows, rows):
            z_strings = self._estimate(circuit, params, values[start:start + rows], observables)
            block = np.clip(_walsh_hadamard(z_strings) / 2**n, 0.0, None)
            probs[start:start + rows] = block / block.sum(axis=1, keepdims=True)
        return probs

    def sample_outcomes(self, circuit, params, values, shots=None, seed=None):
        """Measured outcomes (integers, qubit 0 least significant): ``(n_rows, shots)``.

        Parameters
        ----------
        circuit : QuantumCircuit
            The parametrised circuit, without measurements (sampling adds them).
        params : list of Parameter
            The circuit's parameters in binding order.
        values : array-like of shape (n_rows, n_params)
            One parameter set per row, its columns in the order of ``params``.
        shots : int or None, default=None
            Shots per parameter set; ``None`` uses the runner's ``shots``, else a ready
            sampler's ``default_shots`` or :data:`DEVICE_DEFAULT_SHOTS`.
        seed : int or None, default=None
            Seed of the shots; ``None`` uses the runner's ``seed``. Ignored by a ready
            sampler primitive.

        Returns
        -------
        outcomes : ndarray of shape (n_rows, shots), dtype int64
            The measured bitstring of each shot as an integer.

        Raises
        ------
        ValueError
            On an estimator backend, which cannot sample bitstrings; for invalid
            ``values``, ``shots`` or ``seed``; on more than 64 qubits (outcomes are 64-bit
            integers).
        MemoryLimitError
            If the shots and the parameter sets of all rows cannot fit in memory (see
            :data:`SAMPLER_BYTES_PER_SHOT`).
        QuantumJobError
            If the job failed after its retries (and no ``fallback`` was given).
        ShotBudgetError
            If the job would exceed the ``max_shots`` of the runner's ``jobs``.
        """
        return self._or_fallback("_sample_outcomes", "sample_outcomes", circuit, params,
                                 values, shots=shots, seed=seed)

    def _sample_outcomes(self, circuit, params, values, shots=None, seed=None):
        """:meth:`sample_outcomes` on this runner's own backend."""
        if self.kind == "estimator":
            raise ValueError("Sampling bitstrings needs a sampler backend, not an estimator.")
        self._check_attached()
        n = circuit.num_qubits
        if n > 64:
            raise ValueError(f"Sampled outcomes are 64-bit integers: at most 64 qubits; got "
                             f"n_qubits={n}.")
        shots = self._shots_for(shots)
        seed = check_seed(seed)
        values = _check_values(values, params)
        what = f"sampling {values.shape[0]} rows x shots={shots} on n_qubits={n}"
        if self.kind == "statevector":  # its labels of every outcome, one row at a time
            check_state_memory(n, self.kind, what, "use fewer qubits.", sampled=True)
        check_memory(self._sampling_bytes(values.shape[0], shots, n, len(params)), what,
                     "use fewer shots, or fewer rows per call.")
        seed = self.seed if seed is None else seed
        n_rows = len(values)
        if n_rows == 0:  # no job: Aer's sampler fails on no rows inside its bit array
            return np.empty((0, shots), dtype=np.int64)
        if self._samples_locally:
            def submit():
                return self._local_job(circuit, params, values, shots, seed)
        else:
            run_circuit = self._prepare(circuit, measured=True)
            bound = _bindings(run_circuit, params, values)

            def submit():
                return self._sampler(seed).run([(run_circuit, bound)], shots=shots)

        def check(result):
            _check_sampled(result, n_rows, shots, n)

        result = self.jobs.run(submit, check, n_rows * shots, self.name)[0]
        return _bitarray_to_outcomes(result.data.meas)

    @property
    def _samples_locally(self):
        """Whether sampling runs here (a fake device) rather than through a primitive."""
        return self.kind == "device" and not _is_ibm_hardware(self.backend)

    def _local_job(self, circuit, params, values, shots, seed):
        """A fake device's sampling job, run in this process.

        The shots are drawn from the exact noisy probabilities of
        :class:`NoisyDensityMatrixSimulator` (the device's ``NoiseModel.from_backend``,
        readout included) by a generator seeded with ``seed``: one stream for the whole
        job, so rows are independent and a seed reproduces them. A circuit touching more
        device qubits than that simulation holds is sampled by Aer on
        ``AerSimulator.from_backend`` (the same noise model) instead.
        """
        n = circuit.num_qubits
        run_circuit = self._prepare(circuit)
        n_active = len(active_qubits(run_circuit, n))
        if n_active > MAX_ACTIVE_QUBITS:
            from qiskit_aer.primitives import SamplerV2

            check_state_memory(n_active, "device", f"sampling on {n_active} device qubits "
                               f"(n_qubits={n} and the routing's)", "use fewer qubits.",
                               sampled=True)
            measured = self._prepare(circuit, measured=True)
            # The job's own options: the simulator is shared (device_aer_simulator).
            sampler = SamplerV2.from_backend(
                self._simulator(), seed=seed,
                options={"run_options": _aer_noisy_run_options(n_active)})
            return sampler.run([(measured, _bindings(measured, params, values))], shots=shots)
        key = (id(circuit), "sampled", tuple(params))
        if key not in self._noisy:
            self._noisy[key] = (circuit, NoisyDensityMatrixSimulator(
                run_circuit, params, [], self.backend, n, readout=True))
        simulator = self._noisy[key][1]
        with torch.no_grad():
            probs = simulator.probabilities(values, torch.zeros(0, dtype=torch.float64))
        outcomes = _draw_outcomes(probs.numpy(), shots, np.random.default_rng(seed))
        return LocalJob(_sampler_result(outcomes, n))

    def _readout_matrices(self, n_qubits):
        """Assignment matrices of the measured qubits: those of the noise that the shots
        carry (a fake device's noise model), else the device's calibration."""
        qubits = self.layout[:n_qubits]  # the device qubits measured, in logical order
        if self._samples_locally:
            return noise_model_assignment_matrices(self.backend, qubits)
        return readout_assignment_matrices(self.backend, qubits)

    def _or_fallback(self, here, there, *args, **kwargs):
        """Run ``here`` on this backend, or ``there`` on the fallback runner once a job
        failed for good (after its retries)."""
        if (self._fallback_runner is None and self.fallback is not None
                and self.jobs.fallback_reason is not None):
            # Another runner of these jobs (a model's circuit, or the model's
            # quantum_layer_, a copy sharing them) switched: the switch is the jobs', so
            # this one follows it rather than try the backend that failed.
            self._fallback_runner = self._make_fallback_runner()
        if self._fallback_runner is not None:
            return getattr(self._fallback_runner, there)(*args, **kwargs)
        try:
            return getattr(self, here)(*args, **kwargs)
        except QuantumJobError as exc:
            if self.fallback is None:
                raise
            reason = f"{self.name} failed ({exc}); switched to {backend_name(self.fallback)}"
            logger.warning("Fallback: %s", reason)
            self.jobs.note_fallback(reason)
            self._fallback_runner = self._make_fallback_runner()
            return getattr(self._fallback_runner, there)(*args, **kwargs)

    def _make_fallback_runner(self):
        return CircuitRunner(self.fallback, self.shots, self.seed, jobs=self.jobs)

    def _check_attached(self):
        if self.kind == "detached":
            raise ValueError(_detached_message(self.backend))

    def _shots_for(self, shots):
        """The shots of a sampling call: ``shots``, the runner's, or the default."""
        if shots is not None:
            return check_shots(shots)
        return self.shots or self._default_shots()

    @staticmethod
    def _sampling_bytes(n_rows, shots, n_qubits, n_params):
        """Estimated peak of sampling: the sampler's own per shot and per parameter set
        (about 18 KiB and 1 KiB per parameter on Aer, measured: 20,000 rows of one shot
        took 600 MB at 4 qubits), its bit array, the int64 outcomes."""
        per_row = 18432.0 + 1024.0 * n_params
        return float(n_rows) * (per_row + shots * (SAMPLER_BYTES_PER_SHOT + -(-n_qubits // 8)
                                                   + 8))

    # -- primitives ---------------------------------------------------------------------------
    def _estimate(self, circuit, params, values, observables):
        if len(values) == 0:  # no job: Aer's estimator crashes the process on no rows
            return np.empty((0, len(observables)))
        return self._or_fallback("_estimate_here", "_estimate", circuit, params, values,
                                 observables)

    def _estimate_here(self, circuit, params, values, observables):
        self._check_attached()
        run_circuit = self._prepare(circuit)
        if run_circuit is not circuit:
            observables = [obs.apply_layout(run_circuit.layout) for obs in observables]
        bound = _bindings(run_circuit, params, values)
        # Observables of shape (n_obs, 1) broadcast against the (n_rows,) sweep: one PUB.
        pub = (run_circuit, [[obs] for obs in observables], bound)
        estimator = self._estimator()
        precision = None
        if self.kind == "estimator" and self.shots is not None:
            precision = 1.0 / np.sqrt(self.shots)
        n_rows, n_obs = len(bound), len(observables)

        def submit():
            return estimator.run([pub], precision=precision)

        def check(result):
            _check_estimated(result, n_obs, n_rows)

        shots = n_rows * self.shots if precision is not None else 0
        evs = self.jobs.run(submit, check, shots, self.name)[0].data.evs
        return np.asarray(evs, dtype=float).T

    def _estimator(self):
        if self.kind == "estimator":
            return self.backend
        if self.kind == "statevector":
            from qiskit.primitives import StatevectorEstimator

            return StatevectorEstimator(seed=self.seed)
        from qiskit_aer.primitives import EstimatorV2

        return EstimatorV2.from_backend(self._simulator())

    def _sampler(self, seed):
        if self.kind == "sampler":
            return self.backend
        if self.kind == "statevector":
            # A Generator, not an int: with an int every row of a sweep restarts the same
            # stream, so equal rows would get identical shots.
            from qiskit.primitives import StatevectorSampler

            return StatevectorSampler(seed=np.random.default_rng(seed))
        if self.kind == "device":
            # A real device (fake ones sample locally, see _local_job): qiskit-ibm-runtime's
            # Sampler, in the scope's Batch or Session.
            hardware = _is_ibm_hardware(self.backend)
            return runtime_primitive("sampler", self.jobs.mode_for(self.backend), seed,
                                     local=not hardware)
        from qiskit_aer.primitives import SamplerV2

        return SamplerV2.from_backend(self._simulator(), seed=seed)

    def _simulator(self):
        """The Aer simulator: a device's is shared per process (``from_backend`` costs
        ~0.16 s, see :func:`~skqegm.quantum.noisy_simulator.device_aer_simulator`)."""
        if self._aer_simulator is None:
            if self.kind == "device":
                self._aer_simulator = device_aer_simulator(self.backend)
            else:
                from qiskit_aer import AerSimulator

                self._aer_simulator = AerSimulator()
        return self._aer_simulator

    def _prepare(self, circuit, measured=False):
        """The circuit to run: measured if asked, transpiled once for a device.

        Cached per logical circuit; the cache holds the circuit itself so that its
        ``id`` cannot be reused by another object.
        """
        key = (id(circuit), measured)
        if key not in self._prepared:
            run_circuit = circuit.measure_all(inplace=False) if measured else circuit
            if self.kind == "device":
                # Named here rather than by the transpiler's "Number of qubits greater
                # than device" deep inside its layout pass.
                self.check_width(circuit.num_qubits, "CircuitRunner")
                from qiskit.transpiler import generate_preset_pass_manager

                # The pass manager is rebuilt here and never stored: it does not pickle.
                pm = generate_preset_pass_manager(
                    optimization_level=OPTIMIZATION_LEVEL, backend=self.backend,
                    seed_transpiler=self.seed
                )
                run_circuit = self._transpile(pm, run_circuit)
                self.layout = [int(q) for q in run_circuit.layout.final_index_layout()]
            self._prepared[key] = (circuit, run_circuit)
        return self._prepared[key][1]

    def _transpile(self, pass_manager, circuit):
        """``pass_manager.run(circuit)``, a failure of Qiskit's transpiler named as such."""
        from qiskit.transpiler.exceptions import TranspilerError

        try:
            return pass_manager.run(circuit)
        except TranspilerError as err:
            message, cause = str(getattr(err, "message", err)).rstrip("."), ""
            target = self.backend.target
            two_qubit = sorted(name for name in target.operation_names
                               if getattr(target.operation_from_name(name), "num_qubits",
                                          None) == 2)
            if len(two_qubit) > 1 and "direction was swapped" in str(err):
                # FakeCairoV2: cx on some edges, ecr on others, each one way. Plain
                # qiskit fails the same on such a target (GateDirection finds no rule to
                # flip the cx); a target with cx alone, or ecr alone, transpiles.
                cause = (f" Its target mixes two-qubit gates ({', '.join(two_qubit)}), each "
                         "in one direction per edge, and Qiskit's gate-direction pass "
                         "cannot flip a cx on such a target (a limitation of Qiskit's "
                         "transpiler, reproduced without skqegm).")
            raise ValueError(
                f"Qiskit's transpiler cannot map the circuit onto backend {self.name!r} "
                f"(optimization_level={OPTIMIZATION_LEVEL}): {message}.{cause} Use another "
                "device (e.g. FakeTorontoV2, 27 qubits, cx only)."
            ) from err

    def _default_shots(self):
        if self.kind == "sampler":
            return getattr(self.backend, "default_shots", None) or DEVICE_DEFAULT_SHOTS
        return DEVICE_DEFAULT_SHOTS

    def __getstate__(self):
        # Simulators and transpiled circuits are caches: rebuild them after unpickling.
        state = self.__dict__.copy()
        state["_aer_simulator"] = None
        state["_prepared"] = {}
        state["_noisy"] = {}
        state["backend"] = detach_backend(state["backend"])
        state["fallback"] = detach_backend(state["fallback"])
        state["_fallback_runner"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update({"_noisy": {}, **state})
        self.kind = check_backend(self.backend)


def _check_fallback(fallback):
    if fallback is not None and check_backend(fallback) == "exact":
        raise ValueError("fallback must be a Qiskit backend ('statevector', 'aer', a "
                         f"device or a primitive); got {fallback!r}.")
    return fallback


def _detached_message(record):
    return (f"The backend {record.name!r} was not saved with the model (its service holds "
            "credentials), so nothing can be submitted to it. Re-attach it with "
            "set_params(backend=<the device, e.g. QiskitRuntimeService().backend("
            f"{record.name!r})>) before running circuits.")


def _check_sampled(result, n_rows, shots, n_qubits):
    """Refuse a sampler result that is not ``n_rows`` sets of ``shots`` ``n_qubits``-bit
    outcomes: a fault must never turn into wrong numbers."""
    try:
        bits = result[0].data.meas
        shape = (tuple(bits.shape), bits.num_shots, bits.num_bits)
    except Exception as exc:
        raise InvalidResultError(f"a result without measured bits ({exc})") from exc
    expected = ((n_rows,), shots, n_qubits)
    if shape != expected:
        raise InvalidResultError(f"a result of shape {shape}; expected {expected} "
                                 "(parameter sets, shots, bits)")


def _check_estimated(result, n_obs, n_rows):
    """Refuse expectation values of the wrong shape or that are not finite."""
    try:
        evs = np.asarray(result[0].data.evs, dtype=float)
    except Exception as exc:
        raise InvalidResultError(f"a result without expectation values ({exc})") from exc
    if evs.shape != (n_obs, n_rows):
        raise InvalidResultError(f"expectation values of shape {evs.shape}; expected "
                                 f"{(n_obs, n_rows)}")
    if not np.isfinite(evs).all():
        raise InvalidResultError("expectation values that are not finite")


def _check_values(values, params):
    """``values`` as a finite float array of shape ``(n_rows, len(params))``."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.shape[1] != len(params):
        raise ValueError(f"values must have shape (n_rows, {len(params)}): one column per "
                         f"parameter; got shape {values.shape}.")
    if not np.isfinite(values).all():
        raise ValueError("values must be finite: a circuit cannot bind NaN or infinity.")
    return values


def _bindings(circuit, params, values):
    """Parameter values in ``circuit.parameters`` order, as a ``(n_rows, n_params)`` array.

    ``values`` columns follow ``params``. Parameters the transpiler removed (a diagonal
    gate right before a measurement) are dropped: they cannot change the outcome.
    """
    values = np.asarray(values, dtype=float)
    column = {param: j for j, param in enumerate(params)}
    order = [column[param] for param in circuit.parameters]
    return values[:, order]


def _z_string(n_qubits, mask):
    """The Pauli operator with Z on every qubit whose bit is set in ``mask``."""
    from qiskit.quantum_info import SparsePauliOp

    label = "".join("Z" if (mask >> q) & 1 else "I" for q in reversed(range(n_qubits)))
    return SparsePauliOp(label)


def _walsh_hadamard(a):
    """Unnormalised Walsh-Hadamard transform along the last axis (length a power of 2)."""
    a = np.array(a, dtype=float)
    size = a.shape[-1]
    h = 1
    while h < size:
        view = a.reshape(*a.shape[:-1], size // (2 * h), 2, h)
        first, second = view[..., 0, :].copy(), view[..., 1, :].copy()
        view[..., 0, :] = first + second
        view[..., 1, :] = first - second
        h *= 2
    return a


def _draw_outcomes(probabilities, shots, rng):
    """``shots`` outcomes per row drawn from its probabilities: ``(n_rows, shots)`` int64.

    By the inverse of each row's cumulative distribution, at ``shots`` uniforms of ``rng``
    per row, the rows in order: a zero probability is never drawn.
    """
    probs = np.clip(np.asarray(probabilities, dtype=float), 0.0, None)
    cdf = np.cumsum(probs, axis=1)
    cdf /= cdf[:, -1:]  # the last entry is then exactly 1, above every uniform in [0, 1)
    outcomes = np.empty((len(probs), shots), dtype=np.int64)
    rows = chunk_rows(len(probs), 16 * shots)
    for start in range(0, len(probs), rows):
        uniforms = rng.random((min(rows, len(probs) - start), shots))
        for i, u in enumerate(uniforms, start):
            outcomes[i] = np.searchsorted(cdf[i], u, side="right")
    return outcomes


def _sampler_result(outcomes, n_qubits):
    """A sampler's result of integer outcomes ``(n_rows, shots)``: one PUB, ``meas``."""
    n_bytes = -(-n_qubits // 8)
    shifts = 8 * np.arange(n_bytes - 1, -1, -1, dtype=np.int64)  # big-endian bytes
    raw = ((outcomes[..., None] >> shifts) & 0xFF).astype(np.uint8)
    from qiskit.primitives.containers import BitArray, DataBin, PrimitiveResult, SamplerPubResult

    bits = BitArray(raw, n_qubits)
    return PrimitiveResult([SamplerPubResult(DataBin(meas=bits, shape=bits.shape))])


def _bitarray_to_outcomes(bit_array):
    """Integers of the measured bitstrings of a ``BitArray``: shape ``(*shape, shots)``."""
    raw = bit_array.array.astype(np.int64)  # big-endian bytes, last byte least significant
    weights = 1 << (8 * np.arange(raw.shape[-1] - 1, -1, -1, dtype=np.int64))
    return raw @ weights


def _outcome_frequencies(outcomes, n_qubits):
    """Relative frequencies of each outcome per row: ``(n_rows, 2**n_qubits)``.

    The int64 counts are made a chunk of rows at a time, so the peak is the output plus
    one chunk (the caller has checked that the output fits).
    """
    outcomes = np.asarray(outcomes)
    n_rows, shots = outcomes.shape
    dim = 2**n_qubits
    frequencies = np.empty((n_rows, dim))
    rows = chunk_rows(n_rows, 16 * dim + 8 * shots)
    for start in range(0, n_rows, rows):
        block = outcomes[start:start + rows]
        flat = (block + dim * np.arange(block.shape[0])[:, None]).ravel()
        counts = np.bincount(flat, minlength=block.shape[0] * dim)
        frequencies[start:start + rows] = counts.reshape(-1, dim) / shots
    return frequencies
