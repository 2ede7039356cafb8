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
    Circuits are transpiled to the device once and cached. A fake device runs locally on
    ``AerSimulator.from_backend`` (built once) under its noise model: exact noisy
    expectation values when ``shots=None`` (gate noise, observables mapped with
    ``apply_layout``; readout error only affects sampled bits), sampled bitstrings
    otherwise. A real IBM device (``qiskit_ibm_runtime.IBMBackend``) is sampled through
    qiskit-ibm-runtime's Sampler, with :data:`DEVICE_DEFAULT_SHOTS` when ``shots=None``.
a ``BaseEstimatorV2`` / ``BaseSamplerV2`` instance
    Used as given with the logical circuit (bring ISA circuits' transpilation yourself if
    the primitive needs it).
"""

import numpy as np
from qiskit.primitives import (
    BaseEstimatorV2,
    BaseSamplerV2,
    StatevectorEstimator,
    StatevectorSampler,
)
from qiskit.providers import BackendV2
from qiskit.quantum_info import SparsePauliOp
from sklearn.utils._param_validation import StrOptions

from ..utils._validation import check_option, check_shots

BACKEND_NAMES = ("exact", "statevector", "aer")
#: The ``backend`` parameter's constraint for scikit-learn's ``_parameter_constraints``:
#: what :func:`check_backend` accepts.
BACKEND_CONSTRAINT = [None, StrOptions(set(BACKEND_NAMES)), BackendV2, BaseEstimatorV2,
                      BaseSamplerV2]
#: Shots used on real hardware when ``shots=None`` (hardware cannot be exact).
DEVICE_DEFAULT_SHOTS = 4096
#: Exact probabilities need the 2**n Z-string expectation values: refuse beyond this.
EXACT_PROBABILITY_MAX_QUBITS = 12


def check_backend(backend):
    """Validate ``backend`` and return its kind.

    Parameters
    ----------
    backend : None, str, BackendV2, BaseEstimatorV2 or BaseSamplerV2
        ``None`` or one of :data:`BACKEND_NAMES`, a Qiskit device (real or fake), or a
        ready primitive.

    Returns
    -------
    kind : {"exact", "statevector", "aer", "device", "estimator", "sampler"}
        ``"exact"`` for ``None``; the name itself for a string.

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
    if isinstance(backend, BackendV2):
        return "device"
    if isinstance(backend, BaseEstimatorV2):
        return "estimator"
    if isinstance(backend, BaseSamplerV2):
        return "sampler"
    raise ValueError(
        "backend must be None, one of 'exact', 'statevector', 'aer', a qiskit BackendV2 "
        "(e.g. qiskit_ibm_runtime.fake_provider.FakeTorontoV2()), or a BaseEstimatorV2 / "
        f"BaseSamplerV2 instance; got {backend!r}."
    )


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

    Attributes
    ----------
    kind : str
        The backend's kind, as returned by :func:`check_backend`.
    samples : bool
        Whether results come from sampled bitstrings rather than exact expectation
        values.

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

    def __init__(self, backend, shots=None, seed=None):
        self.kind = check_backend(backend)
        if self.kind == "exact":
            raise ValueError("CircuitRunner runs Qiskit backends; 'exact' is the torch simulator.")
        self.backend = backend
        self.shots = check_shots(shots)
        self.seed = seed
        self._aer_simulator = None
        self._prepared = {}

    # -- public ------------------------------------------------------------------------------
    @property
    def samples(self):
        """Whether results come from sampled bitstrings (else exact expectation values)."""
        if self.kind == "estimator":
            return False  # shots become the estimator's precision, 1 / sqrt(shots)
        if self.kind == "sampler" or (self.kind == "device" and _is_ibm_hardware(self.backend)):
            return True
        return self.shots is not None

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
        """
        n = circuit.num_qubits
        if self.samples:
            outcomes = self.sample_outcomes(circuit, params, values, seed=seed)
            bits = (outcomes[..., None] >> np.arange(n)) & 1
            return 1.0 - 2.0 * bits.mean(axis=1)
        observables = [_z_string(n, 1 << i) for i in range(n)]
        return np.clip(self._estimate(circuit, params, values, observables), -1.0, 1.0)

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
        """
        n = circuit.num_qubits
        if self.samples:
            outcomes = self.sample_outcomes(circuit, params, values, seed=seed)
            return _outcome_frequencies(outcomes, n)
        if n > EXACT_PROBABILITY_MAX_QUBITS:
            raise ValueError(
                f"Exact probabilities on {n} qubits need 2**{n} expectation values; "
                f"set shots, or use at most {EXACT_PROBABILITY_MAX_QUBITS} qubits."
            )
        observables = [_z_string(n, m) for m in range(2**n)]
        z_strings = self._estimate(circuit, params, values, observables)
        probs = np.clip(_walsh_hadamard(z_strings) / 2**n, 0.0, None)
        return probs / probs.sum(axis=1, keepdims=True)

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
            On an estimator backend, which cannot sample bitstrings.
        """
        if self.kind == "estimator":
            raise ValueError("Sampling bitstrings needs a sampler backend, not an estimator.")
        shots = shots or self.shots or self._default_shots()
        run_circuit = self._prepare(circuit, measured=True)
        bound = _bindings(run_circuit, params, values)
        sampler = self._sampler(self.seed if seed is None else seed)
        result = sampler.run([(run_circuit, bound)], shots=shots).result()[0]
        return _bitarray_to_outcomes(result.data.meas)

    # -- primitives ---------------------------------------------------------------------------
    def _estimate(self, circuit, params, values, observables):
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
        evs = estimator.run([pub], precision=precision).result()[0].data.evs
        return np.asarray(evs, dtype=float).T

    def _estimator(self):
        if self.kind == "estimator":
            return self.backend
        if self.kind == "statevector":
            return StatevectorEstimator(seed=self.seed)
        from qiskit_aer.primitives import EstimatorV2

        return EstimatorV2.from_backend(self._simulator())

    def _sampler(self, seed):
        if self.kind == "sampler":
            return self.backend
        if self.kind == "statevector":
            # A Generator, not an int: with an int every row of a sweep restarts the same
            # stream, so equal rows would get identical shots.
            return StatevectorSampler(seed=np.random.default_rng(seed))
        if self.kind == "device" and _is_ibm_hardware(self.backend):  # pragma: no cover
            return _runtime_sampler(self.backend)
        from qiskit_aer.primitives import SamplerV2

        return SamplerV2.from_backend(self._simulator(), seed=seed)

    def _simulator(self):
        """The Aer simulator, built once: ``from_backend`` costs ~0.1-0.2 s per device."""
        if self._aer_simulator is None:
            from qiskit_aer import AerSimulator

            if self.kind == "device":
                self._aer_simulator = AerSimulator.from_backend(self.backend)
            else:
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
                from qiskit.transpiler import generate_preset_pass_manager

                # The pass manager is rebuilt here and never stored: it does not pickle.
                pm = generate_preset_pass_manager(
                    optimization_level=1, backend=self.backend, seed_transpiler=self.seed
                )
                run_circuit = pm.run(run_circuit)
            self._prepared[key] = (circuit, run_circuit)
        return self._prepared[key][1]

    def _default_shots(self):
        if self.kind == "sampler":
            return getattr(self.backend, "default_shots", None) or DEVICE_DEFAULT_SHOTS
        return DEVICE_DEFAULT_SHOTS

    def __getstate__(self):
        # Simulators and transpiled circuits are caches: rebuild them after unpickling.
        state = self.__dict__.copy()
        state["_aer_simulator"] = None
        state["_prepared"] = {}
        return state


def _runtime_sampler(backend):  # pragma: no cover - needs IBM Quantum credentials
    try:
        from qiskit_ibm_runtime.executor_sampler import Sampler
    except ImportError:
        from qiskit_ibm_runtime import SamplerV2 as Sampler
    return Sampler(mode=backend)


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


def _bitarray_to_outcomes(bit_array):
    """Integers of the measured bitstrings of a ``BitArray``: shape ``(*shape, shots)``."""
    raw = bit_array.array.astype(np.int64)  # big-endian bytes, last byte least significant
    weights = 1 << (8 * np.arange(raw.shape[-1] - 1, -1, -1, dtype=np.int64))
    return raw @ weights


def _outcome_frequencies(outcomes, n_qubits):
    """Relative frequencies of each outcome per row: ``(n_rows, 2**n_qubits)``."""
    outcomes = np.asarray(outcomes)
    n_rows, shots = outcomes.shape
    dim = 2**n_qubits
    flat = (outcomes + dim * np.arange(n_rows)[:, None]).ravel()
    return np.bincount(flat, minlength=n_rows * dim).reshape(n_rows, dim) / shots
