"""MAPIE 1.x conformal wrappers around TailRiskEstimator and its pipelines.

The split-conformal wrapper of a prefit model is in test_ecosystem.py; here the wrappers
that refit the model (cross-conformal, jackknife+-after-bootstrap) and MAPIE's refusal of
conformalized quantile regression, which needs a quantile loss the model does not have.
"""

import numpy as np
import pytest

from skqegm import TailRiskEstimator
from skqegm.metrics import interval_coverage
from skqegm.preprocessing import make_tail_pipeline

mapie = pytest.importorskip("mapie.regression")
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def heteroscedastic(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, 2))
    return X, 2 * X[:, 0] + np.exp(0.5 * X[:, 1]) * rng.standard_t(4, size=n)


def model():
    return make_tail_pipeline(TailRiskEstimator(max_epochs=6, hidden_layer_sizes=(16,),
                                                random_state=0, latent="gaussian"))


# MAPIE's jackknife+-after-bootstrap divides by zero for a training row that is in every
# bootstrap sample (no out-of-bag model), and leaves that row out of the calibration.
@pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")
@pytest.mark.parametrize("wrapper", ["CrossConformalRegressor",
                                     "JackknifeAfterBootstrapRegressor"])
def test_refitting_conformal_wrappers_calibrate_the_median(wrapper):
    X, y = heteroscedastic(1600)
    options = {"cv": 3} if wrapper == "CrossConformalRegressor" else {"resampling": 3}
    conformal = getattr(mapie, wrapper)(model(), confidence_level=0.9, random_state=0,
                                        **options)
    conformal.fit_conformalize(X[:800], y[:800])
    _, intervals = conformal.predict_interval(X[800:])
    assert intervals.shape == (800, 2, 1)
    coverage = interval_coverage(y[800:], intervals[:, :, 0])
    assert abs(coverage - 0.9) < 0.04, coverage


def test_conformalized_quantile_regression_refuses_the_model_clearly():
    X, y = heteroscedastic(200)
    cqr = mapie.ConformalizedQuantileRegressor(
        TailRiskEstimator(max_epochs=2, hidden_layer_sizes=(8,), random_state=0),
        confidence_level=0.9)
    with pytest.raises(ValueError, match="base model is not supported"):
        cqr.fit(X, y)
