"""Shots on a fake device are real shot noise drawn from its exact noisy probabilities:
they converge to them, a seed reproduces them, and the jobs keep their budget and records."""

import numpy as np
import pytest
import torch
from qiskit_ibm_runtime.fake_provider import FakeManilaV2, FakeTorontoV2

from skqegm import QEGMSampler
from skqegm.exceptions import ShotBudgetError
from skqegm.quantum import (
    CircuitRunner,
    JobManager,
    QuantumLayer,
    SamplerTransformer,
    variational_circuit,
)
from skqegm.quantum.mitigation import noise_model_assignment_matrices

DEVICE = FakeManilaV2()


def _circuit(n_qubits=3, n_rows=3, seed=0):
    qc, inputs, weights = variational_circuit(n_qubits, n_layers=2)
    params = inputs + weights
    values = np.random.default_rng(seed).uniform(-np.pi, np.pi, size=(n_rows, len(params)))
    return qc, params, values


def _exact(qc, params, values, seed):
    """The exact noisy probabilities of the same transpilation (``shots=None``)."""
    runner = CircuitRunner(DEVICE, None, seed=seed)
    simulator = runner.noisy_simulator(qc, params, [])
    probs = simulator.probabilities(torch.from_numpy(values), torch.zeros(0, dtype=torch.float64))
    return probs.numpy(), runner.layout


def test_sampled_frequencies_converge_to_the_exact_noisy_probabilities():
    qc, params, values = _circuit()
    shots = 100_000
    runner = CircuitRunner(DEVICE, shots=shots, seed=1)
    frequencies = runner.probabilities(qc, params, values)
    exact, layout = _exact(qc, params, values, seed=1)
    assert runner.layout == layout
    sigma = np.sqrt(exact * (1 - exact) / shots) + 1 / shots
    assert (np.abs(frequencies - exact) < 5 * sigma).all(), np.abs(frequencies - exact).max()
    # Readout errors are in: the noise model's, not the calibration's (qiskit-ibm-runtime's
    # local testing mode used those, and its results did not converge to these).
    no_readout = CircuitRunner(DEVICE, None, seed=1).noisy_simulator(
        qc, params, [], readout=False).probabilities(
        torch.from_numpy(values), torch.zeros(0, dtype=torch.float64)).numpy()
    assert np.abs(frequencies - no_readout).max() > 10 * sigma.max()
    expval = runner.expval_z(qc, params, values)
    signs = 1 - 2 * ((np.arange(8)[:, None] >> np.arange(3)) & 1)
    np.testing.assert_allclose(expval, exact @ signs, atol=5 * 2 / np.sqrt(shots))


def test_shots_are_reproduced_by_a_seed_and_rows_are_independent():
    qc, params, values = _circuit(n_rows=1)
    values = np.repeat(values, 2, axis=0)  # two equal rows
    first = CircuitRunner(DEVICE, shots=200, seed=5).sample_outcomes(qc, params, values)
    again = CircuitRunner(DEVICE, shots=200, seed=5).sample_outcomes(qc, params, values)
    other = CircuitRunner(DEVICE, shots=200, seed=5).sample_outcomes(qc, params, values,
                                                                      seed=6)
    assert first.shape == (2, 200) and first.dtype == np.int64
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert not np.array_equal(first[0], first[1])  # equal rows, their own shots
    assert ((first >= 0) & (first < 8)).all()


def test_jobs_keep_the_budget_and_the_records():
    qc, params, values = _circuit()
    runner = CircuitRunner(DEVICE, shots=100, seed=0, jobs=JobManager(max_shots=500))
    runner.sample_outcomes(qc, params, values)
    record = runner.describe()
    assert record["n_jobs"] == 1 and record["shots_used"] == record["shots_submitted"] == 300
    job = record["jobs"][0]
    assert len(job["job_id"]) == 36 and job["backend"] == "fake_manila"
    assert job["retries"] == 0 and job["shots"] == 300
    assert record["device"]["name"] == "fake_manila" and not record["noisy_simulator"]
    with pytest.raises(ShotBudgetError, match="300 were already submitted"):
        runner.sample_outcomes(qc, params, values)
    assert runner.jobs.shots_submitted == 300


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_fit_with_shots_on_a_fake_device_uses_the_shots_it_estimated():
    X = np.random.default_rng(0).normal(size=(20, 1))
    model = QEGMSampler(n_qubits=1, n_layers=1, backend=DEVICE, shots=8, max_epochs=1,
                        batch_size=20, hidden_layer_sizes=(4,), early_stopping=False,
                        random_state=0)
    model.fit(X)
    record = model.provenance_["runtime"]
    assert record["shots_used"] == record["shots_estimate"] > 0
    assert record["execution_mode"] == "batch" and record["n_jobs"] >= 1
    assert np.isfinite(model.loss_curve_).all()
    again = QEGMSampler(**model.get_params()).fit(X)
    assert again.loss_curve_ == model.loss_curve_


def test_quantum_layer_gradients_with_shots_approach_the_exact_noisy_gradients():
    X = np.random.default_rng(4).uniform(0, np.pi, size=(3, 2))

    def grad(shots):
        qt = SamplerTransformer(n_layers=1, backend=DEVICE, shots=shots,
                                random_state=0).fit(X)
        layer = QuantumLayer(qt, dtype=torch.complex128)
        out = layer(torch.from_numpy(X))
        (out[:, 1].sum() - out[:, 2].sum()).backward()
        return layer.weights.grad.numpy()

    exact, sampled = grad(None), grad(20_000)
    # Parameter shift of sampled probabilities: 2 shifted sets per weight, 3 rows, each
    # frequency with standard deviation at most 0.5 / sqrt(20,000).
    assert np.abs(sampled - exact).max() < 5 * 0.5 * np.sqrt(2 * 3 * 2 / 20_000)
    assert np.abs(exact).max() > 0.05  # a gradient worth checking


def test_mitigation_undoes_the_readout_errors_the_shots_carry():
    qc, params, values = _circuit(n_rows=2)
    shots = 50_000
    runner = CircuitRunner(DEVICE, shots=shots, seed=2, readout_mitigation=True)
    mitigated = runner.probabilities(qc, params, values)
    exact, layout = _exact(qc, params, values, seed=2)
    no_readout = CircuitRunner(DEVICE, None, seed=2).noisy_simulator(
        qc, params, [], readout=False).probabilities(
        torch.from_numpy(values), torch.zeros(0, dtype=torch.float64)).numpy()
    assert np.abs(mitigated - no_readout).max() < np.abs(exact - no_readout).max() / 2
    matrices = noise_model_assignment_matrices(DEVICE, layout)
    np.testing.assert_allclose(matrices.sum(axis=1), 1.0)


def test_a_circuit_too_wide_for_the_simulator_is_sampled_by_aer_under_the_same_noise(
        monkeypatch):
    from skqegm.quantum import backends

    qc, params, values = _circuit(n_rows=2)
    exact, _ = _exact(qc, params, values, seed=4)
    monkeypatch.setattr(backends, "MAX_ACTIVE_QUBITS", 2)  # 3 active qubits: too wide
    shots = 50_000
    runner = CircuitRunner(DEVICE, shots=shots, seed=4)
    frequencies = runner.probabilities(qc, params, values)
    sigma = np.sqrt(exact * (1 - exact) / shots) + 1 / shots
    assert (np.abs(frequencies - exact) < 5 * sigma).all(), np.abs(frequencies - exact).max()
    assert runner.describe()["n_jobs"] == 1
    np.testing.assert_array_equal(
        frequencies, CircuitRunner(DEVICE, shots=shots, seed=4).probabilities(qc, params, values))


def test_aer_runs_only_as_many_noisy_shots_in_parallel_as_memory_holds(monkeypatch):
    """Aer runs noisy shots in parallel, one state per thread whatever the memory (2 states
    held 136 MB at 22 qubits on 2 cores, 72 MB with one): the runner caps them to what
    half the memory available holds, which changes no shot."""
    from skqegm.quantum import backends

    qc, params, values = _circuit(n_rows=2)
    monkeypatch.setattr(backends, "MAX_ACTIVE_QUBITS", 2)  # 3 active qubits: Aer samples
    outcomes = {}
    for key, states, limit in ((0, 1, None), (1, 1, 2 * 24 * 2**3 + 1),
                               (3, 3, 3 * 2 * 24 * 2**3)):
        monkeypatch.setattr(backends, "memory_limit", lambda limit=limit: limit)
        runner = CircuitRunner(DEVICE, shots=200, seed=5)
        outcomes[key] = runner.sample_outcomes(qc, params, values)
        assert backends._aer_noisy_run_options(3)["max_parallel_shots"] == states
    np.testing.assert_array_equal(outcomes[1], outcomes[0])
    np.testing.assert_array_equal(outcomes[3], outcomes[0])


def test_aers_noisy_shots_are_never_silently_empty(monkeypatch):
    """qiskit-aer 0.18.2 runs no noisy shot when max_memory_mb holds one state but not two
    (its default is half the physical memory): it reports success with no counts, and its
    SamplerV2 returns all-zero bitstrings. The runner sets the limit for each job."""
    from qiskit_aer import AerSimulator

    from skqegm.quantum import backends, noisy_simulator

    # 10 qubits (3 sample by density matrix, which Aer runs); Aer samples beyond 9.
    qc, params, values = _circuit(n_qubits=10, n_rows=2)
    monkeypatch.setattr(backends, "MAX_ACTIVE_QUBITS", 9)
    device = FakeTorontoV2()
    noisy_simulator.clear_device_noise_cache()
    expected = CircuitRunner(device, shots=50, seed=6).sample_outcomes(qc, params, values)
    assert (expected != 0).mean() > 0.5
    build = AerSimulator.from_backend  # a machine whose Aer default is 1 MB: one state
    monkeypatch.setattr(AerSimulator, "from_backend",
                        lambda backend, **options: build(backend, max_memory_mb=1, **options))
    noisy_simulator.clear_device_noise_cache()
    outcomes = CircuitRunner(device, shots=50, seed=6).sample_outcomes(qc, params, values)
    np.testing.assert_array_equal(outcomes, expected)
    monkeypatch.setattr(backends, "memory_limit", lambda: None)  # two states' worth
    outcomes = CircuitRunner(device, shots=50, seed=6).sample_outcomes(qc, params, values)
    np.testing.assert_array_equal(outcomes, expected)
    noisy_simulator.clear_device_noise_cache()


def test_the_estimate_of_aers_noisy_shots_holds_the_two_states_aer_asks_for(monkeypatch):
    """26 qubits: 24 B per amplitude and 256 MiB (1.75 GiB) passed a 1.9 GiB limit, under
    the two 1 GiB states without which Aer runs no noisy shot."""
    from skqegm.exceptions import MemoryLimitError
    from skqegm.quantum.backends import check_state_memory

    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", "1.9")
    check_state_memory(26, "device", "26 qubits")
    with pytest.raises(MemoryLimitError, match=r"26 qubits needs an estimated 2.25 GiB"):
        check_state_memory(26, "device", "26 qubits", sampled=True)


def test_the_state_estimate_counts_what_aers_noisy_shots_keep(monkeypatch):
    """Below 21 qubits Aer's noisy shots kept up to 260 MB besides a 16 MB state (20
    qubits, 64 shots); the estimate of a fake device's Aer sampling counts 256 MiB."""
    from skqegm.exceptions import MemoryLimitError
    from skqegm.quantum.backends import check_state_memory

    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", "0.1")
    check_state_memory(13, "device", "13 qubits")  # 192 KiB: the noisy simulator's width
    check_state_memory(12, "device", "12 qubits", sampled=True)  # the noisy simulator
    with pytest.raises(MemoryLimitError, match=r"13 qubits needs an estimated 258 MiB"):
        check_state_memory(13, "device", "13 qubits", sampled=True)
    with pytest.raises(MemoryLimitError, match=r"n_qubits=13 .* needs an estimated 258 MiB"):
        SamplerTransformer(backend=FakeTorontoV2(), shots=10).fit(np.zeros((2, 13)))
