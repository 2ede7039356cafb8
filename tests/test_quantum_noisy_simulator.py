"""The exact noisy simulator of fake devices against Aer's density-matrix simulation."""

import copy
import pickle

import numpy as np
import pytest
import torch
from qiskit import ClassicalRegister
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import InstructionProperties, generate_preset_pass_manager
from qiskit_aer import AerSimulator
from qiskit_aer.noise import NoiseModel
from qiskit_ibm_runtime.fake_provider import (
    FakeLondonV2,
    FakeManilaV2,
    FakeQuitoV2,
    FakeTorontoV2,
)
from sklearn.base import clone

from skqegm import QEGMSampler
from skqegm.exceptions import MemoryLimitError
from skqegm.quantum import (
    EstimatorTransformer,
    NoisyDensityMatrixSimulator,
    QuantumLayer,
    SamplerTransformer,
    amplitude_encoding_angles,
    noisy_simulator,
    variational_circuit,
)

# London's basis is the older u1/u2/u3 + cx: the transpiler writes the encoding's
# rotations as parametrised u3 gates.
DEVICES = {"manila": FakeManilaV2(), "toronto": FakeTorontoV2(), "london": FakeLondonV2()}
_AER = {}


def _aer(device):
    """Aer's density-matrix simulator under the device's full noise model."""
    if device.name not in _AER:
        _AER[device.name] = AerSimulator(method="density_matrix",
                                          noise_model=NoiseModel.from_backend(device))
    return _AER[device.name]


def _readout_matrix(device, qubits):
    """``A[b, t]``: P(read b | prepared t) over ``qubits`` (logical qubit 0 least
    significant), from the noise model's own readout errors."""
    errors = {tuple(e["gate_qubits"][0]): np.array(e["probabilities"]) for e in
              NoiseModel.from_backend(device).to_dict()["errors"] if e["type"] == "roerror"}
    matrix = np.ones((1, 1))
    for q in qubits:
        matrix = np.kron(errors[(q,)].T, matrix)
    return matrix


def _case(device, n_features, encoding, entanglement, n_rows=4, seed=0):
    qc, inputs, weights = variational_circuit(n_features, 2, encoding, entanglement)
    isa = generate_preset_pass_manager(optimization_level=1, backend=device,
                                       seed_transpiler=seed).run(qc)
    rng = np.random.default_rng(seed)
    X = rng.uniform(-np.pi, np.pi, size=(n_rows, n_features))
    values = X if encoding == "angle" else amplitude_encoding_angles(X, qc.num_qubits)
    W = rng.uniform(0, 2 * np.pi, size=len(weights))
    return qc, isa, inputs, weights, values, W


def _aer_results(device, isa, params, values, W, n_qubits):
    """Aer: probabilities of the logical qubits and <Z_i> (no readout error) per row."""
    layout = isa.layout.final_index_layout()[:n_qubits]
    circuit = isa.copy()
    circuit.save_probabilities(qubits=layout)
    for i in range(n_qubits):
        z = SparsePauliOp("I" * (n_qubits - 1 - i) + "Z" + "I" * i).apply_layout(isa.layout)
        circuit.save_expectation_value(z, list(range(isa.num_qubits)), label=f"z{i}")
    rows = np.hstack([values, np.tile(W, (len(values), 1))])
    column = {p: j for j, p in enumerate(params)}
    binds = [{p: rows[:, column[p]] for p in circuit.parameters}]
    result = _aer(device).run([circuit], parameter_binds=binds).result()
    probs = np.array([result.data(r)["probabilities"] for r in range(len(rows))])
    z = np.array([[result.data(r)[f"z{i}"] for i in range(n_qubits)] for r in range(len(rows))])
    return probs, z, layout


CASES = [
    ("manila", 4, "angle", "linear"),
    ("manila", 5, "angle", None),
    ("toronto", 6, "angle", "linear"),
    ("toronto", 5, "angle", None),
    ("manila", 16, "amplitude", "linear"),
    ("toronto", 32, "amplitude", None),
    ("london", 4, "angle", "linear"),
    ("london", 16, "amplitude", None),
]


@pytest.mark.parametrize("device, n_features, encoding, entanglement", CASES)
def test_agrees_with_aer_density_matrix(device, n_features, encoding, entanglement):
    device = DEVICES[device]
    qc, isa, inputs, weights, values, W = _case(device, n_features, encoding, entanglement)
    n = qc.num_qubits
    probs, z, layout = _aer_results(device, isa, inputs + weights, values, W, n)
    readout = _readout_matrix(device, layout)
    measured = probs @ readout.T  # what the device reports: readout errors applied
    signs = 1.0 - 2.0 * ((np.arange(2**n)[:, None] >> np.arange(n)) & 1)

    sim = NoisyDensityMatrixSimulator(isa, inputs, weights, device, n)
    bare = NoisyDensityMatrixSimulator(isa, inputs, weights, device, n, readout=False)
    assert sim.n_active < device.num_qubits or device.num_qubits == 5
    x, w = torch.from_numpy(values), torch.from_numpy(W)
    assert np.abs(sim.probabilities(x, w).numpy() - measured).max() < 1e-6
    assert np.abs(sim.expval_z(x, w).numpy() - measured @ signs).max() < 1e-6
    assert np.abs(bare.probabilities(x, w).numpy() - probs).max() < 1e-6
    assert np.abs(bare.expval_z(x, w).numpy() - z).max() < 1e-6
    # Per-row weights run the whole circuit per row: the same numbers.
    per_row = sim.probabilities(x, w.expand(len(x), -1)).numpy()
    assert np.abs(per_row - measured).max() < 1e-6
    assert np.abs(measured - probs).max() > 1e-3  # the readout errors matter here


def test_readout_convention_matches_aer_sampling():
    """Aer's own measurement under the full noise model (readout included), sampled."""
    device = DEVICES["manila"]
    qc, isa, inputs, weights, values, W = _case(device, 4, "angle", "linear", n_rows=1)
    sim = NoisyDensityMatrixSimulator(isa, inputs, weights, device, 4)
    probs = sim.probabilities(torch.from_numpy(values), torch.from_numpy(W)).numpy()[0]
    layout = isa.layout.final_index_layout()[:4]
    circuit = isa.copy()
    circuit.add_register(ClassicalRegister(4, "c"))
    circuit.measure(layout, range(4))
    column = {p: j for j, p in enumerate(inputs + weights)}
    row = np.concatenate([values[0], W])
    bound = circuit.assign_parameters({p: row[column[p]] for p in circuit.parameters})
    shots = 200_000
    counts = _aer(device).run(bound, shots=shots, seed_simulator=1).result().get_counts()
    freq = np.zeros(16)
    for key, count in counts.items():
        freq[int(key, 2)] = count / shots
    assert np.abs(freq - probs).max() < 5 * np.sqrt(0.25 / shots)


@pytest.mark.parametrize("device", ["toronto", "london"])  # encoding by rz, by u3's ry
def test_gradients_match_finite_differences_and_parameter_shift(device):
    device = DEVICES[device]
    qc, isa, inputs, weights, values, W = _case(device, 4, "angle", "linear", n_rows=3)
    sim = NoisyDensityMatrixSimulator(isa, inputs, weights, device, 4)
    rng = np.random.default_rng(1)
    coefs = torch.from_numpy(rng.normal(size=(3, 16)))

    def loss(x, w):
        return (sim.probabilities(x, w) * coefs).sum() + sim.expval_z(x, w).square().sum()

    x = torch.from_numpy(values).requires_grad_()
    w = torch.from_numpy(W).requires_grad_()
    loss(x, w).backward()
    h = 1e-5
    with torch.no_grad():
        fd_w = np.array([(loss(x, w + h * e) - loss(x, w - h * e)).item() / (2 * h)
                         for e in torch.eye(len(W), dtype=torch.float64)])
        # Each weight is the angle of one rz: the two-term shift rule is exact, noise or not.
        shift = np.pi / 2
        ps_w = np.array([
            (sim.probabilities(x, w + shift * e) - sim.probabilities(x, w - shift * e)).mul(
                coefs).sum().item() / 2
            for e in torch.eye(len(W), dtype=torch.float64)])
        w_only = w.detach().clone().requires_grad_()
    np.testing.assert_allclose(w.grad.numpy(), fd_w, atol=1e-6)
    (sim.probabilities(x.detach(), w_only) * coefs).sum().backward()
    np.testing.assert_allclose(w_only.grad.numpy(), ps_w, atol=1e-10)
    with torch.no_grad():
        flat = x.detach().reshape(-1)
        fd_x = []
        for k in range(flat.numel()):
            e = torch.zeros_like(flat)
            e[k] = h
            fd_x.append((loss((flat + e).reshape(x.shape), w)
                         - loss((flat - e).reshape(x.shape), w)).item() / (2 * h))
    np.testing.assert_allclose(x.grad.numpy().ravel(), fd_x, atol=1e-6)


def test_transformers_use_it_and_match_aer_without_readout():
    X = np.random.default_rng(2).uniform(0, np.pi, size=(5, 3))
    qt = EstimatorTransformer(n_layers=2, backend=FakeManilaV2(), random_state=0).fit(X)
    out = qt.transform(X)
    sim = qt.noisy_simulator()
    direct = sim.expval_z(torch.from_numpy(X), torch.from_numpy(qt.weights_)).numpy()
    np.testing.assert_array_equal(out, direct)
    assert qt.runner_.jobs.summary()["n_jobs"] == 0  # nothing submitted
    assert qt.runner_.describe()["noisy_simulator"]
    # Aer's estimator (the runner's own path) leaves readout errors out.
    values = qt.parameter_values(X, np.tile(qt.weights_, (5, 1)))
    aer = qt.runner_.expval_z(qt.circuit_, qt.parameters_, values)
    bare = qt.runner_.noisy_simulator(qt.circuit_, qt.input_params_, qt.weight_params_,
                                      readout=False)
    no_readout = bare.expval_z(torch.from_numpy(X), torch.from_numpy(qt.weights_)).numpy()
    assert np.abs(no_readout - aer).max() < 1e-6
    # Several weight sets, and pairs of rows and weights.
    W = np.random.default_rng(3).uniform(0, 6, size=(2, qt.weights_.size))
    sets = qt.evaluate(X, W)
    pairs = qt.run_pairs(np.vstack([X, X]), np.repeat(W, 5, axis=0))
    np.testing.assert_allclose(pairs.reshape(2, 5, -1), sets, atol=1e-12)
    probs = SamplerTransformer(n_layers=1, backend=FakeManilaV2(), encoding="amplitude",
                               random_state=0).fit(X).transform(X)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)


def test_a_device_of_the_u1_u2_u3_basis_is_simulated_not_refused():
    # FakeLondonV2's transpiler writes the encoding as parametrised u3 gates: transform
    # raised "handles parametrised [...] gates" where Aer's exact path had answered.
    X = np.random.default_rng(6).uniform(0, np.pi, size=(4, 3))
    qt = EstimatorTransformer(n_layers=1, backend=DEVICES["london"], random_state=0).fit(X)
    out = qt.transform(X)
    assert qt.runner_.jobs.summary()["n_jobs"] == 0
    values = qt.parameter_values(X, np.tile(qt.weights_, (4, 1)))
    aer = qt.runner_.expval_z(qt.circuit_, qt.parameters_, values)  # no readout errors
    bare = qt.runner_.noisy_simulator(qt.circuit_, qt.input_params_, qt.weight_params_,
                                      readout=False)
    no_readout = bare.expval_z(torch.from_numpy(X), torch.from_numpy(qt.weights_)).numpy()
    assert np.abs(no_readout - aer).max() < 1e-6
    assert np.abs(out - no_readout).max() > 1e-3  # readout errors are in the output


def test_quantum_layer_trains_by_autograd_and_measures_from_exact_probabilities():
    X = np.random.default_rng(4).uniform(0, np.pi, size=(6, 3))
    qt = SamplerTransformer(n_layers=1, backend=FakeManilaV2(), random_state=0).fit(X)
    layer = QuantumLayer(qt, dtype=torch.complex128)
    x = torch.from_numpy(X).requires_grad_()
    out = layer(x)
    np.testing.assert_allclose(out.detach().numpy(), qt.transform(X), atol=1e-12)
    (out[:, 3].sum() + out[:, 5].sum()).backward()
    sim = qt.noisy_simulator()
    w = torch.from_numpy(qt.weights_).requires_grad_()
    ref = sim.probabilities(torch.from_numpy(X), w)
    (ref[:, 3].sum() + ref[:, 5].sum()).backward()
    np.testing.assert_allclose(layer.weights.grad.numpy(), w.grad.numpy(), atol=1e-12)
    assert x.grad is not None and qt.runner_.jobs.summary()["n_jobs"] == 0
    rows = torch.from_numpy(np.repeat(X[:1], 20_000, axis=0))
    outcomes = layer.measure(rows, random_state=0)
    np.testing.assert_array_equal(outcomes, layer.measure(rows, random_state=0))
    freq = np.bincount(outcomes, minlength=8) / len(outcomes)
    assert np.abs(freq - qt.transform(X[:1])[0]).max() < 0.02


def test_pickle_and_clone_keep_the_noisy_path():
    X = np.random.default_rng(5).uniform(0, np.pi, size=(4, 2))
    qt = SamplerTransformer(n_layers=1, backend=FakeManilaV2(), random_state=0).fit(X)
    expected = qt.transform(X)
    loaded = pickle.loads(pickle.dumps(qt))
    np.testing.assert_array_equal(loaded.transform(X), expected)
    np.testing.assert_array_equal(clone(qt).fit(X).transform(X), expected)
    layer = pickle.loads(pickle.dumps(QuantumLayer(qt)))
    np.testing.assert_allclose(layer(torch.from_numpy(X)).detach().numpy(), expected,
                               atol=1e-6)


def test_too_wide_circuits_are_refused_before_transpiling():
    with pytest.raises(ValueError, match=r"n_qubits=13; the exact noisy simulation of a "
                                         r"fake device \(shots=None\) handles at most 12"):
        EstimatorTransformer(backend=FakeTorontoV2()).fit(np.zeros((2, 13)))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_model_fits_on_a_fake_device_without_jobs():
    X = np.random.default_rng(6).normal(size=(60, 1))
    model = QEGMSampler(n_qubits=2, n_layers=1, backend=FakeManilaV2(), max_epochs=2,
                        batch_size=30, hidden_layer_sizes=(4,), random_state=0).fit(X)
    assert model.quantum_layer_.runner_.jobs.summary()["n_jobs"] == 0
    draws = model.sample(50, random_state=0)
    np.testing.assert_array_equal(draws, model.sample(50, random_state=0))
    assert np.isfinite(model.score_samples(X)).all()


def test_wide_transpiled_circuits_and_large_batches_are_refused(monkeypatch):
    device = DEVICES["toronto"]
    qc, isa, inputs, weights, values, W = _case(device, 6, "angle", "linear")
    monkeypatch.setattr(noisy_simulator, "MAX_ACTIVE_QUBITS", 5)
    with pytest.raises(ValueError, match=r"touches 6 device qubits .* at most 5"):
        NoisyDensityMatrixSimulator(isa, inputs, weights, device, 6)
    monkeypatch.undo()
    sim = NoisyDensityMatrixSimulator(isa, inputs, weights, device, 6)
    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", "0.001")
    with pytest.raises(MemoryLimitError, match=r"noisy simulation of 10 rows on 6 active"):
        sim.probabilities(torch.zeros((10, 6), dtype=torch.float64), torch.from_numpy(W))


def _count_noise_builds(monkeypatch):
    """Count qiskit-aer's gate-error builds (what device_noise caches)."""
    import qiskit_aer.noise.device as aer_device

    calls = []
    real = aer_device.basic_device_gate_errors

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(aer_device, "basic_device_gate_errors", counted)
    return calls


def test_device_noise_is_built_once_for_copies_of_a_device(monkeypatch):
    """clone() deep-copies the backend for every fold and candidate of a grid search: the
    noise is keyed on the target's content, so the copies reuse it, bit for bit."""
    X = np.random.default_rng(7).uniform(0, np.pi, size=(5, 3))
    device = FakeManilaV2()
    noisy_simulator.clear_device_noise_cache()
    uncached = []
    for _ in range(2):
        noisy_simulator.clear_device_noise_cache()
        qt = SamplerTransformer(n_layers=1, backend=copy.deepcopy(device), random_state=0)
        uncached.append(qt.fit(X).transform(X))
    calls = _count_noise_builds(monkeypatch)
    noisy_simulator.clear_device_noise_cache()
    base = EstimatorTransformer(n_layers=1, backend=device, random_state=0)
    cached = [clone(base).fit(X).transform(X) for _ in range(3)]
    shots = [SamplerTransformer(n_layers=1, backend=copy.deepcopy(device), shots=64,
                                random_state=0).fit(X).transform(X) for _ in range(2)]
    assert len(calls) == 1
    np.testing.assert_array_equal(uncached[0], uncached[1])
    for out in cached[1:]:
        np.testing.assert_array_equal(out, cached[0])
    np.testing.assert_array_equal(shots[0], shots[1])
    qt = SamplerTransformer(n_layers=1, backend=FakeManilaV2(), random_state=0)
    np.testing.assert_array_equal(qt.fit(X).transform(X), uncached[0])
    noisy_simulator.clear_device_noise_cache()
    expval = EstimatorTransformer(n_layers=1, backend=device, random_state=0).fit(X)
    np.testing.assert_array_equal(expval.transform(X), cached[0])


def test_device_noise_follows_the_calibration_and_is_not_shared_mutably():
    from qiskit.transpiler import InstructionProperties

    device = FakeManilaV2()
    gate_errors, readout_errors = noisy_simulator.device_noise(device)
    gate_errors.clear()
    readout_errors.clear()
    again, readout = noisy_simulator.device_noise(copy.deepcopy(device))
    assert ("cx", (0, 1)) in again and 0 in readout
    with pytest.raises(ValueError, match="read-only"):
        readout[0][0, 0] = 1.0
    recalibrated = copy.deepcopy(device)
    old = recalibrated.target["cx"][(0, 1)]
    recalibrated.target.update_instruction_properties(
        "cx", (0, 1), InstructionProperties(duration=old.duration, error=0.2))
    changed = noisy_simulator.device_noise(recalibrated)[0]
    assert changed[("cx", (0, 1))] != again[("cx", (0, 1))]
    assert changed[("cx", (1, 2))] == again[("cx", (1, 2))]
    X = np.random.default_rng(8).uniform(0, np.pi, size=(3, 2))
    out = [SamplerTransformer(n_layers=1, backend=d, random_state=0).fit(X).transform(X)
           for d in (device, recalibrated)]
    assert np.abs(out[0] - out[1]).max() > 1e-3


def test_device_noise_cache_is_bounded_and_thread_safe(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(noisy_simulator, "NOISE_CACHE_SIZE", 2)
    noisy_simulator.clear_device_noise_cache()
    devices = [FakeManilaV2(), FakeLondonV2(), FakeQuitoV2()]
    for device in devices:
        noisy_simulator.device_noise(device)
    assert len(noisy_simulator._NOISE_CACHE) == 2
    noisy_simulator.clear_device_noise_cache()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(noisy_simulator.device_noise,
                                [copy.deepcopy(devices[0]) for _ in range(8)]))
    first = results[0][0][("cx", (0, 1))]
    assert all(r[0][("cx", (0, 1))] is first for r in results)
    assert len(noisy_simulator._NOISE_CACHE) == 1


def test_aer_simulator_of_a_device_is_shared_by_copies_and_threads_bit_for_bit(monkeypatch):
    """AerSimulator.from_backend (0.16 s for FakeTorontoV2) was built by every runner: a
    job of 16 noisy shots at 13 qubits took 0.26 s. Copies of a device now share one,
    keyed on its calibration, and give the shots a runner of its own gave."""
    from concurrent.futures import ThreadPoolExecutor

    from skqegm.quantum import CircuitRunner, backends, variational_circuit

    monkeypatch.setattr(backends, "MAX_ACTIVE_QUBITS", 2)  # Aer samples 3 qubits
    qc, inputs, weights = variational_circuit(3, n_layers=1)
    params = inputs + weights
    values = np.random.default_rng(9).uniform(-np.pi, np.pi, size=(2, len(params)))
    device = FakeManilaV2()
    noisy_simulator.clear_device_noise_cache()
    builds = []
    build = AerSimulator.from_backend
    monkeypatch.setattr(AerSimulator, "from_backend",
                        lambda backend, **options: builds.append(1) or build(backend, **options))

    def run(seed):
        runner = CircuitRunner(copy.deepcopy(device), shots=64, seed=seed)
        return runner.sample_outcomes(qc, params, values), runner._simulator()

    first, simulator = run(1)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, [1, 2] * 2))
    assert len(builds) == 1
    assert all(sim is simulator for _, sim in results)
    for outcomes, _ in results[::2]:
        np.testing.assert_array_equal(outcomes, first)
    assert (results[1][0] != first).any()
    noisy_simulator.clear_device_noise_cache()  # a fresh simulator: the same shots
    np.testing.assert_array_equal(run(1)[0], first)
    assert len(builds) == 2
    recalibrated = copy.deepcopy(device)
    old = recalibrated.target["cx"][(0, 1)]
    recalibrated.target.update_instruction_properties(
        "cx", (0, 1), InstructionProperties(duration=old.duration, error=0.2))
    assert noisy_simulator.device_aer_simulator(recalibrated) is not simulator
    noisy_simulator.clear_device_noise_cache()
