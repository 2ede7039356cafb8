import numpy as np
import pytest
import sklearn
import torch

from skqegm.exceptions import MemoryLimitError
from skqegm.quantum import EstimatorTransformer, QuantumLayer, SamplerTransformer

rng = np.random.default_rng(11)
X = rng.uniform(-np.pi, np.pi, size=(5, 3))


def exact_gradients(transformer, coef):
    """Reference: autograd through the exact simulator in complex128."""
    exact = type(transformer)(n_layers=transformer.n_layers, encoding=transformer.encoding,
                              weights=transformer.weights_).fit(X)
    layer = QuantumLayer(exact, dtype=torch.complex128)
    x = torch.tensor(X, requires_grad=True)
    (layer(x) * coef).sum().backward()
    return x.grad.numpy(), layer.weights.grad.numpy()


@pytest.mark.parametrize("cls", [EstimatorTransformer, SamplerTransformer])
@pytest.mark.parametrize("backend", [None, "statevector", "aer"])
def test_forward_equals_transform_and_gradients_equal_autograd(cls, backend):
    qt = cls(n_layers=2, backend=backend, random_state=0).fit(X)
    layer = QuantumLayer(qt, dtype=torch.complex128)
    x = torch.tensor(X, requires_grad=True)
    out = layer(x)
    np.testing.assert_allclose(out.detach().numpy(), qt.transform(X), atol=1e-10)
    coef = torch.tensor(rng.normal(size=out.shape))
    (out * coef).sum().backward()
    grad_x, grad_w = exact_gradients(qt, coef)
    np.testing.assert_allclose(x.grad.numpy(), grad_x, atol=1e-8)
    np.testing.assert_allclose(layer.weights.grad.numpy(), grad_w, atol=1e-8)


def test_a_training_step_is_one_primitive_call(counting_estimator):
    qt = EstimatorTransformer(backend=counting_estimator, random_state=0).fit(X)
    layer = QuantumLayer(qt)
    x = torch.tensor(X, requires_grad=True)
    out = layer(x)
    assert counting_estimator.calls == 1
    out.sum().backward()
    assert counting_estimator.calls == 1
    assert x.grad is not None and layer.weights.grad is not None
    with torch.no_grad():
        layer(x)
    assert counting_estimator.calls == 2


@pytest.mark.parametrize("backend", [None, "aer"])
def test_measure_draws_from_the_outcome_distribution(backend):
    qt = SamplerTransformer(n_layers=2, backend=backend, random_state=0).fit(X)
    layer = QuantumLayer(qt)
    x = torch.tensor(np.tile(X[:1], (4000, 1)))
    outcomes = layer.measure(x, random_state=0)
    assert outcomes.shape == (4000,)
    freq = np.bincount(outcomes, minlength=2**qt.n_qubits_) / 4000
    exact = SamplerTransformer(n_layers=2, weights=qt.weights_).fit(X).transform(X[:1])[0]
    assert np.abs(freq - exact).max() < 5 * np.sqrt(0.25 / 4000)
    np.testing.assert_array_equal(outcomes, layer.measure(x, random_state=0))


def test_training_through_the_bridge_reduces_the_loss():
    qt = EstimatorTransformer(n_layers=1, backend="aer", shots=500, random_state=0).fit(X)
    layer = QuantumLayer(qt)
    torch.manual_seed(0)
    head = torch.nn.Linear(3, 1, dtype=torch.float64)
    target = torch.tensor(np.sin(X).sum(1, keepdims=True))
    optimizer = torch.optim.Adam([*layer.parameters(), *head.parameters()], lr=0.1)
    x = torch.tensor(X)
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        loss = ((head(layer(x)) - target) ** 2).mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    trained = layer.to_transformer()
    np.testing.assert_allclose(trained.weights_, layer.weights.detach().numpy())
    assert not np.allclose(trained.weights_, qt.weights_)  # the original is untouched


def test_shots_give_fresh_noise_each_step():
    qt = EstimatorTransformer(backend="aer", shots=100, random_state=0).fit(X)
    layer = QuantumLayer(qt)
    x = torch.tensor(X)
    assert not torch.equal(layer(x), layer(x))
    again = QuantumLayer(qt)
    first = QuantumLayer(qt)(x)
    torch.testing.assert_close(again(x), first)  # reproducible from the seed


@pytest.mark.parametrize("cls", [EstimatorTransformer, SamplerTransformer])
@pytest.mark.parametrize("backend", [None, "aer", "fake"])
def test_a_batch_of_no_rows_runs_forward_backward_and_measure(cls, backend):
    # Each backend failed in its own way: torch's and numpy's ambiguous -1 of an empty
    # reshape (exact backward, parameter shift), no graph to backpropagate (noisy).
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    device = FakeManilaV2() if backend == "fake" else backend
    layer = QuantumLayer(cls(n_layers=1, backend=device, random_state=0).fit(np.ones((1, 2))))
    x = torch.zeros(0, 2, dtype=torch.float64, requires_grad=True)
    out = layer(x)
    assert out.shape == (0, 2 if cls is EstimatorTransformer else 4)
    out.sum().backward()
    assert torch.equal(layer.weights.grad, torch.zeros(4)) and x.grad.shape == (0, 2)
    assert layer.measure(x.detach()).shape == (0,)


def test_unsupported_combinations_raise():
    amp = EstimatorTransformer(encoding="amplitude", backend="aer", random_state=0).fit(X)
    QuantumLayer(amp)(torch.tensor(X))  # weights-only training works
    with pytest.raises(ValueError, match="encoding='angle'"):
        QuantumLayer(amp)(torch.tensor(X, requires_grad=True))
    with pytest.raises(ValueError, match="shots with the exact backend"):
        QuantumLayer(EstimatorTransformer(shots=10).fit(X))


@pytest.mark.parametrize("backend", [None, "aer", "fake"])
@pytest.mark.parametrize("change", [{"n_layers": 2}, {"encoding": "amplitude"},
                                    {"entanglement": None}, {"shots": 7}],
                         ids=["n_layers", "encoding", "entanglement", "shots"])
def test_the_layer_runs_the_fitted_circuit_whatever_set_params_changed(backend, change):
    # The rule of 'Backends after a fit': the circuit and shots stay the fit's until a
    # refit. The layer read the current ones: n_layers=2 made the exact simulator refuse
    # the fitted weights, encoding='amplitude' gave other outputs (on a Qiskit backend it
    # refused input gradients), entanglement=None other outputs, shots=7 was refused.
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    device = FakeManilaV2() if backend == "fake" else backend
    X2 = X[:3, :2]
    qt = SamplerTransformer(n_layers=1, backend=device, random_state=0).fit(X2)

    def outputs():
        layer = QuantumLayer(qt, dtype=torch.complex128)
        x = torch.tensor(X2, requires_grad=True)
        out = layer(x)
        (out * torch.arange(4.0, dtype=out.dtype)).sum().backward()
        return (out.detach().numpy(), x.grad.numpy(), layer.weights.grad.numpy(),
                layer.measure(x.detach(), random_state=0))

    expected = outputs()
    qt.set_params(**change)
    for got, want in zip(outputs(), expected):
        np.testing.assert_array_equal(got, want)


def test_the_layer_refuses_what_the_fit_cannot_train_whatever_set_params_says():
    amplitude = EstimatorTransformer(n_layers=1, encoding="amplitude", backend="aer",
                                     random_state=0).fit(X)
    amplitude.set_params(encoding="angle")
    with pytest.raises(ValueError, match="encoding='angle'"):
        QuantumLayer(amplitude)(torch.tensor(X, requires_grad=True))
    sampled = EstimatorTransformer(n_layers=1, shots=10).fit(X).set_params(shots=None)
    with pytest.raises(ValueError, match="fitted with shots=10"):
        QuantumLayer(sampled)


def test_exact_measure_in_chunks_equals_one_batch():
    layer = QuantumLayer(SamplerTransformer(n_layers=2, random_state=1).fit(X))
    x = torch.tensor(rng.uniform(-np.pi, np.pi, size=(300, 3)), dtype=torch.float32)
    whole = layer.measure(x, random_state=5)
    with sklearn.config_context(working_memory=0.002):  # a few rows per chunk
        np.testing.assert_array_equal(layer.measure(x, random_state=5), whole)
    assert whole.dtype == np.int64 and whole.max() < 8


@pytest.mark.parametrize("random_state", [-1, 2**40, 0.5])
def test_measure_names_an_invalid_random_state(random_state):
    layer = QuantumLayer(SamplerTransformer(n_layers=1, random_state=1).fit(X))
    with pytest.raises(ValueError, match=r"random_state must be None, an int in "
                                         r"\[0, 2\*\*32 - 1\]"):
        layer.measure(torch.zeros(2, 3), random_state=random_state)


def test_a_training_batch_that_cannot_fit_is_refused(monkeypatch):
    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", "0.5")
    layer = QuantumLayer(EstimatorTransformer(n_layers=2, random_state=0).fit(np.zeros((1, 14))))
    x = torch.zeros(100, 14, requires_grad=True)
    with pytest.raises(MemoryLimitError, match=r"n_qubits=14.* on 100 rows with autograd"):
        layer(x)
