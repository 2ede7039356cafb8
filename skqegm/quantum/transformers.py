"""The quantum variational layer as scikit-learn transformers.

:class:`EstimatorTransformer` maps each row to the expectation values ``<Z_i>`` of its
qubits (eq. 4); :class:`SamplerTransformer` maps it to the outcome probabilities
``P(y | x) = |<y|psi(x)>|^2``. Both run the same circuit (encoding then the
hardware-efficient ansatz, eqs. 11-13) on any backend of :mod:`skqegm.quantum.backends`.
"""

import threading
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted, validate_data

from ..utils._fit_params import fit_param, record_fit_params
from ..utils._memory import check_memory, rows_per_chunk
from ..utils._validation import (
    DEVICES,
    MAX_SHOTS,
    RANDOM_STATE,
    IntervalNotBool,
    check_device,
    check_readout_mitigation,
    check_seed,
)
from .backends import BACKEND_CONSTRAINT, CircuitRunner, check_backend, fitted_backend
from .circuits import (
    amplitude_encoding_angles,
    check_nonzero_rows,
    n_amplitude_qubits,
    variational_circuit,
)
from .runtime import (
    DEFAULT_MAX_RETRIES,
    BackendPersistenceMixin,
    JobManager,
    current_job_parameters,
    detach_backend,
)
from .simulator import (
    MAX_QUBITS,
    StatevectorSimulator,
    exact_bytes_per_row,
    exact_fixed_bytes,
    z_sign_matrix,
)

# The Qiskit circuit of a fitted transformer and its parameters, in binding order.
_CIRCUIT_ATTRIBUTES = ("circuit_", "input_params_", "weight_params_")
_CIRCUIT_LOCK = threading.Lock()


class _QuantumTransformer(BackendPersistenceMixin, TransformerMixin, BaseEstimator):
    """Shared fit / transform of the two transformers; subclasses pick the output."""

    _output = None  # "expval_z" or "probabilities"
    _parameter_constraints = {
        # Integers refuse booleans: shots=True ran 1 shot on the exact backend.
        "n_layers": [IntervalNotBool(Integral, 1, None, closed="left")],
        "encoding": [StrOptions({"angle", "amplitude"})],
        "weights": ["array-like", None],
        "backend": BACKEND_CONSTRAINT,
        "shots": [IntervalNotBool(Integral, 1, MAX_SHOTS, closed="both"), None],
        "random_state": RANDOM_STATE,
        "max_shots": [IntervalNotBool(Integral, 1, None, closed="left"), None],
        "max_retries": [IntervalNotBool(Integral, 0, None, closed="left")],
        "job_timeout": [IntervalNotBool(Real, 0, None, closed="neither"), None],
        "fallback": [p for p in BACKEND_CONSTRAINT if p is not None] + [None],
        "session": ["boolean"],
        "entanglement": [StrOptions({"linear"}), None],
        "device": [StrOptions(set(DEVICES))],
    }
    # Rebuilt from the parameters when unpickled, not stored: Qiskit circuits and
    # parameters, and the runner holding the backend's caches.
    _REBUILT = (*_CIRCUIT_ATTRIBUTES, "runner_")
    # The fit's backend is saved (and refused by skops) as the parameters are.
    _saved_backends = ("backend", "fallback", "_fit_backend")

    def __init__(
        self,
        n_layers=2,
        encoding="angle",
        weights=None,
        backend=None,
        shots=None,
        random_state=None,
        max_shots=None,
        max_retries=DEFAULT_MAX_RETRIES,
        job_timeout=None,
        fallback=None,
        session=False,
        entanglement="linear",
        device="cpu",
    ):
        self.n_layers = n_layers
        self.encoding = encoding
        self.weights = weights
        self.backend = backend
        self.shots = shots
        self.random_state = random_state
        self.max_shots = max_shots
        self.max_retries = max_retries
        self.job_timeout = job_timeout
        self.fallback = fallback
        self.session = session
        self.entanglement = entanglement
        self.device = device

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Sampled outputs change from fit to fit unless random_state fixes the seeds.
        tags.non_deterministic = self.shots is not None and self.random_state is None
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Build the circuit for ``X``'s features and set (or draw) its weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; only its number of features matters (the layer is not
            trained here: train it inside a model, or pass trained ``weights``).
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        X = validate_data(self, X, dtype=np.float64)
        kind = check_backend(self.backend)
        if kind == "exact":
            check_device(self.device)  # "cuda" without a GPU fails here, not at transform
            # The exact backend runs no CircuitRunner, which would refuse this otherwise.
            check_readout_mitigation(self._runner_options().get("readout_mitigation"), False,
                                     self.backend, self.shots)
        if self.encoding == "amplitude":
            n_qubits = n_amplitude_qubits(X.shape[1])
            check_nonzero_rows(X)
        else:
            n_qubits = X.shape[1]
        # Every check on the width comes before the circuit (X.shape[1] qubits for the
        # angle encoding) is built.
        if kind == "exact" and n_qubits > MAX_QUBITS:
            advice = self._width_advice()
            raise ValueError(
                f"X has {X.shape[1]} features, so the {self.encoding} encoding needs "
                f"{n_qubits} qubits; the exact backend simulates at most "
                f"{MAX_QUBITS} (n_qubits). {advice[0].upper()}{advice[1:]}"
            )
        rng = check_random_state(self.random_state)
        weights = self._initial_weights(2 * n_qubits * self.n_layers, rng)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        params = self._circuit_params()
        runner = None if kind == "exact" else self._make_runner(seed, params=params)
        self._check_width(n_qubits, runner, f"{type(self).__name__}.fit on X with "
                                            f"{X.shape[1]} features ({self.encoding} encoding)")
        self.weights_, self.seed_, self.n_qubits_ = weights, seed, n_qubits
        # What defines the results, kept until a refit whatever set_params changes.
        self._fit_backend = params.pop("backend")
        record_fit_params(self, params)
        self._set_circuit(kind, runner)
        return self

    def _circuit_params(self):
        """The parameters that define the results (see :meth:`_fitted`), as they are now."""
        return {"backend": self.backend, "shots": self.shots, "n_layers": self.n_layers,
                "encoding": self.encoding, "entanglement": self.entanglement,
                **self._runner_options()}

    def _fitted(self, name):
        """The parameter ``name`` of :meth:`_circuit_params` as the fit used it.

        The backend, ``shots`` and the circuit stay the fit's until a refit (the user
        guide's 'Backends after a fit'); only a saved device re-attached with
        ``set_params(backend=device)`` replaces its record. A transformer saved before
        the fit kept them reads the current values.
        """
        if name == "backend":
            return fitted_backend(getattr(self, "_fit_backend", self.backend), self.backend)
        return fit_param(self, name)

    def _check_width(self, n_qubits, runner, what):
        """Refuse a width whose single row cannot be run, before anything is built."""
        advice = self._width_advice()
        if runner is not None:
            runner.check_width(n_qubits, what, advice)
        n_out = n_qubits if self._output == "expval_z" else 2**n_qubits
        one_row = 16.0 * n_out  # the output row and its copy (counts, frequencies)
        if runner is None:
            kwargs = dict(n_layers=self.n_layers, dtype=torch.complex128)
            one_row += (exact_fixed_bytes(n_qubits, "probabilities", n_rows=1, **kwargs)
                        + exact_bytes_per_row(n_qubits, "probabilities", **kwargs))
        check_memory(one_row, f"{what}, one row at n_qubits={n_qubits},", advice)

    def _width_advice(self):
        # The amplitude encoding is already the narrow one: only fewer features help.
        if self.encoding == "amplitude":
            return "use fewer features."
        return "use fewer features, or encoding='amplitude'."

    def _set_circuit(self, kind, runner=None, jobs=None):
        # The exact path simulates without the Qiskit circuit, so it builds it only when
        # circuit_ (or its parameters) is first read: an exact fit does not import qiskit.
        self._circuit_args = (self.n_features_in_, self._fitted("n_layers"),
                              self._fitted("encoding"), self._fitted("entanglement"))
        for name in _CIRCUIT_ATTRIBUTES:
            vars(self).pop(name, None)
        if kind != "exact":
            self._build_circuit()
        if runner is None and kind != "exact":
            runner = self._make_runner(self.seed_, jobs=jobs)
        self.runner_ = runner

    def _build_circuit(self):
        circuit = variational_circuit(*self._circuit_args)
        for name, value in zip(_CIRCUIT_ATTRIBUTES, circuit):
            setattr(self, name, value)

    def __getattr__(self, name):
        # Reached only when the attribute is not set: the circuit of an exact fit.
        if name in _CIRCUIT_ATTRIBUTES and "_circuit_args" in vars(self):
            # Once, even when threads read at the same time: the three must match.
            with _CIRCUIT_LOCK:
                if name not in vars(self):
                    self._build_circuit()
            return vars(self)[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _make_runner(self, seed, jobs=None, params=None):
        """The runner of a Qiskit backend, its jobs under this transformer's policy
        (``jobs``: a manager whose count and records it goes on with); ``params`` (of
        :meth:`_circuit_params`) default to the fit's."""
        if jobs is None:
            jobs = JobManager(max_retries=self.max_retries, job_timeout=self.job_timeout,
                              max_shots=self.max_shots, session=self.session, seed=seed)
        if params is None:
            params = self.fitted_params_
        options = {name: params[name] for name in self._runner_options()}
        return CircuitRunner(params["backend"], params["shots"], seed, jobs=jobs,
                             fallback=self.fallback, **options)

    def _runner_options(self):
        return {}

    def _attached_runner(self):
        """``runner_``, ready for the next job: its jobs under the current
        :data:`~skqegm.quantum.runtime.JOB_PARAMETERS` (``set_params`` of these takes
        effect after the fit), and rebuilt, with its jobs' count and records, once a
        loaded transformer's device has been re-attached with ``set_params(backend=...)``.
        The backend and shots otherwise stay the fit's."""
        runner = self.runner_
        if runner is None:
            return None
        params = current_job_parameters(self)
        if runner.kind == "detached" and check_backend(self._fitted("backend")) != "detached":
            self.runner_ = runner = self._make_runner(self.seed_, jobs=runner.jobs)
        return runner.set_job_params(**params)

    def transform(self, X):
        """Run the circuit on every row of ``X`` (one primitive call for the batch).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        X_out : ndarray of shape (n_samples, n_outputs)
            Expectation values (:class:`EstimatorTransformer`) or probabilities
            (:class:`SamplerTransformer`).
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self._evaluate(X, self.weights_[None, :])[0]

    def get_feature_names_out(self, input_features=None):
        """Output feature names: ``z_i`` per qubit, or ``p_<bitstring>`` per outcome."""
        check_is_fitted(self)
        _check_feature_names_in(self, input_features)
        # A Python string per output: about 60 B + n_qubits each, 2**n of them for
        # probabilities.
        check_memory(float(self.n_outputs_) * (72 + self.n_qubits_),
                     f"{type(self).__name__}.get_feature_names_out on n_qubits="
                     f"{self.n_qubits_} ({self.n_outputs_:,} names)", "use fewer qubits.")
        return np.asarray(self._output_names(), dtype=object)

    @property
    def n_outputs_(self):
        """Number of output columns."""
        check_is_fitted(self)
        return self.n_qubits_ if self._output == "expval_z" else 2**self.n_qubits_

    @property
    def fitted_params_(self):
        """The parameters that define the results, as the fit used them.

        ``backend``, ``shots``, ``n_layers``, ``encoding`` and ``entanglement`` (and
        ``readout_mitigation`` of :class:`SamplerTransformer`) stay the fit's until a
        refit, whatever ``set_params`` changes since (the user guide's 'Backends after a
        fit'): code that runs the fitted circuit (such as
        :class:`~skqegm.quantum.QuantumLayer`) reads them here, not with
        ``get_params``. The backend is the fit's, or the device re-attached with
        ``set_params(backend=device)`` to a transformer saved without it. A transformer
        saved before the fit kept them gives their current values.

        Returns
        -------
        params : dict
            ``{name: value}``, a new dict at each read (changing it changes nothing).

        Examples
        --------
        >>> from skqegm.quantum import SamplerTransformer
        >>> qt = SamplerTransformer(n_layers=1).fit([[0.0, 0.0]])
        >>> params = qt.set_params(n_layers=3, encoding="amplitude").fitted_params_
        >>> params["n_layers"], params["encoding"], params["shots"]
        (1, 'angle', None)
        >>> sorted(params)
        ['backend', 'encoding', 'entanglement', 'n_layers', 'readout_mitigation', 'shots']
        """
        check_is_fitted(self)
        return {name: self._fitted(name) for name in self._circuit_params()}

    def evaluate(self, X, weight_sets):
        """Outputs of the circuit on ``X`` for each of several weight sets, in one call.

        The exact path builds one unitary per weight set (then multinomial shot noise if
        ``shots`` is set); a Qiskit backend runs every (weight set, row) pair as one
        parameter set of a single primitive call. This is what the parameter-shift rule
        needs (:func:`~skqegm.quantum.parameter_shift_jacobian`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs, validated as in :meth:`transform`.
        weight_sets : array-like of shape (n_sets, n_weights)
            Circuit weights, one set per row.

        Returns
        -------
        outputs : ndarray of shape (n_sets, n_samples, n_outputs)

        Examples
        --------
        >>> import numpy as np
        >>> from skqegm.quantum import EstimatorTransformer
        >>> qt = EstimatorTransformer(n_layers=1).fit([[0.0]])
        >>> qt.evaluate([[0.0], [np.pi]], [[0.0, 0.0], [np.pi, 0.0]]).round(6)[..., 0]
        array([[ 1., -1.],
               [-1.,  1.]])
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        weight_sets = np.atleast_2d(np.asarray(weight_sets, dtype=np.float64))
        if (weight_sets.ndim != 2 or weight_sets.shape[1] != self.weights_.size
                or weight_sets.shape[0] == 0):
            raise ValueError(f"weight_sets must have shape (n_sets, {self.weights_.size}) "
                             f"with n_sets >= 1; got {weight_sets.shape}.")
        if not np.isfinite(weight_sets).all():
            raise ValueError("weight_sets must be finite; got NaN or infinity.")
        return self._evaluate(X, weight_sets)

    def _evaluate(self, X, weight_sets):
        if self._fitted("encoding") == "amplitude":
            check_nonzero_rows(X)  # a zero row is an error, not NaN
        if self._attached_runner() is None:
            return self._evaluate_exact(X, weight_sets)
        if self.runner_.exact_noisy:
            inputs = self._noisy_inputs(X)
            return np.stack([self._run_noisy(inputs, weights) for weights in weight_sets])
        n_sets, n_rows = len(weight_sets), len(X)
        out = self.run_pairs(np.tile(X, (n_sets, 1)), np.repeat(weight_sets, n_rows, axis=0))
        return out.reshape(n_sets, n_rows, -1)

    def run_pairs(self, X, weights, seed=None):
        """Qiskit backends: row ``i`` of ``X`` with row ``i`` of ``weights``, in ONE call.

        The building block of training through a backend: a batch and all its shifted
        parameter sets go to the primitive together.

        Parameters
        ----------
        X : ndarray of shape (n_rows, n_features)
            Inputs (not validated: this is the inner loop).
        weights : ndarray of shape (n_rows, n_weights)
            One weight set per row.
        seed : int or None, default=None
            Seed of the shots; ``None`` uses ``seed_`` (fresh shot noise for each
            training step needs a fresh seed).

        Returns
        -------
        outputs : ndarray of shape (n_rows, n_outputs)

        Raises
        ------
        ValueError
            On the exact backend, which evaluates weight sets, not pairs (see
            :meth:`evaluate`).

        Examples
        --------
        >>> import numpy as np
        >>> from skqegm.quantum import EstimatorTransformer
        >>> qt = EstimatorTransformer(n_layers=1, backend="statevector").fit([[0.0]])
        >>> qt.run_pairs(np.array([[0.0], [0.0]]), np.array([[0.0, 0.0], [np.pi, 0.0]])).round(6)
        array([[ 1.],
               [-1.]])
        """
        check_is_fitted(self)
        if self._attached_runner() is None:
            raise ValueError("run_pairs runs a Qiskit backend; the exact backend (backend="
                             "None) evaluates weight sets with evaluate().")
        seed = check_seed(seed)
        values = self.parameter_values(X, weights)
        if self.runner_.exact_noisy:
            return self._run_noisy_pairs(values[:, :len(self.input_params_)],
                                         values[:, len(self.input_params_):])
        run = getattr(self.runner_, self._output)
        return run(self.circuit_, self.parameters_, values, seed=seed)

    @property
    def exact_noisy(self):
        """Whether results come from :meth:`noisy_simulator` (a fake device, ``shots=None``).

        Read after a loaded transformer's device is re-attached, so it is the same before
        and after the first call that uses the device.
        """
        check_is_fitted(self)
        runner = self._attached_runner()
        return runner is not None and runner.exact_noisy

    def noisy_simulator(self):
        """The exact noisy simulator of this transformer's circuit on its fake device.

        Used by :meth:`transform` and :class:`~skqegm.quantum.QuantumLayer` when
        ``backend`` is a fake device and ``shots=None``.

        Returns
        -------
        simulator : NoisyDensityMatrixSimulator

        Raises
        ------
        ValueError
            If the backend is not a fake device or ``shots`` is set.
        """
        check_is_fitted(self)
        runner = self._attached_runner()
        if runner is None:
            raise ValueError("The exact backend (backend=None) has no noisy simulator; use a "
                             "fake device, e.g. backend=FakeManilaV2().")
        return runner.noisy_simulator(self.circuit_, self.input_params_, self.weight_params_)

    def _noisy_inputs(self, X):
        """The values of ``input_params_`` for the rows of ``X``."""
        if self._fitted("encoding") == "amplitude":
            return amplitude_encoding_angles(X, self.n_qubits_)
        return np.asarray(X, dtype=np.float64)

    def _run_noisy(self, inputs, weights):
        """Outputs of the noisy simulator for input values and one shared weight set."""
        with torch.no_grad():
            out = getattr(self.noisy_simulator(), self._output)(
                torch.from_numpy(np.require(inputs, requirements=("C", "W"))),
                torch.from_numpy(np.ascontiguousarray(weights)))
        return out.numpy()

    def _run_noisy_pairs(self, inputs, weights):
        """Outputs for per-row weights: one call per distinct weight set (the shared
        ansatz then runs once per set), or the whole circuit per row if they are many."""
        sets, index = np.unique(weights, axis=0, return_inverse=True)
        index = index.ravel()
        if len(sets) > 8:
            return self._run_noisy(inputs, weights)
        out = np.empty((len(inputs), self.n_outputs_))
        for k, weight_set in enumerate(sets):
            rows = np.flatnonzero(index == k)
            out[rows] = self._run_noisy(inputs[rows], weight_set)
        return out

    def sample_outcomes(self, X, weights, seed=None):
        """One measured outcome per pair (row of ``X``, row of ``weights``), Qiskit backends.

        Parameters
        ----------
        X : ndarray of shape (n_rows, n_features)
            Inputs (not validated).
        weights : ndarray of shape (n_rows, n_weights)
            One weight set per row.
        seed : int or None, default=None
            Seed of the shots; ``None`` uses ``seed_``.

        Returns
        -------
        outcomes : ndarray of shape (n_rows,), dtype int64
            The measured bitstrings as integers (qubit 0 least significant).

        Examples
        --------
        >>> import numpy as np
        >>> from skqegm.quantum import SamplerTransformer
        >>> qt = SamplerTransformer(n_layers=1, backend="statevector").fit([[0.0, 0.0]])
        >>> flip_qubit_1 = np.array([[0.0, np.pi]])  # Ry(pi) on qubit 1, weights zero
        >>> qt.sample_outcomes(flip_qubit_1, np.zeros((1, 4)), seed=0)
        array([2])
        """
        check_is_fitted(self)
        if self._attached_runner() is None:
            raise ValueError("sample_outcomes runs a Qiskit backend; the exact backend "
                             "(backend=None) samples from transform's probabilities.")
        seed = check_seed(seed)
        values = self.parameter_values(X, weights)
        return self.runner_.sample_outcomes(self.circuit_, self.parameters_, values, shots=1,
                                            seed=seed)[:, 0]

    @property
    def parameters_(self):
        """The circuit's parameters in binding order: inputs, then weights."""
        check_is_fitted(self)
        return self.input_params_ + self.weight_params_

    def parameter_values(self, X, weights):
        """One row of parameter values (in ``parameters_`` order) per pair of rows.

        Angle encoding binds the inputs themselves; amplitude encoding binds the rotation
        angles that prepare each normalised row.

        Parameters
        ----------
        X : ndarray of shape (n_rows, n_features)
            Inputs.
        weights : ndarray of shape (n_rows, n_weights)
            One weight set per row.

        Returns
        -------
        values : ndarray of shape (n_rows, n_parameters)

        Raises
        ------
        ValueError
            If ``X`` or ``weights`` has the wrong shape or a value that is not finite.

        Examples
        --------
        >>> import numpy as np
        >>> from skqegm.quantum import EstimatorTransformer
        >>> qt = EstimatorTransformer(n_layers=1).fit([[0.1, 0.2]])
        >>> qt.parameter_values(np.array([[0.1, 0.2]]), np.ones((1, 4))).tolist()
        [[0.1, 0.2, 1.0, 1.0, 1.0, 1.0]]
        """
        check_is_fitted(self)
        # Cheap next to a primitive call, and a wrong shape or NaN would otherwise fail
        # deep in Qiskit ("Binding to NaN", an index error) or bind the wrong columns.
        X = np.asarray(X, dtype=np.float64)
        weights = np.asarray(weights, dtype=np.float64)
        n_weights = self.weights_.size
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X must have shape (n_rows, {self.n_features_in_}); got "
                             f"{X.shape}.")
        if weights.shape != (X.shape[0], n_weights):
            raise ValueError(f"weights must have shape (n_rows, {n_weights}) with the n_rows "
                             f"of X ({X.shape[0]}); got {weights.shape}.")
        if not (np.isfinite(X).all() and np.isfinite(weights).all()):
            raise ValueError("X and weights must be finite; got NaN or infinity.")
        inputs = (X if self._fitted("encoding") == "angle"
                  else amplitude_encoding_angles(X, self.n_qubits_))
        return np.hstack([inputs, weights])

    # -- internals ---------------------------------------------------------------------------
    def _evaluate_exact(self, X, weight_sets):
        """Outputs of the torch simulator, ``(n_sets, n_rows, n_outputs)``, chunk by chunk.

        Rows go through in chunks that fit scikit-learn's ``working_memory`` (the
        outputs, and with ``shots`` the probabilities and their int64 counts, of every
        weight set), so the peak is the output plus one chunk. Exact outputs come
        straight from the simulator (``<Z>`` reduced inside it, cache-sized chunk by
        chunk); a batch that fits one chunk is returned without a copy. The shots of the
        rows are drawn in the order of one draw over the whole output (weight set, then
        row), so the results do not depend on the chunks.
        """
        n_sets, n_rows, n = len(weight_sets), len(X), self.n_qubits_
        n_layers, shots = self._fitted("n_layers"), self._fitted("shots")
        simulator = StatevectorSimulator(n, n_layers, self._fitted("encoding"),
                                         dtype=torch.complex128,
                                         entanglement=self._fitted("entanglement"))
        sampled = shots is not None
        computed = "probabilities" if sampled else self._output
        kwargs = dict(n_layers=n_layers, n_weight_sets=n_sets, dtype=torch.complex128)
        out_bytes = 8.0 * n_sets * n_rows * self.n_outputs_
        per_row = exact_bytes_per_row(n, computed, **kwargs) + (
            3 * 8.0 * n_sets * 2**n if sampled else 0)  # counts, frequencies, the division
        fixed = exact_fixed_bytes(n, computed, n_rows=n_rows, **kwargs) + out_bytes
        if self._output == "expval_z":
            fixed += 16.0 * 2**n * n  # the float64 signs, and a column being built
        sets = f" x {n_sets} weight sets" if n_sets > 1 else ""
        device = check_device(self.device)
        rows = rows_per_chunk(
            n_rows, per_row, fixed,
            f"{type(self).__name__} (exact backend, n_qubits={n}) on {n_rows} rows{sets}",
            "pass fewer rows at a time, or use fewer qubits.", device)
        X_t, W_t = _tensor(X).to(device), _tensor(weight_sets).to(device)
        with torch.no_grad():
            if not sampled:
                evaluate = getattr(simulator, computed)
                if rows >= n_rows:
                    return evaluate(X_t, W_t).cpu().numpy()
                out = np.empty((n_sets, n_rows, self.n_outputs_))
                for start in range(0, n_rows, rows):
                    block = slice(start, start + rows)
                    out[:, block] = evaluate(X_t[block], W_t).cpu().numpy()
                return out
            # <Z> from each chunk's sampled frequencies by the same numpy product.
            signs = z_sign_matrix(n) if self._output == "expval_z" else None
            rng = np.random.default_rng(self.seed_)
            out = np.empty((n_sets, n_rows, self.n_outputs_))
            if n_sets == 1 or rows >= n_rows:
                for start in range(0, n_rows, rows):
                    block = slice(start, start + rows)
                    probs = simulator.probabilities(X_t[block], W_t).cpu().numpy()
                    out[:, block] = self._finish(probs, rng, signs, shots)
            else:
                # Weight set by weight set: the shots follow the order of one draw.
                for k in range(n_sets):
                    for start in range(0, n_rows, rows):
                        block = slice(start, start + rows)
                        probs = simulator.probabilities(X_t[block], W_t[k]).cpu().numpy()
                        out[k, block] = self._finish(probs, rng, signs, shots)
        return out

    def _finish(self, probs, rng, signs, shots):
        """Shot noise (with ``shots``), then ``<Z>`` (with ``signs``), for a chunk."""
        if rng is not None:
            probs = rng.multinomial(shots, probs / probs.sum(-1, keepdims=True)) / shots
        return probs if signs is None else probs @ signs

    def __getstate__(self):
        # A copy: object.__getstate__ returns the instance's own __dict__.
        state = dict(super().__getstate__())
        runner = state.get("runner_")
        for name in self._REBUILT:
            state.pop(name, None)
        # The runner's jobs are kept: the shots submitted, which max_shots budgets
        # against (a loaded transformer started again from 0), and their records.
        if runner is not None:
            state["_jobs"] = runner.jobs
        # A device whose service holds an account is kept as its description only.
        for name in self._saved_backends:
            if name in state:
                state[name] = detach_backend(state[name])
        return state

    def __setstate__(self, state):
        # Saved before the parameters existed: those circuits had the CNOT chain and ran
        # on the CPU.
        state = {"entanglement": "linear", "device": "cpu", **state}
        jobs = state.pop("_jobs", None)
        super().__setstate__(state)
        if "seed_" in state:  # fitted: rebuild what was left out
            self._set_circuit(check_backend(self._fitted("backend")), jobs=jobs)

    def _initial_weights(self, n_weights, rng):
        if self.weights is None:
            return rng.uniform(0.0, 2.0 * np.pi, size=n_weights)
        weights = np.asarray(self.weights, dtype=float).ravel()
        booleans = any(isinstance(w, (bool, np.bool_))  # angles, not a mask (True: 1 rad)
                       for w in np.asarray(self.weights, dtype=object).ravel())
        if weights.shape != (n_weights,) or not np.all(np.isfinite(weights)) or booleans:
            got = "booleans" if booleans else f"shape {np.shape(self.weights)}"
            raise ValueError(
                f"weights must hold {n_weights} finite angles (2 * n_qubits * n_layers for "
                f"{self.n_layers} layers); got {got}."
            )
        return weights.copy()


class EstimatorTransformer(_QuantumTransformer):
    """Expectation values ``<Z_i>`` of the variational layer's qubits (equation 4).

    Each row is encoded (angle: ``Ry(x_i)`` on qubit ``i``; amplitude: the normalised row
    as the state's amplitudes), the hardware-efficient ansatz is applied with the
    transformer's weights, and ``<Z_i>`` of every qubit is returned.

    Parameters
    ----------
    n_layers : int, default=2
        Layers of the hardware-efficient ansatz.
    encoding : {"angle", "amplitude"}, default="angle"
        ``"angle"`` uses one qubit per feature (features are rotation angles in
        radians); ``"amplitude"`` uses ``ceil(log2 n_features)`` qubits.
    weights : array-like of shape (2 * n_qubits * n_layers,), default=None
        Circuit weights in binding order (see ``weight_params_``), finite angles in
        radians (booleans are refused). ``None`` draws them uniformly in ``[0, 2 pi)``
        from ``random_state``.
    backend : None, str, BackendV2, BaseEstimatorV2 or BaseSamplerV2, default=None
        ``None`` or ``"exact"``: the exact torch simulator; ``"statevector"``,
        ``"aer"``, a Qiskit device such as ``FakeTorontoV2()``, or a ready primitive.
        See :mod:`skqegm.quantum.backends`. A fake device with ``shots=None`` gives
        exact noisy values, readout errors included
        (:class:`~skqegm.quantum.NoisyDensityMatrixSimulator`). Fixed at fit, with
        ``shots``: ``set_params`` of either takes effect at the next fit, except to
        re-attach the device of a transformer saved without it.
    shots : int, default=None
        ``None``: exact values where the backend allows it; otherwise estimated from
        this many sampled bitstrings per row.
    random_state : int, RandomState instance or None, default=None
        Draws the weights (when not given) and seeds every simulator and transpiler.
    max_shots : int or None, default=None
        The most shots this fitted transformer submits (retries included); a job that
        would go past it is refused before submission with a
        :class:`~skqegm.exceptions.ShotBudgetError`. ``None``: no budget. The shots
        submitted are saved with the transformer (pickle, joblib, skops). This and
        ``max_retries``, ``job_timeout`` and ``fallback`` say how jobs run: the fitted
        transformer's jobs follow their current values (``set_params`` after the fit).
    max_retries : int, default=3
        Retries of a job after a transient fault (connection error, timeout, failed
        runtime job, a result of the wrong shape or with NaN), with exponential backoff
        and jitter; other errors fail at once. After the last retry a
        :class:`~skqegm.exceptions.QuantumJobError` names every job id.
    job_timeout : float or None, default=None
        Seconds a job may run before it is cancelled and retried; ``None`` waits.
    fallback : str, BackendV2, BaseEstimatorV2, BaseSamplerV2 or None, default=None
        A backend chosen by you, taken only once a job has failed after its retries; the
        switch is logged and recorded (``runner_.describe()``).
    session : bool, default=False
        Run the jobs of a model's fit on a qiskit-ibm-runtime device in a ``Session``
        rather than a ``Batch``.
    entanglement : {"linear", None}, default="linear"
        ``"linear"``: the ansatz's CNOT chain. ``None``: no CNOT, so the circuit is a
        product of single qubits and its outputs those of independent bits (the
        control that isolates entanglement; see
        :func:`~skqegm.quantum.hardware_efficient_ansatz`).
    device : {"cpu", "cuda", "auto"}, default="cpu"
        Where the exact backend simulates (``"auto"``: CUDA when torch sees a GPU);
        ``"cuda"`` without one is refused at fit. The outputs are numpy arrays either
        way. Qiskit backends ignore it. Read at each call, as ``max_shots`` is (not one
        of ``fitted_params_``): it says where the simulator runs, not what it computes,
        so ``set_params(device="cpu")`` moves a transformer fitted on a GPU.

    Attributes
    ----------
    n_qubits_ : int
        Qubits of the circuit.
    circuit_ : QuantumCircuit
        Encoding followed by the ansatz.
    input_params_ : list of Parameter
        Input parameters in binding order (the tree angles for amplitude encoding).
    weight_params_ : list of Parameter
        Weight parameters in binding order.
    weights_ : ndarray of shape (n_weights,)
        The weights used.
    seed_ : int
        Seed of the simulators and the transpiler, drawn from ``random_state``.
    fitted_params_ : dict
        ``backend``, ``shots``, ``n_layers``, ``encoding`` and ``entanglement`` as the
        fit used them: they define the results until a refit, whatever ``set_params``
        changes since.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    SamplerTransformer : The outcome probabilities of the same circuit.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.quantum import EstimatorTransformer
    >>> X = np.array([[0.0, np.pi], [np.pi / 2, 0.0]])
    >>> qt = EstimatorTransformer(n_layers=1, weights=np.zeros(4)).fit(X)
    >>> np.round(qt.transform(X), 6)  # qubit 1 flipped; then a Bell pair
    array([[ 1., -1.],
           [ 0.,  0.]])
    >>> qt.get_feature_names_out()
    array(['z_0', 'z_1'], dtype=object)
    """

    _output = "expval_z"

    def _output_names(self):
        return [f"z_{i}" for i in range(self.n_qubits_)]


class SamplerTransformer(_QuantumTransformer):
    """Outcome probabilities ``P(y | x)`` of the variational layer (equation 4).

    Same circuit and parameters as :class:`EstimatorTransformer`; ``transform`` returns
    the probability of every measurement outcome: ``2**n_qubits_`` columns that sum to 1,
    exact or from ``shots`` sampled bitstrings. Column ``k`` is the outcome whose
    bitstring is ``k`` in binary with qubit 0 as the least significant bit (Qiskit's
    order): the column named ``p_01`` is qubit 0 in ``|1>`` and qubit 1 in ``|0>``.

    Parameters
    ----------
    n_layers : int, default=2
        Layers of the hardware-efficient ansatz.
    encoding : {"angle", "amplitude"}, default="angle"
        How features enter the circuit.
    weights : array-like of shape (2 * n_qubits * n_layers,), default=None
        Circuit weights, finite angles in radians (booleans are refused); ``None`` draws
        them from ``random_state``.
    backend : None, str, BackendV2, BaseEstimatorV2 or BaseSamplerV2, default=None
        Where the circuit runs; see :class:`EstimatorTransformer`.
    shots : int, default=None
        ``None``: exact probabilities where the backend allows it; otherwise
        frequencies of this many shots per row.
    random_state : int, RandomState instance or None, default=None
        Draws the weights (when not given) and seeds every simulator and transpiler.
    max_shots : int or None, default=None
        The most shots this fitted transformer submits (retries included); a job that
        would go past it is refused before submission with a
        :class:`~skqegm.exceptions.ShotBudgetError`. ``None``: no budget. The shots
        submitted are saved with the transformer (pickle, joblib, skops). This and
        ``max_retries``, ``job_timeout`` and ``fallback`` say how jobs run: the fitted
        transformer's jobs follow their current values (``set_params`` after the fit).
    max_retries : int, default=3
        Retries of a job after a transient fault (connection error, timeout, failed
        runtime job, a result of the wrong shape or with NaN), with exponential backoff
        and jitter; other errors fail at once. After the last retry a
        :class:`~skqegm.exceptions.QuantumJobError` names every job id.
    job_timeout : float or None, default=None
        Seconds a job may run before it is cancelled and retried; ``None`` waits.
    fallback : str, BackendV2, BaseEstimatorV2, BaseSamplerV2 or None, default=None
        A backend chosen by you, taken only once a job has failed after its retries; the
        switch is logged and recorded (``runner_.describe()``).
    session : bool, default=False
        Run the jobs of a model's fit on a qiskit-ibm-runtime device in a ``Session``
        rather than a ``Batch``.
    readout_mitigation : bool, default=False
        Undo the device's readout errors in the sampled probabilities, with tensored
        assignment matrices from its calibration data
        (:func:`~skqegm.quantum.mitigation.mitigate_probabilities`); needs a device
        backend and ``shots``. Gate errors remain.
    entanglement : {"linear", None}, default="linear"
        ``"linear"``: the ansatz's CNOT chain. ``None``: no CNOT, so the circuit is a
        product of single qubits and its outputs those of independent bits (the
        control that isolates entanglement; see
        :func:`~skqegm.quantum.hardware_efficient_ansatz`).
    device : {"cpu", "cuda", "auto"}, default="cpu"
        Where the exact backend simulates (``"auto"``: CUDA when torch sees a GPU);
        ``"cuda"`` without one is refused at fit. The outputs are numpy arrays either
        way. Qiskit backends ignore it. Read at each call, as ``max_shots`` is (not one
        of ``fitted_params_``): it says where the simulator runs, not what it computes,
        so ``set_params(device="cpu")`` moves a transformer fitted on a GPU.

    Attributes
    ----------
    n_qubits_ : int
    circuit_ : QuantumCircuit
    input_params_ : list of Parameter
    weight_params_ : list of Parameter
    weights_ : ndarray of shape (n_weights,)
    seed_ : int
    fitted_params_ : dict
        With ``readout_mitigation`` as the fit used it.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features,)
        As in :class:`EstimatorTransformer`.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.quantum import SamplerTransformer
    >>> X = np.array([[np.pi / 2, 0.0]])
    >>> qt = SamplerTransformer(n_layers=1, weights=np.zeros(4)).fit(X)
    >>> np.round(qt.transform(X), 6)  # |00> and |11>, each with probability 1/2
    array([[0.5, 0. , 0. , 0.5]])
    >>> qt.get_feature_names_out().tolist()
    ['p_00', 'p_01', 'p_10', 'p_11']
    """

    _output = "probabilities"
    _parameter_constraints = {
        **_QuantumTransformer._parameter_constraints,
        "readout_mitigation": ["boolean"],
    }

    def __init__(self, n_layers=2, encoding="angle", weights=None, backend=None, shots=None,
                 random_state=None, max_shots=None, max_retries=DEFAULT_MAX_RETRIES,
                 job_timeout=None, fallback=None, session=False, readout_mitigation=False,
                 entanglement="linear", device="cpu"):
        super().__init__(n_layers=n_layers, encoding=encoding, weights=weights,
                         backend=backend, shots=shots, random_state=random_state,
                         max_shots=max_shots, max_retries=max_retries,
                         job_timeout=job_timeout, fallback=fallback, session=session,
                         entanglement=entanglement, device=device)
        self.readout_mitigation = readout_mitigation

    def _runner_options(self):
        return {"readout_mitigation": self.readout_mitigation}

    def _output_names(self):
        return [f"p_{k:0{self.n_qubits_}b}" for k in range(2**self.n_qubits_)]


def _tensor(array):
    """``torch.from_numpy`` of a writable array: a read-only one (pandas' copy-on-write
    data) is copied, as torch warns of undefined behaviour otherwise."""
    return torch.from_numpy(array if array.flags.writeable else array.copy())
