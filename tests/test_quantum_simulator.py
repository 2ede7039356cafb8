import numpy as np
import pytest
import torch
from qiskit.quantum_info import Statevector

import skqegm.quantum.simulator as simulator_module
from skqegm.exceptions import MemoryLimitError
from skqegm.quantum import (
    StatevectorSimulator,
    amplitude_encoding_angles,
    exact_bytes_per_row,
    exact_fixed_bytes,
    variational_circuit,
)


def qiskit_reference(X, weights, n_layers, encoding):
    """Probabilities and <Z_i> from Qiskit's Statevector, one bound circuit per row."""
    qc, inputs, weight_params = variational_circuit(X.shape[1], n_layers, encoding)
    rows = X if encoding == "angle" else amplitude_encoding_angles(X, qc.num_qubits)
    probs = np.array([
        Statevector(qc.assign_parameters(dict(zip(inputs + weight_params, [*r, *weights]))))
        .probabilities()
        for r in rows
    ])
    bits = (np.arange(probs.shape[1])[:, None] >> np.arange(qc.num_qubits)) & 1
    return probs, probs @ (1 - 2 * bits)


CASES = [("angle", 1, 1), ("angle", 3, 2), ("angle", 6, 5), ("amplitude", 5, 3),
         ("amplitude", 16, 2)]


@pytest.mark.parametrize("encoding, n_features, n_layers", CASES)
@pytest.mark.parametrize("dtype, atol", [(torch.complex64, 1e-5), (torch.complex128, 1e-10)])
def test_simulator_agrees_with_qiskit_statevector(encoding, n_features, n_layers, dtype, atol):
    rng = np.random.default_rng(n_features * 10 + n_layers)
    X = rng.uniform(-np.pi, np.pi, size=(7, n_features))
    qc, _, weight_params = variational_circuit(n_features, n_layers, encoding)
    weights = rng.uniform(0, 2 * np.pi, size=len(weight_params))
    probs_ref, z_ref = qiskit_reference(X, weights, n_layers, encoding)

    sim = StatevectorSimulator(qc.num_qubits, n_layers, encoding, dtype=dtype)
    probs = sim.probabilities(torch.tensor(X), torch.tensor(weights))
    z = sim.expval_z(torch.tensor(X), torch.tensor(weights))
    assert probs.dtype == (torch.float32 if dtype == torch.complex64 else torch.float64)
    np.testing.assert_allclose(probs.numpy(), probs_ref, atol=atol)
    np.testing.assert_allclose(z.numpy(), z_ref, atol=atol)


def test_statevector_output_matches_qiskit_amplitudes_including_phase():
    rng = np.random.default_rng(3)
    X, weights = rng.normal(size=(2, 3)), rng.normal(size=12)
    qc, inputs, weight_params = variational_circuit(3, 2)
    sim = StatevectorSimulator(3, 2, dtype=torch.complex128)
    out = sim.statevector(torch.tensor(X), torch.tensor(weights)).numpy()
    for row, x in zip(out, X):
        ref = Statevector(qc.assign_parameters(dict(zip(inputs + weight_params, [*x, *weights]))))
        np.testing.assert_allclose(row, ref.data, atol=1e-12)


@pytest.mark.parametrize("kron_max, unitary_max", [(2, 10), (2, 2)])
def test_all_three_evolution_paths_agree(monkeypatch, kron_max, unitary_max):
    """Kronecker-built unitary (default at 4 qubits), gate-built unitary, gates on states."""
    sim = StatevectorSimulator(4, 3, dtype=torch.complex128)
    X = torch.tensor(np.random.default_rng(0).normal(size=(5, 4)))
    W = torch.tensor(np.random.default_rng(1).normal(size=(2, sim.n_weights)))
    reference = sim.expval_z(X, W)
    monkeypatch.setattr(simulator_module, "KRON_MAX_QUBITS", kron_max)
    monkeypatch.setattr(simulator_module, "UNITARY_MAX_QUBITS", unitary_max)
    torch.testing.assert_close(sim.expval_z(X, W), reference, atol=1e-12, rtol=0)


def test_chunked_batches_equal_one_batch(monkeypatch):
    sim = StatevectorSimulator(3, 2, dtype=torch.complex128)
    X = torch.tensor(np.random.default_rng(0).normal(size=(50, 3)))
    W = torch.tensor(np.random.default_rng(1).normal(size=sim.n_weights))
    whole = sim.probabilities(X, W)
    monkeypatch.setattr(simulator_module, "_CHUNK_AMPLITUDES", 8 * 7)  # 7-row chunks
    torch.testing.assert_close(sim.probabilities(X, W), whole, atol=1e-14, rtol=0)


def test_batched_weights_give_one_output_per_weight_set():
    sim = StatevectorSimulator(3, 2, dtype=torch.complex128)
    X = torch.tensor(np.random.default_rng(0).normal(size=(4, 3)))
    W = torch.tensor(np.random.default_rng(1).normal(size=(5, sim.n_weights)))
    batched = sim.expval_z(X, W)
    assert batched.shape == (5, 4, 3)
    torch.testing.assert_close(batched[2], sim.expval_z(X, W[2]), atol=1e-14, rtol=0)


@pytest.mark.parametrize("encoding, n_qubits, n_features", [("angle", 3, 3), ("amplitude", 2, 3)])
def test_autograd_matches_central_finite_differences(encoding, n_qubits, n_features):
    rng = np.random.default_rng(5)
    sim = StatevectorSimulator(n_qubits, 2, encoding, dtype=torch.complex128)
    X = torch.tensor(rng.normal(size=(3, n_features)), requires_grad=True)
    W = torch.tensor(rng.normal(size=sim.n_weights), requires_grad=True)
    coef = torch.tensor(rng.normal(size=(3, n_qubits)))

    def loss(x, w):
        return (sim.expval_z(x, w) * coef).sum()

    loss(X, W).backward()
    eps = 1e-6
    for tensor, grad in [(X, X.grad), (W, W.grad)]:
        flat = tensor.detach().clone().reshape(-1)
        numeric = np.empty(flat.numel())
        for k in range(flat.numel()):
            up, down = flat.clone(), flat.clone()
            up[k] += eps
            down[k] -= eps
            args = [up.reshape(tensor.shape), down.reshape(tensor.shape)]
            if tensor is X:
                numeric[k] = (loss(args[0], W.detach()) - loss(args[1], W.detach())).item()
            else:
                numeric[k] = (loss(X.detach(), args[0]) - loss(X.detach(), args[1])).item()
        np.testing.assert_allclose(grad.reshape(-1).numpy(), numeric / (2 * eps), atol=1e-7)


@pytest.mark.parametrize("encoding", ["angle", "amplitude"])
@pytest.mark.parametrize("weights_shape", [(6,), (2, 6)])
def test_an_empty_batch_gives_empty_outputs(encoding, weights_shape):
    # The angle encoding failed inside torch ("cannot reshape array of size 0").
    sim = StatevectorSimulator(3, 1, encoding)
    X, W = torch.zeros(0, sim.n_inputs), torch.zeros(weights_shape)
    assert sim.probabilities(X, W).shape == (*weights_shape[:-1], 0, 8)
    assert sim.expval_z(X, W).shape == (*weights_shape[:-1], 0, 3)


def test_probabilities_are_normalised_and_z_in_range():
    sim = StatevectorSimulator(5, 3)
    X = torch.rand(100, 5) * 10 - 5
    W = torch.rand(sim.n_weights) * 7
    probs = sim.probabilities(X, W)
    assert torch.all(probs >= 0)
    torch.testing.assert_close(probs.sum(-1), torch.ones(100), atol=1e-5, rtol=0)
    assert torch.all(sim.expval_z(X, W).abs() <= 1 + 1e-6)


def test_invalid_sizes_raise_clear_errors():
    with pytest.raises(ValueError, match="n_qubits must be <= 20"):
        StatevectorSimulator(21, 1)
    with pytest.raises(ValueError, match="n_layers must be >= 1"):
        StatevectorSimulator(2, 0)
    with pytest.raises(ValueError, match="dtype must be one of"):
        StatevectorSimulator(2, 1, dtype=torch.float32)
    sim = StatevectorSimulator(2, 1)
    with pytest.raises(ValueError, match="X has 3 features"):
        sim.expval_z(torch.zeros(1, 3), torch.zeros(4))
    with pytest.raises(ValueError, match="weights has 5 entries"):
        sim.expval_z(torch.zeros(1, 2), torch.zeros(5))


# -- memory: estimates, refusals, chunks ------------------------------------------------------

def test_exact_bytes_per_row_counts_the_output_row_and_what_autograd_keeps():
    assert exact_bytes_per_row(16) == 2**16 * 4  # float32 probabilities
    assert exact_bytes_per_row(16, dtype=torch.complex128) == 2**16 * 8
    assert exact_bytes_per_row(16, "statevector") == 2**16 * 8  # complex64
    assert exact_bytes_per_row(16, "expval_z") == 16 * 4
    assert exact_bytes_per_row(16, n_weight_sets=3) == 3 * exact_bytes_per_row(16)
    # Above UNITARY_MAX_QUBITS, autograd keeps states per gate: it grows with the layers.
    one, three = (exact_bytes_per_row(14, "expval_z", n_layers=layers, requires_grad=True)
                  for layers in (1, 3))
    assert 2**14 * 8 * 2 * 14 < one < three
    assert exact_fixed_bytes(4) < exact_fixed_bytes(10) < exact_fixed_bytes(10, n_weight_sets=2)
    assert exact_fixed_bytes(12, n_rows=1) < exact_fixed_bytes(12)  # one row, not one chunk
    with pytest.raises(ValueError, match="output must be one of"):
        exact_bytes_per_row(3, "counts")
    with pytest.raises(ValueError, match="n_qubits must be <= 20"):
        exact_bytes_per_row(21)


def test_a_batch_that_cannot_fit_is_refused_before_evolving(monkeypatch):
    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", "0.5")
    sim = StatevectorSimulator(18, 1)
    with pytest.raises(MemoryLimitError, match=r"StatevectorSimulator\(n_qubits=18, "
                                               r"n_layers=1\)\.probabilities on 1000 rows "
                                               r"needs an estimated 1\.\d+ GiB"):
        sim.probabilities(torch.zeros(1000, 18), torch.zeros(sim.n_weights))
    sim = StatevectorSimulator(14, 2)
    X = torch.zeros(100, 14, requires_grad=True)
    with pytest.raises(MemoryLimitError, match=r"expval_z on 100 rows with autograd needs an "
                                               r"estimated 892 MiB.*autograd keeps"):
        sim.expval_z(X, torch.zeros(sim.n_weights))
    with torch.no_grad():  # without autograd the same batch is small
        assert sim.expval_z(X, torch.zeros(sim.n_weights)).shape == (100, 14)
    with pytest.raises(MemoryLimitError, match=r"z_sign_matrix\(n_qubits=30\)"):
        simulator_module.z_sign_matrix(30)



def test_the_estimate_is_checked_on_the_inputs_device(monkeypatch):
    # The states live where the inputs do: a CUDA batch is held against the GPU's memory.
    seen = []

    def record(n_bytes, what, advice="", device=None):
        seen.append(device)
        raise MemoryError("recorded")

    monkeypatch.setattr(simulator_module, "check_memory", record)
    sim = StatevectorSimulator(18, 1)
    with pytest.raises(MemoryError, match="recorded"):
        sim.probabilities(torch.zeros(1000, 18), torch.zeros(sim.n_weights))
    assert seen == [torch.device("cpu")]


@pytest.mark.parametrize("n_qubits", [3, 7, 11])  # the three evolution paths
@pytest.mark.parametrize("output", ["probabilities", "expval_z", "statevector"])
def test_chunks_written_into_the_output_equal_one_batch(monkeypatch, n_qubits, output):
    sim = StatevectorSimulator(n_qubits, 1, dtype=torch.complex128)
    X = torch.tensor(np.random.default_rng(0).normal(size=(9, n_qubits)))
    W = torch.tensor(np.random.default_rng(1).normal(size=(2, sim.n_weights)))
    whole = getattr(sim, output)(X, W)
    monkeypatch.setattr(simulator_module, "_CHUNK_AMPLITUDES", 2 * 4 * 2**n_qubits)  # 4 rows
    chunked = getattr(sim, output)(X, W)
    assert chunked.shape == whole.shape and chunked.dtype == whole.dtype
    torch.testing.assert_close(chunked, whole, atol=1e-13, rtol=0)
    W.requires_grad_(True)  # with autograd the chunks are concatenated
    torch.testing.assert_close(getattr(sim, output)(X, W).detach(), whole, atol=1e-13, rtol=0)


def test_z_sign_matrix_is_built_only_when_needed():
    sim = StatevectorSimulator(3, 1)
    assert sim._z_sign_cache is None
    sim.expval_z(torch.zeros(1, 3), torch.zeros(sim.n_weights))
    assert sim._z_sign_cache.shape == (8, 3)
    np.testing.assert_array_equal(simulator_module.z_sign_matrix(3),
                                  1.0 - 2.0 * ((np.arange(8)[:, None] >> np.arange(3)) & 1))


@pytest.mark.parametrize("n_qubits, n_layers", [(1, 1), (3, 2), (6, 5)])
@pytest.mark.parametrize("entanglement", ["linear", None])
def test_product_state_path_agrees_with_qiskit(monkeypatch, n_qubits, n_layers, entanglement):
    """The forward path of large batches without autograd, forced onto a small batch and
    chunked into 3 rows, against Qiskit's Statevector (float64: 1e-10)."""
    monkeypatch.setattr(simulator_module, "_PRODUCT_MIN_AMPLITUDES", 0)
    monkeypatch.setattr(simulator_module, "_CACHED_AMPLITUDES", 3 * 2**n_qubits)
    rng = np.random.default_rng(n_qubits)
    X = rng.uniform(-np.pi, np.pi, size=(7, n_qubits))
    weights = rng.uniform(0, 2 * np.pi, size=2 * n_qubits * n_layers)
    qc, inputs, weight_params = variational_circuit(n_qubits, n_layers,
                                                    entanglement=entanglement)
    probs_ref = np.array([
        Statevector(qc.assign_parameters(dict(zip(inputs + weight_params, [*x, *weights]))))
        .probabilities() for x in X])
    sim = StatevectorSimulator(n_qubits, n_layers, dtype=torch.complex128,
                               entanglement=entanglement)
    with torch.no_grad():
        probs = sim.probabilities(torch.tensor(X), torch.tensor(weights))
        z = sim.expval_z(torch.tensor(X), torch.tensor(weights))
    np.testing.assert_allclose(probs.numpy(), probs_ref, atol=1e-10)
    np.testing.assert_allclose(z.numpy(), probs_ref @ simulator_module.z_sign_matrix(n_qubits),
                               atol=1e-10)


def test_product_state_path_serves_weight_sets_and_equals_the_autograd_path(monkeypatch):
    sim = StatevectorSimulator(4, 2, dtype=torch.complex128)
    X = torch.tensor(np.random.default_rng(0).normal(size=(11, 4)))
    W = torch.tensor(np.random.default_rng(1).normal(size=(2, 3, sim.n_weights)),
                     requires_grad=True)
    reference = sim.expval_z(X, W).detach()  # autograd: the chunked path
    monkeypatch.setattr(simulator_module, "_PRODUCT_MIN_AMPLITUDES", 0)
    monkeypatch.setattr(simulator_module, "_CACHED_AMPLITUDES", 4 * 16)
    with torch.no_grad():
        out = sim.expval_z(X, W)
    assert out.shape == (2, 3, 11, 4) and out.dtype == torch.float64
    torch.testing.assert_close(out, reference, atol=1e-13, rtol=0)


@pytest.mark.parametrize("threads", [2, 3])
def test_product_state_path_shares_rows_among_threads_with_the_same_results(monkeypatch,
                                                                            threads):
    """Several torch threads: the chunks go to as many Python threads (uneven shares, a
    short last chunk, weight sets), bit for bit the one-thread result, equal to Qiskit;
    the caller's thread count is restored, also after a worker fails."""
    monkeypatch.setattr(simulator_module, "_PRODUCT_MIN_AMPLITUDES", 0)
    monkeypatch.setattr(simulator_module, "_CACHED_AMPLITUDES", 5 * 2**3)
    rng = np.random.default_rng(3)
    X = torch.tensor(rng.uniform(-np.pi, np.pi, size=(23, 3)))
    W = torch.tensor(rng.uniform(0, 2 * np.pi, size=(2, 2 * 3 * 2)))
    sim = StatevectorSimulator(3, 2, dtype=torch.complex128)
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        with torch.no_grad():
            one = sim.probabilities(X, W), sim.expval_z(X, W)
        torch.set_num_threads(threads)
        workers = []
        original = simulator_module._evolve_product_rows
        monkeypatch.setattr(simulator_module, "_evolve_product_rows",
                            lambda *a: workers.append((a[4], a[5], torch.get_num_threads()))
                            or original(*a))
        with torch.no_grad():
            many = sim.probabilities(X, W), sim.expval_z(X, W)
        assert torch.get_num_threads() == threads
        # 5 chunks of 5 rows (the last of 3) shared out: every row once, one torch thread
        assert sorted(w[:2] for w in workers[: len(workers) // 2]) == (
            [(0, 15), (15, 23)] if threads == 2 else [(0, 10), (10, 20), (20, 23)])
        assert {w[2] for w in workers} == {1}
        for a, b in zip(one, many):
            assert torch.equal(a, b)
        qc, inputs, weight_params = variational_circuit(3, 2)
        ref = Statevector(qc.assign_parameters(dict(zip(
            inputs + weight_params, [*X[22].tolist(), *W[1].tolist()])))).probabilities()
        np.testing.assert_allclose(many[0][1, 22].numpy(), ref, atol=1e-12)

        def failing(*a):
            raise RuntimeError("worker failed")

        monkeypatch.setattr(simulator_module, "_evolve_product_rows", failing)
        with pytest.raises(RuntimeError, match="worker failed"), torch.no_grad():
            sim.probabilities(X, W)
        assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(saved)


def test_large_batches_take_the_product_state_path_and_small_ones_do_not(monkeypatch):
    sim = StatevectorSimulator(6, 1, dtype=torch.complex128)
    calls = []
    original = StatevectorSimulator._evolve_product_states
    monkeypatch.setattr(StatevectorSimulator, "_evolve_product_states",
                        lambda self, *a: calls.append(1) or original(self, *a))
    W = torch.zeros(sim.n_weights)
    with torch.no_grad():
        sim.probabilities(torch.zeros(16, 6), W)
        assert not calls
        big = sim.probabilities(torch.zeros(2048, 6), W)
    assert calls and big.shape == (2048, 64)
    np.testing.assert_allclose(big[:, 0].numpy(), 1.0)  # |0...0> stays put at zero weights


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("n_rows", [7, 5000])  # the chunked and the product-state paths
def test_simulator_on_cuda_matches_the_cpu(n_rows):
    sim = StatevectorSimulator(4, 2, dtype=torch.complex128)
    X = torch.tensor(np.random.default_rng(0).normal(size=(n_rows, 4)))
    W = torch.tensor(np.random.default_rng(1).normal(size=sim.n_weights))
    with torch.no_grad():
        cpu = sim.expval_z(X, W)
        cuda = sim.expval_z(X.cuda(), W.cuda())
    assert cuda.device.type == "cuda"
    torch.testing.assert_close(cuda.cpu(), cpu, atol=1e-10, rtol=0)
    W.requires_grad_(True)
    sim.probabilities(X.cuda(), W.cuda()).sum().backward()  # autograd on the device


def test_amplitude_encoding_refuses_a_zero_row():
    # Normalising a zero row gave NaN probabilities, silently.
    sim = StatevectorSimulator(2, 1, "amplitude", dtype=torch.complex128)
    X = torch.tensor([[1.0, 2.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0], [1e-300, 0.0, 0.0, 0.0]],
                     dtype=torch.float64)
    weights = torch.zeros(sim.n_weights)
    for output in (sim.probabilities, sim.expval_z, sim.statevector):
        with pytest.raises(ValueError, match=r"rows \[1\] of X are all zeros"):
            output(X, weights)
    probs = sim.probabilities(X[[0, 2]], weights)  # a tiny row is not a zero row
    np.testing.assert_allclose(probs.sum(dim=-1).numpy(), 1.0)
    np.testing.assert_allclose(probs[1].numpy(), [1.0, 0.0, 0.0, 0.0])


@pytest.mark.parametrize("encoding", ["angle", "amplitude"])
def test_values_not_finite_in_the_simulators_precision_are_refused(encoding):
    # 1e39 is infinite in float32: the single-precision simulator returned NaN for it.
    sim = StatevectorSimulator(2, 1, encoding, dtype=torch.complex64)
    X = np.array([[0.5, 1.0], [1e39, 1.0]])
    with pytest.raises(ValueError, match=r"X must be finite in the simulator's torch.float32; "
                                         r"got 1 NaN or infinite"):
        sim.expval_z(X, np.zeros(sim.n_weights))
    double = StatevectorSimulator(2, 1, encoding, dtype=torch.complex128)
    assert np.all(np.isfinite(double.expval_z(X, np.zeros(double.n_weights)).numpy()))
