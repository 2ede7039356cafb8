"""TailRiskEstimator's mixture_weights (issue 17): weights that follow the features, or not."""

import pickle

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.integrate import quad
from scipy.optimize import brentq
from scipy.special import expit
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

from skqegm import TailRiskEstimator
from skqegm.models._mixture1d import (
    mixture_cdf,
    mixture_logpdf,
    mixture_quantiles,
    mixture_tail_mean,
    sample_mixture,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
LATENTS = ["quantum", "categorical", "gaussian"]
FAST = dict(n_qubits=3, max_epochs=3, hidden_layer_sizes=(16,), random_state=0)


def regimes(n, seed):
    """A crash (y ~ N(-4, 1)) with probability sigmoid(-3 + 2 x_0), else y ~ N(0, 1)."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.5, 1.5, size=(n, 2))
    p = expit(-3.0 + 2.0 * X[:, 0])
    crash = rng.uniform(size=n) < p
    return X, np.where(crash, rng.normal(-4.0, 1.0, n), rng.normal(0.0, 1.0, n)), p


X_R, Y_R, _ = regimes(600, 0)


def mixture_of_row(model, X, i):
    """Row i's weights, means and scales in units of y."""
    log_weights, mean, scale = model._predictive_mixture(X)
    log_weights = log_weights[i] if log_weights.ndim == 2 else log_weights
    return np.exp(log_weights), mean[i], scale[i]


@pytest.fixture(scope="module", params=LATENTS)
def conditional(request):
    return TailRiskEstimator(latent=request.param, mixture_weights="conditional",
                             **FAST).fit(X_R, Y_R)


# -- what the option changes --------------------------------------------------------------------
@pytest.mark.parametrize("latent", ["quantum", "categorical"])
def test_conditional_weights_vary_with_the_features_and_shared_ones_do_not(latent):
    shared = TailRiskEstimator(latent=latent, mixture_weights="shared", **FAST).fit(X_R, Y_R)
    assert shared.network_.prior is None
    assert shared._predictive_mixture(X_R[:5])[0].shape == (8,)  # one set for every row
    model = clone(shared).set_params(mixture_weights="conditional").fit(X_R, Y_R)
    low, high = X_R[[np.argmin(X_R[:, 0])]], X_R[[np.argmax(X_R[:, 0])]]
    w_low, w_high = (np.exp(model._predictive_mixture(x)[0][0]) for x in (low, high))
    assert w_low.shape == (8,) and w_low.sum() == pytest.approx(1.0)
    assert np.abs(w_low - w_high).sum() > 1e-3  # the regime moves the weights
    # The prior's map of the features was trained away from its start at zero.
    assert model.network_.prior.shift.abs().sum() > 0


def test_the_twins_conditional_prior_moves_its_codes_with_the_features():
    model = TailRiskEstimator(latent="gaussian", mixture_weights="conditional",
                              **FAST).fit(X_R, Y_R)
    log_weights, mean, _ = model._predictive_mixture(X_R[:2])
    np.testing.assert_allclose(log_weights, -np.log(256))  # equally weighted draws
    prior = model.network_.prior
    with torch.no_grad():
        z = torch.zeros(1, 3)
        moved = [prior(z, torch.as_tensor(model._standardize_context(x[None]),
                                          dtype=torch.float32)) for x in X_R[:2]]
    assert not torch.allclose(*moved)


def test_shared_weights_leave_the_network_without_a_prior_and_the_sampler_unchanged():
    model = TailRiskEstimator(**FAST).set_params(mixture_weights="shared").fit(X_R, Y_R)
    assert "prior.shift" not in model.network_.state_dict()
    with pytest.raises(InvalidParameterError, match="'mixture_weights' parameter"):
        TailRiskEstimator(mixture_weights="regime").fit(X_R, Y_R)


# -- exact numerics with per-row weights ----------------------------------------------------------
def test_per_row_mixture_helpers_against_scipy():
    rng = np.random.default_rng(0)
    weights = rng.dirichlet(np.ones(4), size=3)
    mean, scale = rng.normal(size=(3, 4)), rng.uniform(0.5, 2, size=(3, 4))
    y = rng.normal(size=3)
    log_weights = np.log(weights)
    for i in range(3):
        w, m, s = weights[i], mean[i], scale[i]
        assert mixture_logpdf(y, log_weights, mean, scale)[i] == pytest.approx(
            np.log(w @ stats.norm.pdf(y[i], m, s)))
        assert mixture_cdf(y[:, None], log_weights, mean, scale)[i, 0] == pytest.approx(
            w @ stats.norm.cdf(y[i], m, s))
        q = mixture_quantiles([0.01, 0.5], log_weights, mean, scale)[i]
        for p, value in zip([0.01, 0.5], q):
            assert w @ stats.norm.cdf(value, m, s) == pytest.approx(p, abs=1e-10)
        partial = quad(lambda t: t * (w @ stats.norm.pdf(t, m, s)), -np.inf, y[i])[0]
        assert mixture_tail_mean(y, log_weights, mean, scale)[i] == pytest.approx(partial,
                                                                                  rel=1e-6)
    draws = sample_mixture(20000, log_weights, mean, scale, np.random.RandomState(0))
    for i in range(3):
        cdf = lambda t: stats.norm.cdf(t[:, None], mean[i], scale[i]) @ weights[i]  # noqa: E731
        assert stats.kstest(draws[i], cdf).pvalue > 1e-3


def test_conditional_predictions_are_exact_functions_of_each_rows_mixture(conditional):
    X = X_R[:3]
    var, es = conditional.predict_var(X, 0.975), conditional.predict_es(X, 0.975)
    proba = conditional.predict_tail_proba(X)
    for i in range(3):
        w, m, s = mixture_of_row(conditional, X, i)
        root = brentq(lambda t: w @ stats.norm.cdf(t, m, s) - 0.025, -100, 100, xtol=1e-13)
        assert -var[i] == pytest.approx(root, abs=1e-9)
        partial = quad(lambda t: t * (w @ stats.norm.pdf(t, m, s)), -np.inf, -var[i])[0]
        assert es[i] == pytest.approx(-partial / 0.025, rel=1e-6)
        threshold = conditional.tail_threshold_[0, 0]
        assert proba[i] == pytest.approx(w @ stats.norm.cdf(threshold, m, s))


def test_a_rows_prediction_does_not_depend_on_the_rows_beside_it(conditional):
    alone = conditional.predict_quantiles(X_R[:4], [0.01, 0.5])
    beside = conditional.predict_quantiles(X_R[:300], [0.01, 0.5])[:4]
    np.testing.assert_allclose(alone, beside, rtol=1e-12, atol=1e-12)


# -- scikit-learn fit -------------------------------------------------------------------------
def test_conditional_models_round_trip_and_clone(conditional):
    expected = conditional.predict_interval(X_R[:20])
    loaded = pickle.loads(pickle.dumps(conditional))
    np.testing.assert_array_equal(loaded.predict_interval(X_R[:20]), expected)
    np.testing.assert_array_equal(clone(conditional).fit(X_R, Y_R).predict_interval(X_R[:20]),
                                  expected)
    draws = conditional.sample_y(X_R[:3], 50, random_state=1)
    np.testing.assert_array_equal(loaded.sample_y(X_R[:3], 50, random_state=1), draws)


def test_a_model_saved_before_the_option_loads_with_shared_weights():
    model = TailRiskEstimator(**FAST).set_params(mixture_weights="shared").fit(X_R, Y_R)
    state = model.__getstate__()
    del state["mixture_weights"]  # as 0.2.0.dev0 saved it
    loaded = TailRiskEstimator.__new__(TailRiskEstimator)
    loaded.__setstate__(state)
    assert loaded.get_params()["mixture_weights"] == "shared"
    np.testing.assert_array_equal(loaded.predict_var(X_R[:5]), model.predict_var(X_R[:5]))


# -- recovering a known regime probability --------------------------------------------------
@pytest.mark.slow
def test_conditional_quantum_weights_recover_the_crash_probability():
    X, y, _ = regimes(2500, 1)
    model = TailRiskEstimator(mixture_weights="conditional", max_epochs=100,
                              random_state=0).fit(X, y)
    X_test, _, p = regimes(5000, 2)
    t = model.tail_threshold_[0, 0]
    truth = p * stats.norm.cdf(t, -4.0) + (1 - p) * stats.norm.cdf(t)
    proba = model.predict_tail_proba(X_test)
    # Measured on seeds 0-2: correlation 0.965-0.979, relative error 0.18-0.25; the
    # constant forecast (the mean) has a relative error of 0.97.
    assert np.corrcoef(proba, truth)[0, 1] > 0.9
    assert np.mean(np.abs(proba - truth)) < 0.4 * np.mean(truth)


def test_conditional_fit_on_a_qiskit_backend_uses_exactly_its_estimated_shots():
    # The fitted density runs no circuit (its weights are computed per predicted row),
    # and the fit's divergence check reads the decoder only.
    model = TailRiskEstimator(mixture_weights="conditional", n_qubits=2, n_layers=1,
                              backend="aer", shots=64, max_epochs=2, batch_size=100,
                              early_stopping=False, hidden_layer_sizes=(8,), random_state=0)
    cost = model.estimate_cost(X_R[:300])
    runtime = model.fit(X_R[:300], Y_R[:300]).provenance_["runtime"]
    assert (runtime["shots_used"], runtime["n_jobs"]) == (cost["shots"], cost["jobs"])
    var = model.predict_var(X_R[:3])
    np.testing.assert_array_equal(model.predict_var(X_R[:3]), var)  # seeded shots
