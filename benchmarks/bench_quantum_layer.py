"""Throughput of the quantum variational layer: skqegm's exact path against its peers.

What is measured
----------------
The circuit of the QEGM variational layer (angle encoding ``Ry(x_i)``, then per layer
``Ry``/``Rz`` on every qubit and a CNOT chain), its outputs ``<Z_i>`` for every qubit,
computed by:

* ``exact``  skqegm's ``StatevectorSimulator`` (torch, complex64), the package's own path;
* ``sv``     Qiskit ``StatevectorEstimator`` (exact), one PUB sweeping the whole batch;
* ``aer``    Aer ``EstimatorV2`` (exact, precision 0), one PUB sweeping the whole batch;
* ``pl``     PennyLane ``default.qubit`` through ``qml.qnn.TorchLayer`` (backprop,
  the whole batch broadcast in one call), when the ``bench`` extra is installed;
* ``qnn``    qiskit-machine-learning ``EstimatorQNN`` + ``TorchConnector`` on an exact
  Aer ``EstimatorV2`` (``default_precision=0``, so no added noise), when installed.

Two figures per method, configuration and batch:

* forward: evaluations per second, one evaluation being one sample's full set of
  ``<Z_i>``;
* forward+backward: samples per second of the forward pass plus the backward pass of the
  scalar loss ``sum(outputs)``, giving the gradients for BOTH the inputs and the weights.
  The Qiskit primitives have no autograd: they run the forward rows and the
  parameter-shift rows (``2 * (n_inputs + n_weights)`` shifted sets per row) in one PUB.

Every method gets the same random inputs and weights, and before anything is timed its
outputs and gradients are checked against the exact path on a few rows.

How it is timed
---------------
Each cell (method x mode x configuration x batch) gets a time budget (``--budget``). A
method is first probed on 1, 4, 16 ... rows until one call lasts a quarter of a timed
run's share of the budget (the probes are its warm-up), so its rate is never
extrapolated more than 4x (some peers slow down per row on larger batches). Then it is
timed ``--repeats`` times on as many rows as fit the budget, and the table reports
rows / median time. The exact path always runs the full batch. A cell measured on fewer
rows than requested says so: ``2.20k/s (n=14,666)``. A cell whose planned rows were
already measured (a slow method plans the same sub-batch for every batch size) reuses
that measurement instead of spending its budget again.

How to read the table
---------------------
One row per configuration, batch and method; ``exact/peer`` is the exact path's
throughput divided by the peer's, measured in this run, for the same configuration and
requested batch. The targets of the issue (6 qubits x 5 layers, batch 100,000) are
checked at the end: PASS or MISS. ``--json PATH`` writes every figure as JSON.

Run ``python benchmarks/bench_quantum_layer.py`` (about 5-10 minutes on 2 cores) or
``--quick`` for a smoke test (under a minute).

``--noise-cache`` runs only one row (``--noisy`` runs it too): a ``GridSearchCV`` of a
``SamplerTransformer`` and a logistic regression on a fake device, with the per-process
device-noise cache (``skqegm.quantum.noisy_simulator.device_noise``) and without it
(``NOISE_CACHE_SIZE = 0``), interleaved, each run from an empty cache; it prints the
medians, their ratio, and whether ``cv_results_`` are the same.
"""

import argparse
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import torch
from _options import at_least, check_output_folders, positive_float  # this folder is on sys.path
from qiskit.primitives import StatevectorEstimator
from qiskit.quantum_info import SparsePauliOp
from qiskit_aer.primitives import EstimatorV2 as AerEstimatorV2

from skqegm.quantum import StatevectorSimulator, variational_circuit

CONFIGS = ((4, 3), (6, 5))
BATCHES = (1_000, 100_000)
QUICK_BATCHES = (100, 1_000)
# Probes grow by this factor; the last lasts at least 1/PROBE_GROWTH of a timed run.
PROBE_GROWTH = 4
FORWARD_TOL = 1e-4
# Gradients of float32 simulations summed over rows and outputs: looser than outputs.
GRADIENT_TOL = 1e-3
CHECK_ROWS = 4
TARGET_CONFIG, TARGET_BATCH = (6, 5), 100_000
TARGET_FWD, TARGET_FWD_BWD = 2_000_000, 500_000
TARGET_RATIOS = {"aer": ("Aer EstimatorV2", 200), "pl": ("PennyLane default.qubit", 25)}
MODES = ("fwd", "fwd_bwd")
PACKAGES = ("skqegm", "torch", "numpy", "qiskit", "qiskit-aer", "pennylane",
            "qiskit-machine-learning")


# -- the problem every method solves -------------------------------------------------------
@dataclass
class Problem:
    """One configuration: the circuit, the inputs (``max_rows`` rows) and the weights."""

    n_qubits: int
    n_layers: int
    X: np.ndarray
    weights: np.ndarray
    circuit: object = field(repr=False)
    input_params: list = field(repr=False)
    weight_params: list = field(repr=False)

    @classmethod
    def make(cls, n_qubits, n_layers, max_rows, seed=0):
        rng = np.random.default_rng(seed)
        circuit, input_params, weight_params = variational_circuit(n_qubits, n_layers)
        X = rng.uniform(-np.pi, np.pi, (max_rows, n_qubits))
        weights = rng.uniform(0, 2 * np.pi, len(weight_params))
        return cls(n_qubits, n_layers, X, weights, circuit, list(input_params),
                   list(weight_params))

    @property
    def name(self):
        return f"{self.n_qubits}q x {self.n_layers}L"

    def observables(self):
        """``Z_i`` for every qubit, as a nested list of shape (n_qubits, 1).

        Nested lists broadcast against a (rows,) parameter sweep; ``np.array`` of
        ``SparsePauliOp`` would build dense matrices instead.
        """
        n = self.n_qubits
        return [[SparsePauliOp("I" * (n - 1 - i) + "Z" + "I" * i)] for i in range(n)]

    def circuit_columns(self):
        """Column order of ``[inputs, weights]`` that matches ``circuit.parameters``."""
        position = {p: k for k, p in enumerate(self.input_params + self.weight_params)}
        return [position[p] for p in self.circuit.parameters]


# -- the methods ---------------------------------------------------------------------------
# Each method answers forward(rows) -> outputs (rows, n_qubits) and
# forward_backward(rows) -> (outputs, d loss / d inputs (rows, n_inputs),
# d loss / d weights (n_weights,)) for loss = sum(outputs), all as numpy arrays.
class Exact:
    key, label = "exact", "exact: skqegm StatevectorSimulator (complex64)"
    full_batch = True

    def __init__(self, problem):
        self.sim = StatevectorSimulator(problem.n_qubits, problem.n_layers, "angle",
                                        torch.complex64)
        self.X = torch.as_tensor(problem.X, dtype=torch.float32)
        self.weights = torch.as_tensor(problem.weights, dtype=torch.float32)

    def forward(self, rows):
        with torch.no_grad():
            return self.sim.expval_z(self.X[:rows], self.weights).numpy()

    def forward_backward(self, rows):
        x = self.X[:rows].detach().requires_grad_(True)
        w = self.weights.detach().requires_grad_(True)
        out = self.sim.expval_z(x, w)
        out.sum().backward()
        return out.detach().numpy(), x.grad.numpy(), w.grad.numpy()


class QiskitEstimator:
    """A V2 estimator: one PUB per call, sweeping every row (and every shifted row)."""

    full_batch = False

    def __init__(self, problem):
        self.problem = problem
        self.observables = problem.observables()
        self.columns = problem.circuit_columns()
        self.n_inputs = problem.n_qubits

    def _evs(self, values):
        """``<Z_i>`` for each parameter row (binding order), shape (rows, n_qubits)."""
        pub = (self.problem.circuit, self.observables, values[:, self.columns])
        return self.estimator.run([pub]).result()[0].data.evs.T

    def _params(self, rows):
        p = self.problem
        return np.hstack([p.X[:rows], np.broadcast_to(p.weights, (rows, len(p.weights)))])

    def forward(self, rows):
        return self._evs(self._params(rows))

    def forward_backward(self, rows):
        # Parameter shift (every parameter enters one Ry or Rz once):
        # d<Z_i>/dp_k = (<Z_i>(p + pi/2 e_k) - <Z_i>(p - pi/2 e_k)) / 2.
        params = self._params(rows)
        n_params = params.shape[1]
        shifts = np.pi / 2 * np.vstack([np.eye(n_params), -np.eye(n_params)])
        rows_and_shifts = np.concatenate([params[:, None, :], params[:, None, :] + shifts], axis=1)
        evs = self._evs(rows_and_shifts.reshape(-1, n_params)).reshape(rows, 1 + 2 * n_params, -1)
        out = evs[:, 0]
        loss_shifted = evs[:, 1:].sum(axis=2)  # sum over outputs: the loss's gradient
        grad = (loss_shifted[:, :n_params] - loss_shifted[:, n_params:]) / 2
        return out, grad[:, : self.n_inputs], grad[:, self.n_inputs:].sum(axis=0)


class QiskitStatevector(QiskitEstimator):
    key, label = "sv", "Qiskit StatevectorEstimator (exact)"

    def __init__(self, problem):
        super().__init__(problem)
        self.estimator = StatevectorEstimator()


class Aer(QiskitEstimator):
    key, label = "aer", "Aer EstimatorV2 (exact, precision 0)"

    def __init__(self, problem):
        super().__init__(problem)
        self.estimator = AerEstimatorV2(options={"default_precision": 0.0})


class TorchModule:
    """A torch module taking a batch of inputs, with its weights as parameters."""

    full_batch = False

    def forward(self, rows):
        with torch.no_grad():
            return self.module(self.X[:rows]).numpy()

    def forward_backward(self, rows):
        self.module.zero_grad(set_to_none=True)
        x = self.X[:rows].detach().requires_grad_(True)
        out = self.module(x)
        out.sum().backward()
        (w,) = self.module.parameters()
        return out.detach().numpy(), x.grad.numpy(), w.grad.numpy()


class PennyLane(TorchModule):
    key, label = "pl", "PennyLane default.qubit TorchLayer (backprop)"

    def __init__(self, problem):
        import pennylane as qml

        n, n_layers = problem.n_qubits, problem.n_layers
        device = qml.device("default.qubit", wires=n)

        @qml.qnode(device, interface="torch", diff_method="backprop")
        def circuit(inputs, weights):
            for i in range(n):
                qml.RY(inputs[..., i], wires=i)  # a batch of angles: broadcast
            for layer in range(n_layers):
                for i in range(n):
                    k = 2 * (layer * n + i)
                    qml.RY(weights[k], wires=i)
                    qml.RZ(weights[k + 1], wires=i)
                for i in range(n - 1):
                    qml.CNOT(wires=[i, i + 1])
            return [qml.expval(qml.PauliZ(i)) for i in range(n)]

        self.module = qml.qnn.TorchLayer(circuit, {"weights": len(problem.weights)})
        with torch.no_grad():
            self.module.weights.copy_(torch.as_tensor(problem.weights))
        # float32 inputs, like its float32 weights and the exact path: about 2x faster
        # than float64 here.
        self.X = torch.as_tensor(problem.X, dtype=torch.float32)


class QNN(TorchModule):
    key, label = "qnn", "qiskit-ml EstimatorQNN+TorchConnector (Aer, prec. 0)"

    def __init__(self, problem):
        from qiskit_machine_learning.connectors import TorchConnector
        from qiskit_machine_learning.neural_networks import EstimatorQNN

        qnn = EstimatorQNN(
            circuit=problem.circuit,
            observables=[obs for (obs,) in problem.observables()],
            input_params=problem.input_params,
            weight_params=problem.weight_params,
            estimator=AerEstimatorV2(options={"default_precision": 0.0}),
            input_gradients=True,
            default_precision=0.0,  # its default, 1/64, adds N(0, 1/64) noise
        )
        self.module = TorchConnector(qnn, initial_weights=problem.weights)
        self.X = torch.as_tensor(problem.X)


METHODS = (Exact, QiskitStatevector, Aer, PennyLane, QNN)


def build(method_cls, problem):
    """The method, or the reason it is skipped (an optional peer not installed)."""
    try:
        return method_cls(problem), None
    except ImportError as exc:
        missing = exc.name.split(".")[0] if exc.name else exc
        return None, f"skipped: {missing} not installed (the bench extra)"


# -- correctness ---------------------------------------------------------------------------
def check_against(method, reference):
    """Max abs differences of outputs and gradients from the exact path's, on a few rows.

    Raises AssertionError if any exceeds its tolerance.
    """
    ref_out, ref_gx, ref_gw = reference.forward_backward(CHECK_ROWS)
    out = method.forward(CHECK_ROWS)
    fb_out, gx, gw = method.forward_backward(CHECK_ROWS)
    return {
        "forward": _assert_close(method, "forward", out, ref_out, FORWARD_TOL),
        "forward_of_fwd_bwd": _assert_close(method, "fwd+bwd outputs", fb_out, ref_out,
                                            FORWARD_TOL),
        "input_grad": _assert_close(method, "input gradients", gx, ref_gx, GRADIENT_TOL),
        "weight_grad": _assert_close(method, "weight gradients", gw, ref_gw, GRADIENT_TOL),
    }


def _assert_close(method, what, got, expected, tol):
    diff = float(np.max(np.abs(np.asarray(got, dtype=float) - expected)))
    if not diff < tol:
        raise AssertionError(
            f"{method.label}: {what} differ from the exact path by {diff:.3g} > {tol}")
    return diff


# -- timing --------------------------------------------------------------------------------
def timed(fn, rows):
    start = time.perf_counter()
    fn(rows)
    return time.perf_counter() - start


def probe_rate(fn, batch, min_seconds):
    """Rows per second of ``fn`` from calls on 1, 4, 16 ... rows (they warm it up).

    Also says whether the last call lasted ``min_seconds``, long enough for the rate to
    be trusted beyond ``batch`` rows.
    """
    rows = 1
    while True:
        seconds = timed(fn, rows)
        if seconds >= min_seconds or rows == batch:
            return rows / seconds, seconds >= min_seconds
        rows = min(batch, rows * PROBE_GROWTH)


class CellTimer:
    """Times the cells of one configuration, each within the budget.

    A rate probed on enough rows holds for every larger batch, so a method probes once
    per mode unless its earlier probe ran out of rows first. A slow method then plans the
    same sub-batch for every batch size, and that measurement is made once and reused.
    """

    def __init__(self, budget, repeats):
        self.budget, self.repeats = budget, repeats
        self.probe_seconds = budget / repeats / PROBE_GROWTH
        self.rates, self.measured = {}, {}

    def cell(self, method, mode, batch):
        fn = method.forward if mode == "fwd" else method.forward_backward
        rows, repeats = self.plan(method, mode, fn, batch)
        key = (method.key, mode, rows)
        reused = key in self.measured
        if not reused:
            self.measured[key] = measure(fn, rows, repeats)
        return {**self.measured[key], "reused": reused}

    def plan(self, method, mode, fn, batch):
        """Rows to time and how many times: as many rows as the repeats fit the budget."""
        if method.full_batch:
            probe_rate(fn, batch, self.probe_seconds)  # the warm-up at this batch size
            return batch, self.repeats
        rate = self.rates.get((method.key, mode))
        if rate is None:
            rate, trusted = probe_rate(fn, batch, self.probe_seconds)
            if trusted:
                self.rates[method.key, mode] = rate
        return self._fit(rate, batch)

    def _fit(self, rate, batch):
        rows = max(1, min(batch, int(rate * self.budget / self.repeats)))
        # A single row may already exceed its share of the budget: time it fewer times.
        return rows, max(1, min(self.repeats, int(self.budget * rate / rows)))


def measure(fn, rows, repeats):
    times = [timed(fn, rows) for _ in range(repeats)]
    return {
        "batch_measured": rows,
        "repeats": repeats,
        "times_s": times,
        "median_s": statistics.median(times),
        "best_s": min(times),
        "per_s": rows / statistics.median(times),
    }


# -- the run -------------------------------------------------------------------------------
def run(args):
    records = []
    for n_qubits, n_layers in args.configs:
        problem = Problem.make(n_qubits, n_layers, max(args.batches))
        methods = [(cls, *build(cls, problem)) for cls in METHODS if cls.key in args.methods]
        reference = methods[0][1]  # the exact path
        checks = {cls.key: check_against(method, reference)
                  for cls, method, _ in methods[1:] if method is not None}
        timer = CellTimer(args.budget, args.repeats)
        for batch in args.batches:
            for method_cls, method, skipped in methods:
                record = {"config": {"n_qubits": n_qubits, "n_layers": n_layers},
                          "method": method_cls.key, "label": method_cls.label,
                          "batch_requested": batch, "skipped": skipped,
                          "check_max_abs_diff": checks.get(method_cls.key)}
                if method is not None:
                    for mode in MODES:
                        record[mode] = timer.cell(method, mode, batch)
                        print_progress(problem, record, mode)
                records.append(record)
    add_ratios(records)
    return records


def add_ratios(records):
    """``exact / peer`` throughput, per configuration, batch and mode."""
    exact = {(_config_key(r), r["batch_requested"]): r for r in records if r["method"] == "exact"}
    for r in records:
        if r["method"] == "exact" or r["skipped"]:
            continue
        base = exact[_config_key(r), r["batch_requested"]]
        for mode in MODES:
            r[f"ratio_{mode}"] = base[mode]["per_s"] / r[mode]["per_s"]


def _config_key(record):
    return (record["config"]["n_qubits"], record["config"]["n_layers"])


def evaluate_targets(records):
    """The issue's targets, at 6 qubits x 5 layers and batch 100,000."""
    at = {r["method"]: r for r in records
          if _config_key(r) == TARGET_CONFIG and r["batch_requested"] == TARGET_BATCH}
    exact = at.get("exact", {})
    targets = [
        ("exact forward evaluations", TARGET_FWD, exact.get("fwd", {}).get("per_s")),
        ("exact forward+backward samples", TARGET_FWD_BWD, exact.get("fwd_bwd", {}).get("per_s")),
    ]
    for key, (peer, needed) in TARGET_RATIOS.items():
        for mode in MODES:
            name = f"exact / {peer}, {'forward' if mode == 'fwd' else 'forward+backward'}"
            targets.append((name, needed, at.get(key, {}).get(f"ratio_{mode}")))
    return [{"target": name, "needed": needed, "measured": value,
             "status": "n/a" if value is None else "PASS" if value >= needed else "MISS"}
            for name, needed, value in targets]


# -- noisy rows: a fake device's noise model, exact (--noisy) ------------------------------
# FakeLondonV2: the older u1/u2/u3 + cx basis (10 fake devices have it), beside
# FakeManilaV2's rz/sx/x + cx at the same width.
NOISY_CASES = (("FakeManilaV2", 4), ("FakeManilaV2", 5), ("FakeLondonV2", 5),
               ("FakeTorontoV2", 6))
NOISY_BATCHES = (1_000, 10_000)
NOISY_TARGET = 100  # new simulator / Aer density matrix, forward


def _device(name):
    from qiskit_ibm_runtime import fake_provider

    return getattr(fake_provider, name)()


class NoisyCase:
    """One transpiled circuit on a fake device, for Aer's density matrix and skqegm's
    ``NoisyDensityMatrixSimulator`` alike."""

    def __init__(self, device_name, n_qubits, n_layers, max_rows, seed=0):
        from qiskit.transpiler import generate_preset_pass_manager
        from qiskit_aer import AerSimulator
        from qiskit_aer.noise import NoiseModel

        from skqegm.quantum import NoisyDensityMatrixSimulator

        self.device = _device(device_name)
        self.name = f"{self.device.name} {n_qubits}q x {n_layers}L"
        self.n_qubits = n_qubits
        circuit, self.inputs, self.weights = variational_circuit(n_qubits, n_layers)
        pm = generate_preset_pass_manager(optimization_level=1, backend=self.device,
                                          seed_transpiler=seed)
        self.isa = pm.run(circuit)
        self.layout = self.isa.layout.final_index_layout()[:n_qubits]
        rng = np.random.default_rng(seed)
        self.X = rng.uniform(-np.pi, np.pi, (max_rows, n_qubits))
        self.W = rng.uniform(0, 2 * np.pi, len(self.weights))
        self.noise_model = NoiseModel.from_backend(self.device)
        self.aer = AerSimulator(method="density_matrix", noise_model=self.noise_model)
        self.aer_circuit = self.isa.copy()
        self.aer_circuit.save_probabilities(qubits=self.layout)
        self.readout = self._readout_matrix()
        start = time.perf_counter()
        self.sim = NoisyDensityMatrixSimulator(self.isa, self.inputs, self.weights,
                                               self.device, n_qubits)
        self.build_s = time.perf_counter() - start

    def _readout_matrix(self):
        """``A[b, t]`` over the measured qubits, from the noise model's readout errors."""
        errors = {tuple(e["gate_qubits"][0]): np.array(e["probabilities"])
                  for e in self.noise_model.to_dict()["errors"] if e["type"] == "roerror"}
        matrix = np.ones((1, 1))
        for q in self.layout:
            matrix = np.kron(errors[(q,)].T, matrix)
        return matrix

    def aer_probabilities(self, rows):
        """Aer: density-matrix probabilities of ``rows`` rows in one run, readout applied."""
        values = np.hstack([self.X[:rows], np.tile(self.W, (rows, 1))])
        column = {p: j for j, p in enumerate(self.inputs + self.weights)}
        binds = [{p: values[:, column[p]] for p in self.aer_circuit.parameters}]
        result = self.aer.run([self.aer_circuit], parameter_binds=binds).result()
        probs = np.array([result.data(r)["probabilities"] for r in range(rows)])
        return probs @ self.readout.T

    def new(self, rows, output="probabilities", backward=False):
        x = torch.from_numpy(self.X[:rows])
        w = torch.from_numpy(self.W)
        if not backward:
            with torch.no_grad():
                return getattr(self.sim, output)(x, w).numpy()
        x.requires_grad_()
        w.requires_grad_()
        getattr(self.sim, output)(x, w).square().sum().backward()
        return x.grad.numpy()


def _median_rate(fn, rows, repeats):
    fn(min(rows, 64))  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(rows)
        times.append(time.perf_counter() - start)
    return rows / statistics.median(times)


def run_noisy(args):
    """Aer density matrix vs skqegm's noisy simulator on the same transpiled circuits."""
    records = []
    for device_name, n_qubits in args.noisy_cases:
        case = NoisyCase(device_name, n_qubits, args.noisy_layers, max(args.noisy_batches))
        aer_rows = args.noisy_aer_rows
        check = np.abs(case.new(aer_rows) - case.aer_probabilities(aer_rows)).max()
        aer_rate = _median_rate(case.aer_probabilities, aer_rows, args.repeats)
        record = {"case": case.name, "active_qubits": case.sim.n_active,
                  "build_s": case.build_s, "check_max_abs_diff": float(check),
                  "aer_rows": aer_rows, "aer_dm_per_s": aer_rate, "batches": {}}
        for batch in args.noisy_batches:
            cells = {
                "probabilities": _median_rate(case.new, batch, args.repeats),
                "expval_z": _median_rate(partial(case.new, output="expval_z"), batch,
                                         args.repeats),
                "probabilities_fwd_bwd": _median_rate(
                    partial(case.new, backward=True), batch, args.repeats),
            }
            cells["ratio_fwd"] = cells["probabilities"] / aer_rate
            cells["ratio_fwd_bwd"] = cells["probabilities_fwd_bwd"] / aer_rate
            record["batches"][batch] = cells
        records.append(record)
        print(f"  .. noisy {case.name} done", file=sys.stderr, flush=True)
    return records


def print_noisy(records):
    print("Noisy rows: fake device noise model (gate errors + readout), exact, float64. "
          "Aer = AerSimulator(method='density_matrix', noise_model=NoiseModel.from_backend) "
          "save_probabilities, one run() sweeping the rows, readout matrix applied; new = "
          "skqegm NoisyDensityMatrixSimulator on the same transpiled circuit; rows/s, median.")
    head = (f"{'case':<28} {'active':>6} {'max|new-aer|':>12} {'Aer DM rows/s':>14} "
            f"{'batch':>7} {'new P rows/s':>13} {'new <Z> rows/s':>15} "
            f"{'new P f+b rows/s':>17} {'new/Aer fwd':>11} {'new/Aer f+b':>11}")
    print(head)
    print("-" * len(head))
    for r in records:
        for batch, c in r["batches"].items():
            print(f"{r['case']:<28} {r['active_qubits']:>6} {r['check_max_abs_diff']:>12.1e} "
                  f"{r['aer_dm_per_s']:>14,.0f} {batch:>7,} {c['probabilities']:>13,.0f} "
                  f"{c['expval_z']:>15,.0f} {c['probabilities_fwd_bwd']:>17,.0f} "
                  f"{fmt_ratio(c['ratio_fwd']):>11} {fmt_ratio(c['ratio_fwd_bwd']):>11}")
    worst = min(c["ratio_fwd"] for r in records for c in r["batches"].values())
    print(f"Target: new / Aer density matrix, forward >= {NOISY_TARGET}x: worst measured "
          f"{fmt_ratio(worst)}   {'PASS' if worst >= NOISY_TARGET else 'MISS'}")
    print()


def run_noisy_fit(args):
    """A small QEGMSampler fit on FakeTorontoV2: the noisy simulator against the old path
    (Aer's estimator and parameter shift, forced by hiding the noisy path)."""
    from skqegm import QEGMSampler
    from skqegm.quantum import CircuitRunner

    rng = np.random.default_rng(0)
    X = rng.standard_t(4, size=(args.fit_rows, 1))
    timings = {}
    for path, epochs in (("new", args.fit_epochs), ("old", args.fit_old_epochs)):
        if epochs == 0:
            continue
        model = QEGMSampler(n_qubits=args.fit_qubits, n_layers=2,
                            backend=_device("FakeTorontoV2"), max_epochs=epochs,
                            early_stopping=False, random_state=0)
        saved = CircuitRunner.exact_noisy
        if path == "old":  # the path before the noisy simulator: Aer + parameter shift
            CircuitRunner.exact_noisy = property(lambda self: False)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                start = time.perf_counter()
                model.fit(X)
                seconds = time.perf_counter() - start
        finally:
            CircuitRunner.exact_noisy = saved
        timings[path] = {"epochs": epochs, "fit_s": seconds, "per_epoch_s": seconds / epochs}
        print(f"  .. fit {path}: {seconds:.1f} s", file=sys.stderr, flush=True)
    return timings


def print_noisy_fit(args, timings):
    print(f"QEGMSampler fit, backend=FakeTorontoV2(), n_qubits={args.fit_qubits}, n_layers=2, "
          f"{args.fit_rows} rows, early_stopping=False (fit time includes setup):")
    for path, t in timings.items():
        label = ("new: noisy simulator + autograd" if path == "new"
                 else "old: Aer EstimatorV2 + parameter shift (forced)")
        print(f"  {label:<48} {t['epochs']} epochs {t['fit_s']:8.1f} s  "
              f"{t['per_epoch_s']:7.2f} s/epoch")
    if len(timings) == 2:
        ratio = timings["old"]["per_epoch_s"] / timings["new"]["per_epoch_s"]
        print(f"  old / new per epoch: {ratio:,.0f}x")
    print()


def run_noise_cache(args):
    """A GridSearchCV of SamplerTransformer + LogisticRegression on a fake device (exact
    noisy path), with the per-process device-noise cache and without it (cache size 0),
    interleaved; every run starts from an empty cache."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    from skqegm.quantum import SamplerTransformer, noisy_simulator

    rng = np.random.default_rng(0)
    X = rng.uniform(0, np.pi, size=(args.cache_rows, args.cache_qubits))
    y = (X.sum(axis=1) > X.sum(axis=1).mean()).astype(int)
    pipe = make_pipeline(SamplerTransformer(backend=_device(args.cache_device),
                                            random_state=0), LogisticRegression())
    grid = {"samplertransformer__n_layers": [1, 2]}
    size = noisy_simulator.NOISE_CACHE_SIZE
    times, scores = {"uncached": [], "cached": []}, {}
    try:
        for _ in range(args.cache_repeats):
            for path in times:
                noisy_simulator.NOISE_CACHE_SIZE = size if path == "cached" else 0
                noisy_simulator.clear_device_noise_cache()
                search = GridSearchCV(pipe, grid, cv=args.cache_folds)
                start = time.perf_counter()
                search.fit(X, y)
                times[path].append(time.perf_counter() - start)
                scores[path] = search.cv_results_["mean_test_score"].tolist()
                print(f"  .. noise cache {path}: {times[path][-1]:.2f} s", file=sys.stderr,
                      flush=True)
    finally:
        noisy_simulator.NOISE_CACHE_SIZE = size
    n_fits = len(grid["samplertransformer__n_layers"]) * args.cache_folds + 1
    result = {path: statistics.median(t) for path, t in times.items()}
    return {"device": args.cache_device, "n_qubits": args.cache_qubits,
            "rows": args.cache_rows, "fits": n_fits, "repeats": args.cache_repeats,
            "median_s": result, "ratio": result["uncached"] / result["cached"],
            "same_cv_results": scores["uncached"] == scores["cached"]}


def print_noise_cache(record):
    print(f"GridSearchCV(SamplerTransformer + LogisticRegression), backend="
          f"{record['device']}(), n_qubits={record['n_qubits']}, {record['rows']} rows, "
          f"{record['fits']} fits; median of {record['repeats']} interleaved runs:")
    for path, seconds in record["median_s"].items():
        print(f"  device-noise cache {path:<9} {seconds:8.2f} s")
    print(f"  uncached / cached: {fmt_ratio(record['ratio'])}; same cv_results_: "
          f"{record['same_cv_results']}")
    print()


# -- printing ------------------------------------------------------------------------------
def fmt_rate(cell, batch):
    value = cell["per_s"]
    text = next((f"{value / scale:.3g}{unit}/s" for scale, unit in ((1e6, "M"), (1e3, "k"))
                 if value >= scale), f"{value:.3g}/s")
    if cell["batch_measured"] < batch:
        text += f" (n={cell['batch_measured']:,})"
    if cell["repeats"] == 1:
        text += " 1 run"
    return text


def fmt_ratio(value):
    return f"{value:,.0f}x" if value >= 10 else f"{value:.2f}x"


def print_progress(problem, record, mode):
    cell = record[mode]
    note = " (reused)" if cell["reused"] else ""
    print(f"  .. {problem.name} batch {record['batch_requested']:,} {record['method']} {mode}: "
          f"{fmt_rate(cell, record['batch_requested'])}{note}", file=sys.stderr, flush=True)


def print_header(args, versions):
    print("Quantum variational layer throughput: <Z_i> of every qubit, exact path vs peers")
    print(f"command: {' '.join([os.path.basename(sys.executable)] + sys.argv)}")
    print(f"cpu: {cpu_model()}; cores: {os.cpu_count()}; "
          f"torch threads: {torch.get_num_threads()}; "
          f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print(f"timing: median of {args.repeats} timed runs after warm-up probes; budget "
          f"{args.budget:g} s per cell; sub-batches marked (n=rows measured); "
          "fwd+bwd = forward + backward of sum(outputs), gradients for inputs and weights; "
          "Qiskit primitives use the parameter-shift rule in the same PUB")
    print()


def print_table(records):
    head = (f"{'config':<9} {'batch':>8}  {'method':<55} {'fwd evals/s':>22} "
            f"{'fwd+bwd samples/s':>22} {'exact/peer fwd':>15} {'exact/peer f+b':>15}")
    print(head)
    print("-" * len(head))
    previous = None
    for r in records:
        group = (_config_key(r), r["batch_requested"])
        if previous is not None and group != previous:
            print()
        previous = group
        config = f"{r['config']['n_qubits']}q x {r['config']['n_layers']}L"
        batch = r["batch_requested"]
        if r["skipped"]:
            cells = f"  {r['skipped']:<43}"
        else:
            cells = f"{fmt_rate(r['fwd'], batch):>22} {fmt_rate(r['fwd_bwd'], batch):>22}"
        ratios = "" if r["method"] == "exact" or r["skipped"] else (
            f" {fmt_ratio(r['ratio_fwd']):>15} {fmt_ratio(r['ratio_fwd_bwd']):>15}")
        print(f"{config:<9} {batch:>8,}  {r['label']:<55} {cells}{ratios}")
    print()


def print_checks(records):
    print(f"Checked against the exact path on {CHECK_ROWS} rows before timing, max abs diff of "
          "outputs / input gradients / weight gradients:")
    for r in records:
        diff = r["check_max_abs_diff"]
        if diff and r["batch_requested"] == records[0]["batch_requested"]:
            print(f"  {r['config']['n_qubits']}q x {r['config']['n_layers']}L {r['method']:<5} "
                  f"{diff['forward']:.1e} / {diff['input_grad']:.1e} / {diff['weight_grad']:.1e}")
    print()


def print_targets(targets):
    n_qubits, n_layers = TARGET_CONFIG
    print(f"Targets ({n_qubits} qubits x {n_layers} layers, batch {TARGET_BATCH:,}):")
    for t in targets:
        unit = "x" if t["target"].startswith("exact /") else "/s"
        measured = "not measured" if t["measured"] is None else f"{t['measured']:,.0f}{unit}"
        print(f"  {t['target']:<50} >= {t['needed']:>9,}{unit:<2}   measured {measured:>14}   "
              f"{t['status']}")


# -- machine facts ---------------------------------------------------------------------------
def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions():
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


# -- command line --------------------------------------------------------------------------
def parse_pair(text):
    """An argparse type: ``QxL``, qubits and layers, each at least 1."""
    parts = text.lower().split("x")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected QxL, e.g. 4x3; got {text!r}")
    return tuple(at_least(1)(part) for part in parts)


def parse_case(text):
    device, _, n_qubits = text.partition(":")
    if not device.startswith("Fake") or not n_qubits.isdigit() or int(n_qubits) < 1:
        raise argparse.ArgumentTypeError(f"expected DEVICE:QUBITS, e.g. FakeLondonV2:5, "
                                         f"with at least 1 qubit; got {text!r}")
    return device, int(n_qubits)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", metavar="PATH", help="also write every figure as JSON")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke test: batches {QUICK_BATCHES}, budget 1 s")
    parser.add_argument("--budget", type=positive_float,
                        help="seconds of timed runs per cell (default 20)")
    parser.add_argument("--repeats", type=at_least(1), default=5,
                        help="timed runs per cell (default 5)")
    parser.add_argument("--configs", nargs="+", type=parse_pair, default=list(CONFIGS),
                        metavar="QxL", help="qubits x layers (default 4x3 6x5)")
    parser.add_argument("--batches", nargs="+", type=at_least(1),
                        help="batch sizes (default 1000 100000)")
    parser.add_argument("--methods", nargs="+", default=[m.key for m in METHODS],
                        choices=[m.key for m in METHODS], help="methods to run (default all)")
    parser.add_argument("--noisy", action="store_true",
                        help="also run the noisy rows: fake devices' noise, Aer density "
                             "matrix vs skqegm's noisy simulator, and a QEGMSampler fit")
    parser.add_argument("--noisy-only", action="store_true",
                        help="run the noisy rows only (not the exact-path table)")
    parser.add_argument("--noisy-cases", nargs="+", type=parse_case, default=list(NOISY_CASES),
                        metavar="DEVICE:QUBITS",
                        help="fake devices and widths of the noisy rows (default "
                             f"{' '.join(f'{d}:{n}' for d, n in NOISY_CASES)})")
    parser.add_argument("--noisy-layers", type=at_least(1), default=3,
                        help="ansatz layers (default 3)")
    parser.add_argument("--noisy-batches", nargs="+", type=at_least(1),
                        help="batches of the noisy simulator (default 1000 10000)")
    parser.add_argument("--noisy-aer-rows", type=at_least(1), default=100,
                        help="rows of each timed Aer density-matrix run (default 100)")
    parser.add_argument("--fit-rows", type=at_least(1), default=500,
                        help="rows of the fit (default 500)")
    parser.add_argument("--fit-qubits", type=at_least(1), default=4,
                        help="qubits of the fit (default 4)")
    parser.add_argument("--fit-epochs", type=at_least(1), default=5,
                        help="epochs of the fit on the noisy simulator (default 5)")
    parser.add_argument("--fit-old-epochs", type=at_least(0), default=1,
                        help="epochs of the fit on the old path, Aer + parameter shift "
                             "(default 1; 0 skips it)")
    parser.add_argument("--noise-cache", action="store_true",
                        help="run only the noise-cache row: a GridSearchCV on a fake device "
                             "with the per-process device-noise cache against without it "
                             "(--noisy runs it too)")
    parser.add_argument("--cache-device", default="FakeTorontoV2",
                        help="fake device of the noise-cache row (default FakeTorontoV2)")
    parser.add_argument("--cache-qubits", type=at_least(1), default=3,
                        help="qubits (features) of the noise-cache row (default 3)")
    parser.add_argument("--cache-rows", type=at_least(6), default=60,
                        help="rows of the noise-cache row (default 60)")
    parser.add_argument("--cache-folds", type=at_least(2), default=3,
                        help="CV folds of the noise-cache row (default 3)")
    parser.add_argument("--cache-repeats", type=at_least(1), default=3,
                        help="interleaved runs of the noise-cache row (default 3)")
    args = parser.parse_args(argv)
    check_output_folders(parser, args, ("json",))
    args.noisy = args.noisy or args.noisy_only
    args.cache_only = args.noise_cache and not args.noisy
    args.noise_cache = args.noise_cache or args.noisy
    try:
        _device(args.cache_device)
    except AttributeError:
        parser.error(f"--cache-device: no fake device named {args.cache_device!r} in "
                     "qiskit_ibm_runtime.fake_provider")
    if args.batches is None:
        args.batches = list(QUICK_BATCHES if args.quick else BATCHES)
    if args.budget is None:
        args.budget = 1.0 if args.quick else 20.0
    if args.noisy_batches is None:
        args.noisy_batches = [200, 1_000] if args.quick else list(NOISY_BATCHES)
    if "exact" not in args.methods:
        parser.error("the exact path is the reference of every check and ratio: keep 'exact'")
    return args


def main(argv=None):
    args = parse_args(argv)
    # The peers' deprecation notices would bury the table.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
    torch.manual_seed(0)
    np.random.seed(0)  # noqa: NPY002 (the peers draw from numpy's global state)
    found = versions()
    print_header(args, found)
    records, targets = [], []
    if not (args.noisy_only or args.cache_only):
        records = run(args)
        print_table(records)
        print_checks(records)
        targets = evaluate_targets(records)
        print_targets(targets)
        print()
    noisy = fit = cache = None
    if args.noisy:
        noisy = run_noisy(args)
        print_noisy(noisy)
        fit = run_noisy_fit(args)
        print_noisy_fit(args, fit)
    if args.noise_cache:
        cache = run_noise_cache(args)
        print_noise_cache(cache)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        payload = {"command": sys.argv, "cpu": cpu_model(), "cores": os.cpu_count(),
                   "torch_threads": torch.get_num_threads(), "versions": found,
                   "statistic": f"median of {args.repeats} timed runs after warm-up probes",
                   "budget_s": args.budget, "records": records, "targets": targets,
                   "noisy": noisy, "noisy_fit": fit, "noise_cache": cache}
        with open(args.json, "w") as f:
            json.dump(payload, f, indent=2)


if __name__ == "__main__":
    main()
