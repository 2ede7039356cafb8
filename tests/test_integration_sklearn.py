"""skqegm inside scikit-learn's meta-estimators, searches and inspection tools.

Not repeated here: the MAPIE split-conformal wrapper, ``cross_val_predict`` /
``cross_val_score`` and successive halving over ``tail_fraction`` (test_ecosystem.py),
metadata routing of scorer weights (test_scorer_weights.py), pickle / joblib / skops of
each estimator (test_persistence.py).
"""

import numpy as np
import pytest
import sklearn
from scipy.stats import loguniform, randint
from sklearn.base import clone
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.frozen import FrozenEstimator
from sklearn.inspection import permutation_importance
from sklearn.model_selection import (
    GridSearchCV,
    HalvingGridSearchCV,
    RandomizedSearchCV,
    TimeSeriesSplit,
)
from sklearn.multioutput import MultiOutputRegressor
from sklearn.preprocessing import StandardScaler
from sklearn.utils import estimator_html_repr
from sklearn.utils.estimator_checks import check_estimator

from skqegm import QEGMSampler, TailRiskEstimator
from skqegm.metrics import (
    RISK_SCORERS,
    SCORERS,
    neg_fz0_loss_scorer,
    neg_pinball_loss_scorer,
)
from skqegm.pipeline import make_pipeline
from skqegm.preprocessing import SigmaThresholdLabeler

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
FAST = dict(max_epochs=3, hidden_layer_sizes=(8,), random_state=0, latent="gaussian")


def signal_noise_and_a_useless_column(n=400, seed=0):
    """y = 2 x0 + t_4 noise; x1 is not used."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    return X, 2 * X[:, 0] + rng.standard_t(4, size=n)


def test_a_frozen_model_is_scored_as_the_model_on_its_own_side():
    X, y = signal_noise_and_a_useless_column(150)
    model = TailRiskEstimator(side="upper", **FAST).fit(X, y)
    frozen = FrozenEstimator(model)
    for scorer in (neg_fz0_loss_scorer, neg_pinball_loss_scorer, *SCORERS.values()):
        assert scorer(frozen, X, y) == scorer(model, X, y)
    # The scorers follow the wrapped model's side: the upper tail, not the default lower.
    lower = TailRiskEstimator(side="lower", **FAST).fit(X, y)
    assert neg_pinball_loss_scorer(frozen, X, y) != neg_pinball_loss_scorer(lower, X, y)
    assert clone(frozen).estimator is model  # frozen: clone keeps the fitted model


def test_transformed_target_regressor_predicts_the_median_in_the_units_of_y():
    X, y = signal_noise_and_a_useless_column()
    wrapped = TransformedTargetRegressor(TailRiskEstimator(**FAST),
                                         transformer=StandardScaler()).fit(X, y)
    scaler = wrapped.transformer_
    z = (y - scaler.mean_[0]) / scaler.scale_[0]
    by_hand = TailRiskEstimator(**FAST).fit(X, z).predict(X) * scaler.scale_[0] + scaler.mean_[0]
    np.testing.assert_allclose(wrapped.predict(X), by_hand, rtol=1e-6)
    # The wrapper hides the tail API: the risk scorers say so, never score its median.
    with pytest.raises(TypeError, match="predict_var"):
        neg_pinball_loss_scorer(wrapped, X, y)


def test_multi_output_regressor_fits_one_independent_model_per_target():
    X, y = signal_noise_and_a_useless_column(300)
    Y = np.column_stack([y, -3 * y])
    multi = MultiOutputRegressor(TailRiskEstimator(**FAST)).fit(X, Y)
    for j in range(2):
        alone = TailRiskEstimator(**FAST).fit(X, Y[:, j])
        np.testing.assert_allclose(multi.predict(X)[:, j], alone.predict(X))
        np.testing.assert_allclose(multi.estimators_[j].predict_var(X), alone.predict_var(X))


def test_permutation_importance_with_risk_scorers_finds_the_signal_column():
    X, y = signal_noise_and_a_useless_column(600)
    model = TailRiskEstimator(max_epochs=20, hidden_layer_sizes=(16,), random_state=0,
                              latent="gaussian").fit(X, y)
    result = permutation_importance(model, X, y, scoring=RISK_SCORERS, n_repeats=3,
                                    random_state=0)
    for name in RISK_SCORERS:
        signal, useless = result[name].importances_mean
        assert signal > 0.003 and signal > 10 * abs(useless), (name, signal, useless)


def test_searches_in_two_processes_score_as_in_one():
    X, y = signal_noise_and_a_useless_column(300)
    grid = {"tail_fraction": [0.025, 0.1], "hidden_layer_sizes": [(4,), (8,)]}
    results = []
    for n_jobs in (1, 2):
        search = GridSearchCV(TailRiskEstimator(**FAST), grid, scoring=RISK_SCORERS,
                              refit="neg_fz0_loss", cv=TimeSeriesSplit(2), n_jobs=n_jobs,
                              return_train_score=True).fit(X, y)
        results.append(search.cv_results_)
    for key in ("mean_test_neg_fz0_loss", "mean_train_neg_pinball_loss"):
        np.testing.assert_array_equal(results[0][key], results[1][key])
        assert np.all(np.isfinite(results[0][key]))
        assert len(np.unique(results[0][key])) == 4  # the candidates differ
    best = np.argmax(results[0]["mean_test_neg_fz0_loss"])
    assert search.best_index_ == best
    np.testing.assert_allclose(search.predict_var(X) if hasattr(search, "predict_var")
                               else search.best_estimator_.predict_var(X),
                               clone(search.best_estimator_).fit(X, y).predict_var(X))


def test_randomized_search_takes_scipy_distributions_and_numpy_numbers():
    X, y = signal_noise_and_a_useless_column(300)
    space = {"learning_rate": loguniform(1e-3, 1e-2), "max_epochs": randint(2, 4),
             "n_qubits": randint(2, 4), "random_state": randint(0, 10)}
    search = RandomizedSearchCV(TailRiskEstimator(hidden_layer_sizes=(8,), latent="gaussian"),
                                space, n_iter=3, scoring=neg_pinball_loss_scorer, cv=2,
                                random_state=0, error_score="raise").fit(X, y)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert isinstance(search.best_params_["max_epochs"], (int, np.integer))


def test_successive_halving_over_epochs():
    X, y = signal_noise_and_a_useless_column(300)
    model = TailRiskEstimator(early_stopping=False, **FAST)
    search = HalvingGridSearchCV(model, {"hidden_layer_sizes": [(4,), (8,), (16,), (32,)]},
                                 resource="max_epochs", min_resources=2, max_resources=8,
                                 factor=2, cv=2, scoring=neg_pinball_loss_scorer,
                                 error_score="raise").fit(X, y)
    assert list(search.cv_results_["n_resources"]) == [2, 2, 2, 2, 4, 4, 8]
    assert search.best_estimator_.max_epochs == 8
    assert search.best_estimator_.n_iter_ == 8


def test_check_estimator_on_pipelines_of_skqegm_steps():
    # Only the two checks that scikit-learn's own Pipeline fails (its steps are replaced
    # by fitted clones) fail; the rest pass through skqegm's Pipeline and our steps.
    expected = {"check_estimators_overwrite_params", "check_dont_overwrite_parameters"}
    for pipe in (make_pipeline(StandardScaler(), TailRiskEstimator(**FAST)),
                 make_pipeline(StandardScaler(), SigmaThresholdLabeler())):
        results = check_estimator(pipe, on_fail=None)
        failed = {r["check_name"] for r in results if r["status"] == "failed"}
        assert failed == expected, failed
        assert sum(r["status"] == "passed" for r in results) > 35


def test_repr_and_html_repr_show_changed_parameters_of_nested_models():
    model = TailRiskEstimator(hidden_layer_sizes=(8,), coverage=0.8, latent="gaussian")
    assert repr(model) == ("TailRiskEstimator(coverage=0.8, hidden_layer_sizes=(8,), "
                           "latent='gaussian')")
    ct = ColumnTransformer([("scaled", StandardScaler(), [0])])
    html = estimator_html_repr(make_pipeline(ct, model))
    assert "TailRiskEstimator" in html and "coverage" in html and "ColumnTransformer" in html
    assert "QEGMSampler(n_qubits=3)" == repr(QEGMSampler(n_qubits=3))


def test_skops_round_trip_of_a_column_transformer_pipeline():
    sio = pytest.importorskip("skops.io")
    X, y = signal_noise_and_a_useless_column(200)
    ct = ColumnTransformer([("scaled", StandardScaler(), [0, 1])])
    pipe = make_pipeline(ct, TailRiskEstimator(**FAST)).fit(X, y)
    data = sio.dumps(pipe)
    untrusted = sio.get_untrusted_types(data=data)
    assert set(untrusted) == {"skqegm.models.tail_risk.TailRiskEstimator",
                              "skqegm.pipeline.Pipeline"}
    loaded = sio.loads(data, trusted=untrusted)
    np.testing.assert_array_equal(loaded.predict_var(X), pipe.predict_var(X))
    np.testing.assert_array_equal(loaded.predict_interval(X), pipe.predict_interval(X))


def test_routed_fit_weights_reach_the_steps_that_request_them_and_no_other():
    X, y = signal_noise_and_a_useless_column(300)
    w = np.r_[np.zeros(150), np.ones(150)]
    with sklearn.config_context(enable_metadata_routing=True):
        scaler = StandardScaler().set_fit_request(sample_weight=True)
        pipe = make_pipeline(scaler, TailRiskEstimator(**FAST)).fit(X, y, sample_weight=w)
        np.testing.assert_allclose(pipe[0].mean_, X[150:].mean(axis=0))
        Z = pipe[0].transform(X)
        by_hand = TailRiskEstimator(**FAST).fit(Z, y)
        np.testing.assert_array_equal(pipe.predict_var(X), by_hand.predict_var(Z))
        # The model takes no weights: weights that only it could take are refused.
        ignored = make_pipeline(StandardScaler().set_fit_request(sample_weight=False),
                                TailRiskEstimator(**FAST))
        with pytest.raises(TypeError, match="not routed to any object"):
            ignored.fit(X, y, sample_weight=w)


def test_skops_round_trip_of_a_fitted_search_with_skqegm_scorers():
    sio = pytest.importorskip("skops.io")
    X = np.random.default_rng(0).standard_t(4, size=(200, 2))
    search = GridSearchCV(QEGMSampler(**FAST), {"noise_scale": [0.1, 0.3]}, scoring=SCORERS,
                          refit="neg_tail_kl", cv=2).fit(X)
    data = sio.dumps(search)
    loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    assert loaded.score(X) == search.score(X)
    np.testing.assert_array_equal(loaded.best_estimator_.score_samples(X),
                                  search.best_estimator_.score_samples(X))
