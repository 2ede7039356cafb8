"""The controls of issue 20: ``entanglement=None`` (a circuit without entanglement) and
``latent="categorical"`` (a discrete latent without a circuit)."""

import pickle

import numpy as np
import pytest
import torch
from qiskit.quantum_info import Statevector
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

from skqegm import QEGMSampler, TailRiskEstimator
from skqegm.datasets import make_tail_mixture
from skqegm.quantum import (
    EstimatorTransformer,
    SamplerTransformer,
    StatevectorSimulator,
    hardware_efficient_ansatz,
    variational_circuit,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
FAST = dict(n_qubits=3, max_epochs=3, hidden_layer_sizes=(8,), random_state=0)
X_MIX = make_tail_mixture(300, random_state=0)[0]
RNG = np.random.default_rng(0)
ANGLES = RNG.uniform(0, 3, size=(5, 3))
# Recorded on main before the controls existed (random_state=1, n_layers=2): the default
# circuits must give the same numbers.
MAIN_PROBABILITIES = [0.02176089546960708, 0.42984297661817894, 0.00177175612018486,
                      0.2118081331730865, 0.09336276645752273, 0.00400670883627287,
                      0.18811585294984656, 0.0493309103753003]
MAIN_EXPVAL = [-0.38997745800567735, 0.09794669476316337, 0.33036752276211495]
MAIN_SCORES = [-2.186001549571368, -2.354969361020972, -2.117073096649035,
               -2.88031023697323]


# -- entanglement ---------------------------------------------------------------------------
def test_no_entanglement_drops_every_cnot_of_the_ansatz():
    assert "cx" not in hardware_efficient_ansatz(4, 3, entanglement=None).count_ops()
    assert "cx" not in variational_circuit(4, 3, entanglement=None)[0].count_ops()
    # The amplitude encoding keeps the CNOTs that prepare its input state.
    encoder_cx = variational_circuit(8, 1, "amplitude", None)[0].count_ops()["cx"]
    linear_cx = variational_circuit(8, 1, "amplitude")[0].count_ops()["cx"]
    assert linear_cx - encoder_cx == 2
    with pytest.raises(ValueError, match="entanglement must be 'linear' or None"):
        hardware_efficient_ansatz(2, 1, entanglement="full")


@pytest.mark.parametrize("n_qubits", [3, 7, 11])  # numpy, Kronecker and gate-by-gate paths
def test_simulator_without_entanglement_matches_qiskit(n_qubits):
    rng = np.random.default_rng(n_qubits)
    x, weights = rng.uniform(0, 3, size=(2, n_qubits)), rng.uniform(0, 6, size=4 * n_qubits)
    sim = StatevectorSimulator(n_qubits, 2, dtype=torch.complex128, entanglement=None)
    qc, inputs, params = variational_circuit(n_qubits, 2, entanglement=None)
    probs = sim.probabilities(torch.as_tensor(x), torch.as_tensor(weights)).numpy()
    for row, p in zip(x, probs):
        bound = qc.assign_parameters(dict(zip(inputs + params, [*row, *weights])))
        np.testing.assert_allclose(p, Statevector(bound).probabilities(), atol=1e-6)


def _max_factorisation_error(probs, n_qubits):
    """Largest gap between a Born distribution and the product of its bits' marginals."""
    # Axis j of the reshaped table is bit n-1-j (qubit 0 is the least significant bit).
    table = probs.reshape((2,) * n_qubits)
    product = np.ones(())
    for axis in range(n_qubits):
        other = tuple(a for a in range(n_qubits) if a != axis)
        product = np.multiply.outer(product, table.sum(axis=other))
    return np.abs(table - product).max()


def test_born_distribution_without_entanglement_is_a_product_of_bits():
    plain = SamplerTransformer(n_layers=2, random_state=1, entanglement=None).fit(ANGLES)
    chained = SamplerTransformer(n_layers=2, random_state=1).fit(ANGLES)
    assert max(_max_factorisation_error(p, 3) for p in plain.transform(ANGLES)) < 1e-12
    assert max(_max_factorisation_error(p, 3) for p in chained.transform(ANGLES)) > 1e-2


def test_transformers_without_entanglement_agree_across_backends_and_pickles():
    exact = EstimatorTransformer(n_layers=2, random_state=0, entanglement=None).fit(ANGLES)
    qiskit = clone(exact).set_params(backend="statevector").fit(ANGLES)
    np.testing.assert_allclose(qiskit.transform(ANGLES), exact.transform(ANGLES), atol=1e-6)
    assert "cx" not in qiskit.circuit_.count_ops()
    loaded = pickle.loads(pickle.dumps(exact))
    assert "cx" not in loaded.circuit_.count_ops()
    np.testing.assert_array_equal(loaded.transform(ANGLES), exact.transform(ANGLES))
    with pytest.raises(InvalidParameterError, match="entanglement"):
        EstimatorTransformer(entanglement="full").fit(ANGLES)


def test_default_entanglement_leaves_results_unchanged():
    rng = np.random.default_rng(0)
    X, Z = rng.standard_normal((200, 2)), rng.uniform(0, 3, (5, 3))
    p = SamplerTransformer(n_layers=2, random_state=1).fit(Z).transform(Z)
    e = EstimatorTransformer(n_layers=2, random_state=1).fit(Z).transform(Z)
    np.testing.assert_allclose(p[0], MAIN_PROBABILITIES, rtol=1e-12)
    np.testing.assert_allclose(e[0], MAIN_EXPVAL, rtol=1e-12)
    model = QEGMSampler(n_qubits=3, n_layers=2, hidden_layer_sizes=(8,), max_epochs=3,
                        random_state=0).fit(X)
    np.testing.assert_allclose(model.score_samples(X[:4]), MAIN_SCORES, rtol=1e-6)


def test_models_pass_entanglement_to_their_circuit():
    model = QEGMSampler(entanglement=None, **FAST).fit(X_MIX)
    assert "cx" not in model.quantum_layer_.circuit_.count_ops()
    assert model.provenance_["entanglement"] is None
    with torch.no_grad():
        probs = model.network_.latent.weights(torch.randn(4, 3)).double().numpy()
    assert max(_max_factorisation_error(p, 3) for p in probs) < 1e-6
    risk = TailRiskEstimator(entanglement=None, **FAST).fit(RNG.uniform(size=(300, 1)),
                                                            X_MIX[:, 0])
    assert "cx" not in risk.quantum_layer_.circuit_.count_ops()
    with pytest.raises(InvalidParameterError, match="entanglement"):
        QEGMSampler(entanglement="full").fit(X_MIX)


# -- the categorical latent -----------------------------------------------------------------
def test_categorical_latent_fits_samples_and_scores_without_a_circuit():
    model = QEGMSampler(latent="categorical", **FAST).fit(X_MIX)
    assert model.quantum_layer_ is None
    assert model.provenance_["latent"] == "categorical"
    assert tuple(model.network_.latent.code_table.shape) == (8, 3)
    # Like the Born probabilities, the weights follow z (the encoder's output).
    with torch.no_grad():
        weights = model.network_.latent.weights(torch.randn(2, 3))
    assert not torch.allclose(weights[0], weights[1])
    scores = model.score_samples(X_MIX[:20])
    assert np.isfinite(scores).all() and np.isfinite(model.score(X_MIX))
    draws = model.sample(500, random_state=0)
    assert draws.shape == (500, 1) and np.isfinite(draws).all()
    again = clone(model).fit(X_MIX)  # random_state fixes the fit and the draws
    np.testing.assert_array_equal(again.score_samples(X_MIX[:20]), scores)
    np.testing.assert_array_equal(again.sample(500, random_state=0), draws)


def test_categorical_latent_needs_no_backend_and_submits_no_circuit():
    model = QEGMSampler(latent="categorical", backend="aer", max_epochs=2, batch_size=50)
    cost = model.estimate_cost(X_MIX)
    assert (cost["circuits"], cost["jobs"], cost["shots"]) == (0, 0, 0)


def test_categorical_tail_risk_estimator_predicts():
    X = RNG.uniform(-1, 1, size=(300, 2))
    y = np.exp(X[:, 0]) * RNG.standard_t(4, size=300)
    model = TailRiskEstimator(latent="categorical", **FAST).fit(X, y)
    proba = model.predict_tail_proba(X[:10])
    assert proba.shape == (10,) and ((proba >= 0) & (proba <= 1)).all()
    assert np.isfinite(model.predict(X[:10])).all() and np.isfinite(model.score(X, y))
    assert model.network_.latent.n_codes == 8
