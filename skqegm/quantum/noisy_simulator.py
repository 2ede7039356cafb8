"""Exact noisy simulation of a transpiled circuit under a fake IBM device's noise model.

:class:`NoisyDensityMatrixSimulator` evaluates a circuit transpiled for a device (the one
:class:`~skqegm.quantum.CircuitRunner` runs) under the noise that qiskit-aer's
``NoiseModel.from_backend(backend)`` attaches to it: after every gate, the device's
``QuantumError`` for that gate and those qubits (depolarizing composed with thermal
relaxation, as Aer builds them), and a ``ReadoutError`` per measured qubit. Results are
exact (no shots), batched over rows, and differentiable by torch autograd.

How it computes (all in float64):

* Only the physical qubits the circuit touches are simulated (a 6-qubit circuit on a
  27-qubit device costs 6 qubits, as in Aer's own truncation).
* A density matrix on ``m`` qubits is held by its ``4**m`` real Pauli coefficients
  ``r_j = Tr(P_j rho)``; every gate and error is a real Pauli transfer matrix (PTM),
  converted from qiskit's ``SuperOp`` once, when the simulator is built.
* Gates whose angle depends on a row (the encoding) and everything before them on the
  same wires form the *prefix*, run per row (Schrodinger picture). The rest, the same
  for every row (the weighted ansatz), is run once per call on the measured
  observables (Heisenberg picture), giving a matrix ``M`` with ``out = M r``: one
  matrix product for the whole batch.
* When the prefix holds no two-qubit gate (angle encoding), the row state is a product,
  and when each qubit's row-dependent gate is one rotation (``rz``, ``rx``, ``ry``) its
  Pauli vector lies in a fixed 3-dimensional space (``1, cos, sin`` of the angle): ``M``
  is contracted to
  ``3**m`` columns rather than ``4**m``.

Not modelled (Aer's exact path on the same circuit leaves them out too): noise on idle
qubits (circuits are not scheduled, so there are no delays), coherent crosstalk, leakage,
and anything the fake device's calibration data does not hold.
"""

import logging
import math
import threading
from collections import OrderedDict

import numpy as np
import torch

from ..utils._memory import check_memory, rows_per_chunk

logger = logging.getLogger(__name__)

#: Devices whose noise :func:`device_noise` keeps per process, least recently used
#: dropped first: building it costs 0.05-0.4 s a device (FakeManilaV2 to FakeTorontoV2),
#: once per fitted transformer, CV fold and grid candidate without the cache.
NOISE_CACHE_SIZE = 8
_NOISE_CACHE = OrderedDict()
_SIMULATOR_CACHE = OrderedDict()  # device_aer_simulator's, as many and dropped alike
_NOISE_LOCK = threading.Lock()
#: Widest circuit simulated: ``m`` active qubits cost ``4**m`` Pauli coefficients per
#: row and per output.
MAX_ACTIVE_QUBITS = 12
# Instructions that change nothing in the simulation.
_IGNORED = ("barrier",)
# Single-qubit Pauli matrices in the order of the Pauli index: I, X, Y, Z.
_PAULIS = np.array([[[1, 0], [0, 1]], [[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]],
                   dtype=complex)


def pauli_transfer_matrix(channel, n_qubits):
    """Real Pauli transfer matrix ``R_ij = Tr(P_i E(P_j)) / 2**k`` of a ``k``-qubit channel.

    Pauli ``j`` has digit ``p_t = (j // 4**t) % 4`` (I, X, Y, Z) on the channel's qubit
    ``t`` (qiskit's order: qubit 0 is the channel's first qubit).

    Parameters
    ----------
    channel : object
        Anything ``qiskit.quantum_info.SuperOp`` accepts: a ``QuantumError``, a gate, an
        ``Operator``, a ``Kraus``.
    n_qubits : int
        Qubits of the channel (1 or 2).

    Returns
    -------
    ptm : ndarray of shape (4**n_qubits, 4**n_qubits)

    Examples
    --------
    >>> import numpy as np
    >>> from qiskit.circuit.library import XGate
    >>> from skqegm.quantum.noisy_simulator import pauli_transfer_matrix
    >>> np.round(pauli_transfer_matrix(XGate(), 1)).astype(int)  # X keeps I, X; flips Y, Z
    array([[ 1,  0,  0,  0],
           [ 0,  1,  0,  0],
           [ 0,  0, -1,  0],
           [ 0,  0,  0, -1]])
    """
    from qiskit.quantum_info import SuperOp

    superop = SuperOp(channel).data
    dim = 2**n_qubits
    basis = _pauli_basis(n_qubits)  # (4**k, d, d)
    # SuperOp acts on column-stacked vec(rho).
    images = superop @ basis.transpose(0, 2, 1).reshape(len(basis), -1).T
    images = images.T.reshape(len(basis), dim, dim).transpose(0, 2, 1)  # E(P_j)
    ptm = np.einsum("iab,jba->ij", basis, images) / dim
    return np.ascontiguousarray(ptm.real)


def _pauli_basis(n_qubits):
    """The ``4**k`` Pauli matrices, index ``sum_t 4**t p_t`` (qubit 0 rightmost in kron)."""
    basis = np.ones((1, 1, 1), dtype=complex)
    for _ in range(n_qubits):
        # A new, more significant qubit goes on the left of the Kronecker product.
        basis = np.einsum("pab,jcd->pjacbd", _PAULIS, basis).reshape(
            4 * len(basis), 2 * basis.shape[1], 2 * basis.shape[1])
    return basis


def device_noise(backend):
    """The gate and readout errors that ``NoiseModel.from_backend(backend)`` holds.

    They come from qiskit-aer's own builders, ``basic_device_gate_errors`` and
    ``basic_device_readout_errors`` on the backend's target, which ``from_backend``
    calls; errors for the same gate and qubits are composed, as
    ``NoiseModel.add_quantum_error`` does.

    Built once per process for each device (up to :data:`NOISE_CACHE_SIZE` of them), keyed
    on everything of its target that the builders read (each instruction's class, qubits,
    duration and error, each qubit's T1, T2 and frequency), so a copy of the device (as
    ``clone`` makes for every fit of a grid search) reuses it, and a device whose
    calibration changed gets its own. Every call returns new dicts; their readout
    matrices are read-only.

    Parameters
    ----------
    backend : BackendV2
        A device with a target (e.g. ``FakeTorontoV2()``).

    Returns
    -------
    gate_errors : dict
        ``(gate name, qubits) -> QuantumError``.
    readout_errors : dict
        ``qubit -> (2, 2) ndarray`` of ``P(read b | prepared t)`` at ``[t, b]``.

    See Also
    --------
    clear_device_noise_cache : Forget the noise built so far.

    Examples
    --------
    >>> from qiskit_ibm_runtime.fake_provider import FakeManilaV2
    >>> from skqegm.quantum.noisy_simulator import device_noise
    >>> gate_errors, readout_errors = device_noise(FakeManilaV2())
    >>> ("cx", (0, 1)) in gate_errors, ("rz", (0,)) in gate_errors  # rz is virtual
    (True, False)
    >>> readout_errors[0].round(4)
    array([[0.9647, 0.0353],
           [0.0353, 0.9647]])
    """
    noise = _cached_noise(backend)
    return dict(noise.gate_errors), dict(noise.readout_errors)


def clear_device_noise_cache():
    """Forget the device noise that :func:`device_noise` kept, and the simulators of
    :func:`device_aer_simulator`: the next call rebuilds them.

    Examples
    --------
    >>> from skqegm.quantum.noisy_simulator import clear_device_noise_cache
    >>> clear_device_noise_cache()
    """
    with _NOISE_LOCK:
        _NOISE_CACHE.clear()
        _SIMULATOR_CACHE.clear()


def _target_key(target):
    """What qiskit-aer's device noise builders read of ``target``, as a hashable key."""
    operations = []
    for name, properties in target.items():
        entries = None if properties is None else tuple(
            (qargs, None if p is None else (p.duration, p.error))
            for qargs, p in properties.items())
        operations.append((name, type(target.operation_from_name(name)), entries))
    qubits = tuple(None if p is None else (p.t1, p.t2, p.frequency)
                   for p in (target.qubit_properties or ()))
    return target.num_qubits, tuple(operations), qubits


def _cached_noise(backend):
    """The device's :class:`_DeviceNoise`, built once per target content."""
    return _cached(_NOISE_CACHE, _target_key(backend.target), lambda: _DeviceNoise(backend.target))


def device_aer_simulator(backend):
    """``AerSimulator.from_backend(backend)``, built once per process for each device.

    ``from_backend`` builds the device's noise model (0.16 s for FakeTorontoV2), more
    than a small job it serves (1 row of 16 noisy shots at 13 qubits: 0.26 s). The
    simulator is kept like :func:`device_noise`'s noise, keyed on the target's content
    and what ``from_backend`` copies besides (name, version, ``max_circuits``), so the
    runners of every fitted transformer, fold and grid candidate share it, and a device
    whose calibration changed gets its own. Shared between threads and runners: change
    no option of it; give a job's options to its ``run`` (they apply to that job only).

    Parameters
    ----------
    backend : BackendV2
        A device with a target (e.g. ``FakeTorontoV2()``).

    Returns
    -------
    simulator : AerSimulator

    See Also
    --------
    clear_device_noise_cache : Forget these simulators too.

    Examples
    --------
    >>> from qiskit_ibm_runtime.fake_provider import FakeManilaV2
    >>> from skqegm.quantum.noisy_simulator import device_aer_simulator
    >>> device_aer_simulator(FakeManilaV2()) is device_aer_simulator(FakeManilaV2())
    True
    """
    key = (backend.name, backend.backend_version, backend.max_circuits,
           _target_key(backend.target))

    def build():
        from qiskit_aer import AerSimulator

        return AerSimulator.from_backend(backend)

    return _cached(_SIMULATOR_CACHE, key, build)


def _cached(cache, key, build):
    """``cache[key]``, made by ``build()`` if absent; the least recently used dropped
    beyond :data:`NOISE_CACHE_SIZE`."""
    with _NOISE_LOCK:
        value = cache.get(key)
        if value is not None:
            cache.move_to_end(key)
            return value
    # Built outside the lock (threads building the same device get equal results); the
    # first one stored is the one every later call sees.
    built = build()
    with _NOISE_LOCK:
        value = cache.setdefault(key, built)
        while len(cache) > NOISE_CACHE_SIZE:
            cache.popitem(last=False)
    return value


class _DeviceNoise:
    """A device's gate and readout errors, and the PTMs of its gate errors as circuits
    ask for them (a two-qubit error's ``SuperOp`` costs ~0.1 s). Shared between threads
    and fits: nothing here is handed out writable."""

    def __init__(self, target):
        from qiskit_aer.noise.device import basic_device_gate_errors, basic_device_readout_errors

        self.gate_errors = {}
        for name, qubits, error in basic_device_gate_errors(target=target):
            key = (name, tuple(int(q) for q in qubits))
            self.gate_errors[key] = (self.gate_errors[key].compose(error)
                                     if key in self.gate_errors else error)
        self.readout_errors = {}
        for qubits, error in basic_device_readout_errors(target=target):
            self.readout_errors[int(qubits[0])] = _read_only(error.probabilities)
        self._ptms = {}
        self._lock = threading.Lock()

    def error_ptm(self, name, qubits):
        """A copy of the PTM of gate ``name``'s error on device ``qubits``, or ``None``."""
        key = (name, qubits)
        error = self.gate_errors.get(key)
        if error is None:
            return None
        with self._lock:
            ptm = self._ptms.get(key)
        if ptm is None:
            built = _read_only(pauli_transfer_matrix(error, len(qubits)))
            with self._lock:
                ptm = self._ptms.setdefault(key, built)
        return ptm.copy()


def _read_only(array):
    array = np.array(array, dtype=float)
    array.flags.writeable = False
    return array


def active_qubits(circuit, n_qubits):
    """The device qubits a transpiled circuit touches, those its simulation holds.

    Parameters
    ----------
    circuit : QuantumCircuit
        A circuit transpiled for a device, with its ``layout``.
    n_qubits : int
        Its logical qubits (their device qubits count even if no gate touches them).

    Returns
    -------
    qubits : list of int
        Sorted device qubit indices.

    Examples
    --------
    >>> from qiskit.transpiler import generate_preset_pass_manager
    >>> from qiskit_ibm_runtime.fake_provider import FakeManilaV2
    >>> from skqegm.quantum import variational_circuit
    >>> from skqegm.quantum.noisy_simulator import active_qubits
    >>> qc = variational_circuit(2, n_layers=1)[0]
    >>> pm = generate_preset_pass_manager(optimization_level=1, backend=FakeManilaV2(),
    ...                                   seed_transpiler=0)
    >>> len(active_qubits(pm.run(qc), 2))
    2
    """
    layout = [int(q) for q in circuit.layout.final_index_layout()[:n_qubits]]
    used = {circuit.find_bit(q).index for inst in circuit.data for q in inst.qubits
            if inst.operation.name not in _IGNORED}
    return sorted(used | set(layout))


class NoisyDensityMatrixSimulator:
    """Exact noisy outputs of a transpiled circuit, batched over rows, differentiable.

    Parameters
    ----------
    circuit : QuantumCircuit
        The circuit transpiled for ``backend``, with its ``layout`` (as
        :class:`~skqegm.quantum.CircuitRunner` prepares it), without measurements.
    input_params : list of Parameter
        Parameters that take one value per row (the encoding), in column order.
    weight_params : list of Parameter
        Parameters shared by the rows of a call (the ansatz weights), or given per row.
    backend : BackendV2
        The device whose noise model (``NoiseModel.from_backend``) applies.
    n_qubits : int
        Logical qubits: logical qubit ``i`` is read on device qubit
        ``circuit.layout.final_index_layout()[i]``.
    readout : bool, default=True
        Apply the device's readout errors to probabilities and to ``<Z_i>`` (the
        distribution and mean that a measured device reports). Aer's
        ``save_expectation_value`` and ``EstimatorV2`` leave readout errors out; pass
        ``False`` to match them.

    Attributes
    ----------
    active_qubits : list of int
        The device qubits the circuit touches, the only ones simulated.
    layout : list of int
        The device qubit of each logical qubit at the end of the circuit.

    Raises
    ------
    ValueError
        If the circuit touches more than :data:`MAX_ACTIVE_QUBITS` device qubits, or
        holds an instruction that is not simulated (a measurement, reset, delay, a
        parametrised gate other than ``rz``, ``rx``, ``ry``, ``p``, or an angle that is
        not affine in the parameters).

    Examples
    --------
    >>> import torch
    >>> from qiskit.transpiler import generate_preset_pass_manager
    >>> from qiskit_ibm_runtime.fake_provider import FakeManilaV2
    >>> from skqegm.quantum import variational_circuit
    >>> from skqegm.quantum.noisy_simulator import NoisyDensityMatrixSimulator
    >>> device = FakeManilaV2()
    >>> qc, inputs, weights = variational_circuit(2, n_layers=1)
    >>> pm = generate_preset_pass_manager(optimization_level=1, backend=device,
    ...                                   seed_transpiler=0)
    >>> sim = NoisyDensityMatrixSimulator(pm.run(qc), inputs, weights, device, 2)
    >>> x = torch.tensor([[0.3, 1.2]], dtype=torch.float64)
    >>> w = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    >>> probs = sim.probabilities(x, w)
    >>> probs.shape, round(float(probs.detach().sum()), 12)
    (torch.Size([1, 4]), 1.0)
    >>> probs[:, 1].sum().backward()
    >>> w.grad.shape
    torch.Size([4])
    """

    def __init__(self, circuit, input_params, weight_params, backend, n_qubits, readout=True):
        self.input_params = list(input_params)
        self.weight_params = list(weight_params)
        self.n_qubits = int(n_qubits)
        self.readout = bool(readout)
        self.layout = [int(q) for q in circuit.layout.final_index_layout()[: self.n_qubits]]
        self.active_qubits = active_qubits(circuit, self.n_qubits)
        m = len(self.active_qubits)
        if m > MAX_ACTIVE_QUBITS:
            raise ValueError(
                f"The transpiled circuit touches {m} device qubits (its {self.n_qubits} "
                f"logical qubits and the routing's); the noisy density-matrix simulator "
                f"handles at most {MAX_ACTIVE_QUBITS} (4**m Pauli coefficients per row and "
                "output). Use fewer qubits, or set shots to sample on the device's Aer "
                "simulator.")
        self.n_active = m
        noise = _cached_noise(backend)
        self._readout_errors = dict(noise.readout_errors)  # its matrices are read-only
        self._ops = self._parse(circuit, noise)
        self._observables = {}  # built at first use, once their memory is checked
        self._plans = {}
        logger.debug("Noisy simulator: %d operations on device qubits %s", len(self._ops),
                     self.active_qubits)

    # -- public ---------------------------------------------------------------------------
    def probabilities(self, inputs, weights):
        """Outcome probabilities per row, readout errors included (unless ``readout=False``).

        Parameters
        ----------
        inputs : Tensor of shape (n_rows, n_inputs)
            Values of ``input_params``, one row each.
        weights : Tensor of shape (n_weights,) or (n_rows, n_weights)
            Values of ``weight_params``: shared by every row, or one set per row
            (slower: the whole circuit then runs per row).

        Returns
        -------
        probabilities : Tensor of shape (n_rows, 2**n_qubits), float64
            Outcome ``k`` has logical qubit 0 as its least significant bit.
        """
        return self._run("probabilities", inputs, weights)

    def expval_z(self, inputs, weights):
        """``<Z_i>`` of every logical qubit per row: shape ``(n_rows, n_qubits)``.

        With ``readout=True`` (the default) this is the mean of ``1 - 2 b_i`` over the
        measured bits, readout errors included; ``readout=False`` gives the
        expectation value of the state, as Aer's estimator does.

        Parameters
        ----------
        inputs : Tensor of shape (n_rows, n_inputs)
        weights : Tensor of shape (n_weights,) or (n_rows, n_weights)
            As in :meth:`probabilities`.

        Returns
        -------
        expval : Tensor of shape (n_rows, n_qubits), float64
        """
        return self._run("expval_z", inputs, weights)

    def bytes_per_row(self, output="probabilities", per_row_weights=False):
        """Estimated bytes a row holds during a call (with autograd's saved tensors)."""
        plan = self._plan(per_row_weights)
        n_out = self._n_outputs(output)
        width = math.prod(plan["dims"]) if plan["product"] else 4**self.n_active
        prefix = 0 if plan["product"] else 3 * len(plan["prefix"]) * 4**self.n_active
        return 8.0 * (3 * width + prefix + 3 * n_out + 16 * self.n_active)

    def fixed_bytes(self, output="probabilities"):
        """Estimated bytes of a call that do not grow with its rows (the Heisenberg matrix
        of every ansatz block, kept for autograd)."""
        plan = self._plan(False)
        n_out = self._n_outputs(output)
        return 8.0 * n_out * 4**self.n_active * (len(plan["suffix"]) + 3)

    def _n_outputs(self, output):
        return 2**self.n_qubits if output == "probabilities" else self.n_qubits

    # -- building ---------------------------------------------------------------------------
    def _parse(self, circuit, noise):
        """The circuit as a list of operations on local qubit indices."""
        from qiskit.quantum_info import Operator

        local = {q: i for i, q in enumerate(self.active_qubits)}
        params = self.input_params + self.weight_params
        column = {p: j for j, p in enumerate(params)}
        ptm_cache = {}
        ops = []
        for inst in circuit.data:
            op = inst.operation
            name = op.name
            if name in _IGNORED:
                continue
            physical = tuple(circuit.find_bit(q).index for q in inst.qubits)
            if name in ("measure", "reset", "delay") or len(physical) > 2:
                raise ValueError(
                    f"The noisy simulator runs unmeasured gate circuits of 1- and 2-qubit "
                    f"gates; the circuit holds {name!r} on qubits {physical}.")
            key = ("error", name, physical)
            if key not in ptm_cache:
                ptm_cache[key] = noise.error_ptm(name, physical)
            error_ptm = ptm_cache[key]
            qubits = tuple(local[q] for q in physical)
            if op.is_parameterized():
                # One rotation, or the rz ry rz of a u3 (older devices' basis); the
                # gate's error follows the last.
                rotations = _rotations(op)
                for k, (gate, angle) in enumerate(rotations):
                    coef, offset = _affine_angle(gate, angle, column, len(params))
                    ops.append({"qubits": qubits, "gate": gate, "coef": coef,
                                "offset": offset,
                                "error": error_ptm if k == len(rotations) - 1 else None})
            else:
                key = ("gate", name, tuple(float(p) for p in op.params), physical)
                if key not in ptm_cache:
                    ptm = pauli_transfer_matrix(Operator(op), len(physical))
                    ptm_cache[key] = ptm if error_ptm is None else error_ptm @ ptm
                ops.append({"qubits": qubits, "ptm": ptm_cache[key]})
        return ops

    def _factor(self, readout_errors, q_physical, kind, bit=None):
        """Pauli coefficients ``Tr(O P) / 2`` of one qubit's observable factor."""
        if q_physical is None:
            return np.array([1.0, 0.0, 0.0, 0.0])  # identity (unmeasured qubit)
        probs = readout_errors.get(q_physical) if self.readout else None
        if probs is None:
            probs = np.eye(2)
        if kind == "z":  # diag(P(0|0) - P(1|0), P(0|1) - P(1|1))
            d0, d1 = probs[0, 0] - probs[0, 1], probs[1, 0] - probs[1, 1]
        else:  # diag(P(bit|0), P(bit|1))
            d0, d1 = probs[0, bit], probs[1, bit]
        return np.array([(d0 + d1) / 2, 0.0, 0.0, (d0 - d1) / 2])

    def _product_observables(self, factors):
        """``(n_out, 4, ..., 4)`` tensor of product observables, axis ``1 + q`` local qubit q."""
        rows = []
        for per_qubit in factors:
            vec = np.ones(1)
            for factor in per_qubit:
                vec = np.kron(vec, factor)  # local qubit 0 is the most significant axis
            rows.append(vec)
        return torch.from_numpy(np.array(rows).reshape(len(rows), *(4,) * self.n_active))

    def _get_observables(self, output):
        """The output's observables, built once."""
        if output not in self._observables:
            build = (self._outcome_observables if output == "probabilities"
                     else self._z_observables)
            self._observables[output] = build(self._readout_errors)
        return self._observables[output]

    def _outcome_observables(self, readout_errors):
        logical = {q: i for i, q in enumerate(self.layout)}
        n_out = 2**self.n_qubits
        factors = []
        for k in range(n_out):
            factors.append([
                self._factor(readout_errors, q, "p", (k >> logical[q]) & 1) if q in logical
                else self._factor(readout_errors, None, "p") for q in self.active_qubits])
        return self._product_observables(factors)

    def _z_observables(self, readout_errors):
        factors = []
        for i in range(self.n_qubits):
            factors.append([self._factor(readout_errors, q, "z") if q == self.layout[i]
                            else self._factor(readout_errors, None, "z")
                            for q in self.active_qubits])
        return self._product_observables(factors)

    def _plan(self, per_row_weights):
        """Split the operations into the per-row prefix and the shared suffix, once."""
        if per_row_weights in self._plans:
            return self._plans[per_row_weights]
        n_in = len(self.input_params)
        row_cols = np.zeros(n_in + len(self.weight_params), dtype=bool)
        row_cols[:n_in if not per_row_weights else None] = True
        row_dependent = [("coef" in op and bool(np.any(op["coef"][row_cols] != 0)))
                         for op in self._ops]
        # Prefix: every row-dependent operation and all that precedes it on its wires.
        tainted, in_prefix = set(), [False] * len(self._ops)
        for i in reversed(range(len(self._ops))):
            qubits = set(self._ops[i]["qubits"])
            if row_dependent[i] or qubits & tainted:
                in_prefix[i] = True
                tainted |= qubits
        prefix = [i for i in range(len(self._ops)) if in_prefix[i]]
        suffix = [i for i in range(len(self._ops)) if not in_prefix[i]]
        plan = {"row_dependent": row_dependent, "prefix": _fuse(self._ops, prefix),
                "suffix": _fuse(self._ops, suffix)}
        plan["product"] = all(len(self._ops[i]["qubits"]) == 1 for i in prefix)
        if plan["product"]:
            # Per qubit: its prefix operations; a last row-dependent rotation (nothing
            # after it but its constant error) makes the row's Pauli vector
            # 3-dimensional.
            per_qubit = {q: [i for i in prefix if self._ops[i]["qubits"] == (q,)]
                         for q in range(self.n_active)}
            plan["per_qubit"], plan["dims"] = per_qubit, []
            for q in range(self.n_active):
                ops_q = per_qubit[q]
                dependent = [i for i in ops_q if row_dependent[i]]
                if not dependent:
                    plan["dims"].append(1)
                elif (len(dependent) == 1 and dependent[0] == ops_q[-1]
                      and self._ops[dependent[0]].get("gate") in _ROTATIONS):
                    plan["dims"].append(3)
                else:
                    plan["dims"].append(4)
        self._plans[per_row_weights] = plan
        return plan

    # -- running ----------------------------------------------------------------------------
    def _run(self, output, inputs, weights):
        inputs = torch.as_tensor(inputs, dtype=torch.float64)
        weights = torch.as_tensor(weights, dtype=torch.float64)
        if inputs.ndim != 2 or inputs.shape[1] != len(self.input_params):
            raise ValueError(f"inputs must have shape (n_rows, {len(self.input_params)}); got "
                             f"{tuple(inputs.shape)}.")
        per_row = weights.ndim == 2
        n_rows = inputs.shape[0]
        n_weights = len(self.weight_params)
        if weights.shape[-1] != n_weights or (per_row and weights.shape[0] != n_rows):
            raise ValueError(f"weights must have shape ({len(self.weight_params)},) or "
                             f"({n_rows}, {len(self.weight_params)}); got {tuple(weights.shape)}.")
        n_out = self._n_outputs(output)
        if n_rows == 0:  # kept in the graph, so that backward works as for other batches
            return torch.zeros((0, n_out), dtype=torch.float64) + 0.0 * (inputs.sum()
                                                                         + weights.sum())
        what = (f"the noisy simulation of {n_rows} rows on {self.n_active} active device "
                f"qubits ({output}, {n_out} outputs)")
        advice = "use fewer qubits, fewer rows at a time, or shots."
        fixed = self.fixed_bytes(output) + 8.0 * n_rows * n_out
        check_memory(fixed, what, advice)
        observables = self._get_observables(output)
        per_row_bytes = self.bytes_per_row(output, per_row)
        grad = torch.is_grad_enabled() and (inputs.requires_grad or weights.requires_grad)
        if grad:  # autograd keeps every row's tensors: the whole batch must fit
            check_memory(fixed + n_rows * per_row_bytes, what, advice)
            rows = max(1, n_rows)
        else:
            rows = rows_per_chunk(n_rows, per_row_bytes, fixed, what, advice)
        plan = self._plan(per_row)
        values = _values(inputs, weights, per_row)
        chunks = []
        matrix = None
        for start in range(0, n_rows, rows):
            block = values[start:start + rows]
            if matrix is None:
                shared = block[:1]  # shared columns: equal on every row
                matrix = self._heisenberg(plan, observables, shared)
            chunks.append(self._contract(plan, matrix, block))
        return torch.cat(chunks) if len(chunks) > 1 else chunks[0]

    def _angles(self, op, values):
        """The operation's angle per row (``(n_rows,)``) from the parameter values."""
        coef = torch.from_numpy(op["coef"])
        return values @ coef + op["offset"]

    def _op_ptm(self, op, values, batched):
        """The PTM of an operation: ``(4**k, 4**k)``, or ``(n_rows, ...)`` if batched."""
        if "ptm" in op:
            return torch.from_numpy(op["ptm"])
        angles = self._angles(op, values)
        if not batched:
            angles = angles[0]
        ptm = _rotation_ptm(op["gate"], angles)
        if op["error"] is not None:
            ptm = torch.from_numpy(op["error"]) @ ptm
        return ptm

    def _block_ptm(self, block, values, batched):
        """One fused block's PTM on its (1 or 2) qubits, later operations on the left."""
        qubits = block["qubits"]
        total = None
        for i in block["ops"]:
            op = self._ops[i]
            ptm = _lift(self._op_ptm(op, values, batched), op["qubits"], qubits)
            total = ptm if total is None else ptm @ total
        return total

    def _heisenberg(self, plan, observables, shared):
        """Observables pulled back through the shared suffix: ``(n_out, 4, ..., 4)``."""
        obs = observables
        for block in reversed(plan["suffix"]):
            ptm = self._block_ptm(block, shared, batched=False)
            obs = _apply(obs, ptm, block["qubits"], self.n_active, adjoint=True)
        if plan["product"]:
            # Contract qubit by qubit with the basis of its row vectors.
            for q in range(self.n_active):
                basis = self._row_basis(plan, q, shared)  # (4, d_q)
                obs = torch.tensordot(obs, basis, dims=([1 + q], [0])).movedim(-1, 1 + q)
        return obs.reshape(obs.shape[0], -1)

    def _row_basis(self, plan, q, shared):
        """``(4, d_q)``: the row vectors of qubit ``q`` are ``basis @ coefficients``."""
        dim = plan["dims"][q]
        if dim == 4:
            return torch.eye(4, dtype=torch.float64)
        state = self._qubit_state(plan, q, shared, stop=-1 if dim == 3 else None)[0]
        if dim == 1:
            return state[:, None]
        op = self._ops[plan["per_qubit"][q][-1]]
        # The rotation keeps the Pauli components off its plane (a, b) and turns the
        # plane's: s_a' = cos s_a - sin s_b, s_b' = sin s_a + cos s_b.
        a, b = _ROTATIONS[op["gate"]]
        fixed, turned, quarter = state.clone(), torch.zeros_like(state), torch.zeros_like(state)
        fixed[[a, b]] = 0.0
        turned[[a, b]] = state[[a, b]]
        quarter[a], quarter[b] = -state[b], state[a]
        basis = torch.stack([fixed, turned, quarter], dim=1)
        if op["error"] is not None:
            basis = torch.from_numpy(op["error"]) @ basis
        return basis

    def _qubit_state(self, plan, q, values, stop=None):
        """Pauli vector of qubit ``q`` after its prefix operations (``stop`` excluded)."""
        state = torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=torch.float64).expand(len(values), 4)
        for i in plan["per_qubit"][q][:stop]:
            batched = plan["row_dependent"][i]
            ptm = self._op_ptm(self._ops[i], values, batched)
            state = (state @ ptm.T if ptm.ndim == 2
                     else torch.einsum("rij,rj->ri", ptm, state))
        return state

    def _contract(self, plan, matrix, values):
        """Outputs of a chunk of rows: their Pauli vectors (or coordinates) times ``M``."""
        n_rows = len(values)
        if plan["product"]:
            coords = torch.ones((n_rows, 1), dtype=torch.float64)
            for q in range(self.n_active):
                dim = plan["dims"][q]
                if dim == 1:
                    continue
                if dim == 3:
                    angles = self._angles(self._ops[plan["per_qubit"][q][-1]], values)
                    factor = torch.stack([torch.ones_like(angles), torch.cos(angles),
                                          torch.sin(angles)], dim=1)
                else:
                    factor = self._qubit_state(plan, q, values)
                coords = (coords[:, :, None] * factor[:, None, :]).reshape(n_rows, -1)
            return coords @ matrix.T
        state = torch.zeros((n_rows, 4**self.n_active), dtype=torch.float64)
        state[:, self._zero_index()] = 1.0
        state = state.reshape(n_rows, *(4,) * self.n_active)
        for block in plan["prefix"]:
            batched = any(plan["row_dependent"][i] for i in block["ops"])
            ptm = self._block_ptm(block, values, batched)
            state = _apply(state, ptm, block["qubits"], self.n_active, batched=batched)
        return state.reshape(n_rows, -1) @ matrix.T

    def _zero_index(self):
        """Flat index of ``|0...0><0...0|``'s non-zero Pauli coefficients (I or Z on each)."""
        index = torch.zeros(1, dtype=torch.long)
        for _ in range(self.n_active):
            index = torch.cat([index * 4, index * 4 + 3])
        return index


def _values(inputs, weights, per_row):
    """Parameter values in column order (inputs, then weights), one row per input row."""
    if not per_row:
        weights = weights.expand(inputs.shape[0], -1)
    return torch.cat([inputs, weights], dim=1)


def _rotations(op):
    """A parametrised gate as ``[(rotation, angle), ...]`` in time order.

    ``u3(theta, phi, lam)`` (also ``u``, and ``u2(phi, lam) = u3(pi / 2, phi, lam)``) is
    ``rz(phi) ry(theta) rz(lam)`` up to a global phase, which a density matrix does not see.
    """
    if op.name in _ROTATIONS and len(op.params) == 1:
        return [(op.name, op.params[0])]
    if op.name in ("u3", "u", "u2"):
        theta, phi, lam = (math.pi / 2, *op.params) if op.name == "u2" else op.params
        return [("rz", lam), ("ry", theta), ("rz", phi)]
    raise ValueError(f"The noisy simulator handles parametrised "
                     f"{sorted([*_ROTATIONS, 'u', 'u2', 'u3'])} gates; the circuit holds a "
                     f"parametrised {op.name!r}.")


def _affine_angle(gate, expr, column, n_params):
    """``(coef, offset)`` with ``angle = offset + coef @ values`` for a rotation's angle
    ``expr`` (a parameter expression or a number)."""
    coef = np.zeros(n_params)
    if not hasattr(expr, "parameters"):  # a fixed angle of a parametrised u3
        return coef, float(expr)
    for param in expr.parameters:
        slope = expr.gradient(param)
        if param not in column or not isinstance(slope, (int, float)) or isinstance(slope, bool):
            raise ValueError(f"The angle {expr} of gate {gate!r} must be affine in the "
                             "circuit's parameters.")
        coef[column[param]] = float(slope)
    offset = float(expr.bind({param: 0.0 for param in expr.parameters}))
    return coef, offset


def _rotation_ptm(gate, angles):
    """PTM of ``rz``/``p``, ``rx`` or ``ry`` at ``angles`` (scalar or ``(n_rows,)``)."""
    cos, sin = torch.cos(angles), torch.sin(angles)
    one, zero = torch.ones_like(cos), torch.zeros_like(cos)
    # The rotated plane of the Bloch sphere: (X, Y) for rz, (Y, Z) for rx, (Z, X) for ry.
    a, b = _ROTATIONS[gate]
    rows = [[one, zero, zero, zero], [zero, one, zero, zero], [zero, zero, one, zero],
            [zero, zero, zero, one]]
    rows[a][a], rows[a][b], rows[b][a], rows[b][b] = cos, -sin, sin, cos
    return torch.stack([torch.stack(row, dim=-1) for row in rows], dim=-2)


# Rotation gates: the Pauli pair (a, b) with P_a -> cos P_a + sin P_b.
_ROTATIONS = {"rz": (1, 2), "p": (1, 2), "u1": (1, 2), "rx": (2, 3), "ry": (3, 1)}


def _fuse(ops, indices):
    """Group consecutive operations into blocks of at most two qubits.

    An operation joins the block that last touched its qubits when the union stays
    within two qubits; a new two-qubit block takes in the single-qubit blocks that were
    the last on its qubits. Nothing moves past an operation on a shared qubit.
    """
    blocks, last = [], {}
    for i in indices:
        qubits = ops[i]["qubits"]
        candidates = [last[q] for q in qubits if q in last]
        target = max(candidates) if candidates else None
        if target is not None:
            union = tuple(dict.fromkeys(blocks[target]["qubits"] + qubits))
            if len(union) <= 2 and all(last.get(q, -1) <= target for q in qubits):
                blocks[target]["qubits"] = union
                blocks[target]["ops"].append(i)
                for q in qubits:
                    last[q] = target
                continue
        block = {"qubits": tuple(qubits), "ops": []}
        if len(qubits) == 2:
            for q in qubits:
                j = last.get(q)
                if j is not None and blocks[j] is not None and blocks[j]["qubits"] == (q,):
                    block["ops"].extend(blocks[j]["ops"])
                    blocks[j] = None
        block["ops"].append(i)
        blocks.append(block)
        for q in qubits:
            last[q] = len(blocks) - 1
    return [block for block in blocks if block is not None]


def _lift(ptm, op_qubits, block_qubits):
    """An operation's PTM on the block's qubits (index ``p_0 + 4 p_1`` in block order)."""
    if tuple(op_qubits) == tuple(block_qubits):
        return ptm
    eye = torch.eye(4, dtype=torch.float64)
    if len(op_qubits) == 1:
        if op_qubits[0] == block_qubits[0]:  # the low digit
            return _kron(eye, ptm)
        return _kron(ptm, eye)
    # The same two qubits, swapped: exchange the digits of both indices.
    shape = ptm.shape[:-2]
    swapped = ptm.reshape(*shape, 4, 4, 4, 4).transpose(-4, -3).transpose(-2, -1)
    return swapped.reshape(*shape, 16, 16)


def _kron(a, b):
    """Kronecker product of the last two axes, batched over leading axes."""
    out = a[..., :, None, :, None] * b[..., None, :, None, :]
    shape = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return out.reshape(*shape, a.shape[-2] * b.shape[-2], a.shape[-1] * b.shape[-1])


def _apply(tensor, ptm, qubits, n_active, adjoint=False, batched=False):
    """Apply a PTM on local ``qubits`` of ``(n_lead, 4, ..., 4)``; axis ``1 + q`` is qubit q.

    ``adjoint`` applies its transpose (observables in the Heisenberg picture);
    ``batched`` pairs a ``(n_rows, ...)`` PTM with the rows of ``tensor``.
    """
    k = len(qubits)
    last = sorted(qubits) == list(range(n_active - k, n_active))
    if last and not batched:
        return _apply_last(tensor, ptm, qubits, adjoint)
    lead = 0
    axes = list(range(1, n_active + 1))
    out_ids = [n_active + 1 + t for t in range(k)]  # new digits
    in_ids = [1 + q for q in qubits]
    # PTM digits, most significant first: block qubit k-1 ... block qubit 0.
    shape = ptm.shape[:-2] + (4,) * (2 * k)
    gate = ptm.reshape(shape)
    rows = out_ids[::-1] + in_ids[::-1]
    if adjoint:
        rows = in_ids[::-1] + out_ids[::-1]
    gate_ids = ([lead] if batched else []) + rows
    result_ids = [lead] + [out_ids[qubits.index(a - 1)] if (a - 1) in qubits else a for a in axes]
    return torch.einsum(tensor, [lead] + axes, gate, gate_ids, result_ids)



def _apply_last(tensor, ptm, qubits, adjoint):
    """:func:`_apply` on the last one or two axes: one matrix product on a view, with no
    copy to permute axes (faster than ``einsum`` there; elsewhere ``einsum``'s permute
    and batched product were as fast, measured on 6 qubits)."""
    matrix = ptm
    if len(qubits) == 2 and qubits[0] < qubits[1]:
        # The tensor's pair index is 4 p_first + p_second; the PTM's is p_0 + 4 p_1.
        matrix = ptm.reshape(4, 4, 4, 4).permute(1, 0, 3, 2).reshape(16, 16)
    if not adjoint:
        matrix = matrix.T
    return (tensor.reshape(-1, matrix.shape[0]) @ matrix).reshape(tensor.shape)
