import warnings

import numpy as np
import pytest
import torch
from qiskit.quantum_info import SparsePauliOp

from skqegm.exceptions import MemoryLimitError
from skqegm.quantum import (
    EstimatorTransformer,
    SamplerTransformer,
    StatevectorSimulator,
    parameter_shift_jacobian,
)
from skqegm.quantum.circuits import normalized_amplitudes

rng = np.random.default_rng(7)
X = rng.uniform(-np.pi, np.pi, size=(4, 3))


def autograd_jacobian(transformer, X):
    """Reference: torch autograd through the exact simulator, in complex128."""
    sim = StatevectorSimulator(transformer.n_qubits_, transformer.n_layers,
                               transformer.encoding, dtype=torch.complex128)
    output = sim.expval_z if isinstance(transformer, EstimatorTransformer) else sim.probabilities
    x = torch.tensor(X)
    jac = torch.autograd.functional.jacobian(
        lambda w: output(x, w), torch.tensor(transformer.weights_))
    return jac.numpy()


@pytest.mark.parametrize("cls", [EstimatorTransformer, SamplerTransformer])
@pytest.mark.parametrize("encoding", ["angle", "amplitude"])
@pytest.mark.parametrize("backend", [None, "statevector", "aer"])
def test_parameter_shift_equals_autograd(cls, encoding, backend):
    qt = cls(n_layers=2, encoding=encoding, backend=backend, random_state=3).fit(X)
    jac = parameter_shift_jacobian(qt, X)
    n_out = qt.n_qubits_ if cls is EstimatorTransformer else 2**qt.n_qubits_
    assert jac.shape == (4, n_out, qt.weights_.size)
    np.testing.assert_allclose(jac, autograd_jacobian(qt, X), atol=1e-6)


def test_parameter_shift_matches_finite_differences_of_transform():
    qt = EstimatorTransformer(n_layers=2, random_state=0).fit(X)
    jac = parameter_shift_jacobian(qt, X)
    eps = 1e-5
    for k in [0, 5, 11]:
        up = EstimatorTransformer(n_layers=2, weights=qt.weights_ + eps * np.eye(12)[k]).fit(X)
        down = EstimatorTransformer(n_layers=2, weights=qt.weights_ - eps * np.eye(12)[k]).fit(X)
        numeric = (up.transform(X) - down.transform(X)) / (2 * eps)
        np.testing.assert_allclose(jac[:, :, k], numeric, atol=1e-8)


def test_parameter_shift_agrees_with_qiskit_algorithms():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from qiskit.primitives import StatevectorEstimator
        from qiskit_algorithms.gradients import ParamShiftEstimatorGradient

    qt = EstimatorTransformer(n_layers=2, backend="statevector", random_state=4).fit(X)
    jac = parameter_shift_jacobian(qt, X[:2])
    gradient = ParamShiftEstimatorGradient(StatevectorEstimator())
    order = {p: j for j, p in enumerate(qt.input_params_ + qt.weight_params_)}
    for row, x in enumerate(X[:2]):
        values = np.concatenate([x, qt.weights_])
        bound = [values[order[p]] for p in qt.circuit_.parameters]
        for i in range(qt.n_qubits_):
            obs = SparsePauliOp("".join("Z" if q == i else "I" for q in reversed(range(3))))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = gradient.run([qt.circuit_], [obs], [bound], [qt.weight_params_]).result()
            np.testing.assert_allclose(jac[row, i], result.gradients[0], atol=1e-10)


@pytest.mark.parametrize("backend", [None, "aer"])
def test_parameter_shift_with_shots_agrees_within_shot_noise(backend):
    shots = 20_000
    exact = parameter_shift_jacobian(EstimatorTransformer(n_layers=1, random_state=1).fit(X), X)
    qt = EstimatorTransformer(n_layers=1, backend=backend, shots=shots, random_state=1).fit(X)
    sampled = parameter_shift_jacobian(qt, X)
    # Each entry is (f+ - f-) / 2 with Var(f) <= 1 / shots: std <= 1 / sqrt(2 shots).
    sigma = 1 / np.sqrt(2 * shots)
    assert np.abs(sampled - exact).max() < 5 * sigma
    assert np.abs(sampled - exact).max() > 0.01 * sigma  # the noise is real


def test_all_shifted_sets_go_in_one_primitive_call(counting_estimator, counting_sampler):
    qt = EstimatorTransformer(backend=counting_estimator, random_state=0).fit(X)
    parameter_shift_jacobian(qt, X)
    assert counting_estimator.calls == 1
    qt = SamplerTransformer(backend=counting_sampler, shots=16, random_state=0).fit(X)
    parameter_shift_jacobian(qt, X)
    assert counting_sampler.calls == 1


def test_jacobian_validates_input():
    qt = EstimatorTransformer(random_state=0).fit(X)
    with pytest.raises(ValueError, match="features"):
        parameter_shift_jacobian(qt, X[:, :2])
    with pytest.raises(ValueError, match="NaN"):
        parameter_shift_jacobian(qt, np.full((1, 3), np.nan))


def test_normalized_amplitudes_used_by_the_jacobian_reject_zero_rows():
    with pytest.raises(ValueError, match="non-zero norm"):
        normalized_amplitudes(np.zeros((1, 4)), 2)


def test_a_jacobian_that_cannot_fit_is_refused(monkeypatch):
    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", "0.5")
    qt = SamplerTransformer(n_layers=1, random_state=0).fit(np.zeros((1, 12)))
    with pytest.raises(MemoryLimitError, match=r"parameter_shift_jacobian on 200 rows \(48 "
                                               r"shifted weight sets, 4,096 outputs each at "
                                               r"n_qubits=12\) needs an estimated 600 MiB"):
        parameter_shift_jacobian(qt, np.zeros((200, 12)))
