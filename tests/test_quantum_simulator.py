import numpy as np
import pytest
import torch
from qiskit.quantum_info import Statevector

import skqegm.quantum.simulator as simulator_module
from skqegm.quantum import StatevectorSimulator, amplitude_encoding_angles, variational_circuit


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
