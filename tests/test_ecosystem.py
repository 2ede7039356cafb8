"""Where users' tools meet skqegm: MAPIE, cross-validation helpers, successive halving."""

import numpy as np
import pytest
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import (
    HalvingGridSearchCV,
    cross_val_predict,
    cross_val_score,
)

from skqegm import QEGMSampler, TailRiskEstimator
from skqegm.baselines import GPDTailSampler
from skqegm.datasets import make_tail_mixture
from skqegm.metrics import interval_coverage

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def signal_and_heteroscedastic_noise(n, seed):
    """y = 2 x0 + exp(x1 / 2) * t_4: a mean that X explains, a scale that X moves."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, 2))
    return X, 2 * X[:, 0] + np.exp(0.5 * X[:, 1]) * rng.standard_t(4, size=n)


def test_mapie_split_conformal_around_the_median_is_calibrated():
    mapie = pytest.importorskip("mapie.regression")
    X, y = signal_and_heteroscedastic_noise(6000, 0)
    model = TailRiskEstimator(max_epochs=30, random_state=0).fit(X[:2000], y[:2000])
    conformal = mapie.SplitConformalRegressor(model, confidence_level=0.9)  # prefit
    conformal.conformalize(X[2000:3000], y[2000:3000])
    point, intervals = conformal.predict_interval(X[3000:])
    # MAPIE's point forecast is the estimator's predict: the conditional median.
    np.testing.assert_allclose(point, model.predict(X[3000:]))
    coverage = interval_coverage(y[3000:], intervals[:, :, 0])
    assert abs(coverage - 0.9) < 0.03, coverage


def test_cross_validation_helpers_use_the_conditional_median():
    X, y = signal_and_heteroscedastic_noise(1500, 1)
    model = TailRiskEstimator(max_epochs=30, hidden_layer_sizes=(32,), random_state=0)
    predictions = cross_val_predict(model, X, y, cv=3, method="predict")
    assert predictions.shape == y.shape and np.all(np.isfinite(predictions))
    assert np.corrcoef(predictions, 2 * X[:, 0])[0, 1] > 0.95
    r2 = cross_val_score(model, X, y, cv=3, scoring="r2")
    assert np.all(r2 > 0.4), r2  # the mean explains about 2/3 of the variance
    log_likelihood = cross_val_score(model, X, y, cv=3)  # score: log-likelihood, not R^2
    assert np.all(np.isfinite(log_likelihood)) and np.all(log_likelihood < 0)


@pytest.mark.parametrize("model, warns", [
    (TailRiskEstimator(max_epochs=3, hidden_layer_sizes=(8,), random_state=0), "rare event"),
    (QEGMSampler(max_epochs=3, hidden_layer_sizes=(8,), random_state=0), None),
    (GPDTailSampler(), "exceedance"),
], ids=["TailRiskEstimator", "QEGMSampler", "GPDTailSampler"])
def test_successive_halving_scores_small_first_rounds(model, warns):
    # The first round fits on 40 rows: too few tail points for a reliable tail fit, which
    # the estimators say with a warning, not an error that turns scores into nan.
    X = make_tail_mixture(640, random_state=0)[0]
    y = X[:, 0] + np.random.default_rng(0).standard_t(3, size=len(X))
    grid = {"tail_fraction": [0.01, 0.02, 0.05, 0.1]}
    search = HalvingGridSearchCV(model, grid, factor=2, min_resources=40, cv=2,
                                 random_state=0, error_score="raise")
    if warns:
        with pytest.warns(UserWarning, match=warns):
            search.fit(X, y)
    else:
        search.fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert len(scores) > 4 and not np.any(np.isnan(scores)), scores
    if not isinstance(model, GPDTailSampler):
        assert np.all(np.isfinite(scores)), scores
    # A GPD tail fitted with a negative shape is bounded: a held-out point beyond its end
    # point has density 0, and the candidate scores -inf, ranked last, as it deserves.


def test_a_sklearn_pipeline_hiding_the_tail_api_is_named_with_the_remedy():
    # "needs an estimator with predict_var(X, level); Pipeline has none" did not say that
    # the last step has it and that skqegm's Pipeline (same class name) would expose it.
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skqegm.baselines import HistoricalSimulation
    from skqegm.metrics import neg_fz0_loss_scorer, neg_pinball_loss_scorer
    from skqegm.model_selection import walk_forward

    r = np.random.default_rng(0).standard_t(4, size=400) / 100
    X, y = r[:-1, None], r[1:]
    hint = "build it with skqegm.pipeline.make_pipeline"
    pipe = make_pipeline(HistoricalSimulation(window=50)).fit(X, y)
    for scorer in (neg_fz0_loss_scorer, neg_pinball_loss_scorer):
        with pytest.raises(TypeError, match=hint):
            scorer(pipe, X, y)
    with pytest.raises(TypeError, match=hint):
        walk_forward(pipe, X, y, start=300)
    # No hint where the last step lacks the methods too.
    plain = make_pipeline(StandardScaler(), GPDTailSampler()).fit(X)
    with pytest.raises(TypeError) as info:
        neg_pinball_loss_scorer(plain, X, y)
    assert hint not in str(info.value)
