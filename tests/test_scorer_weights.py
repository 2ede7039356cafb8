"""Row weights in the scorers: called directly, and routed by scikit-learn's metadata
routing to each fold in ``cross_validate`` and ``GridSearchCV``."""

import pickle
import warnings

import joblib
import numpy as np
import pytest
import sklearn
from scipy.stats import norm
from sklearn.base import BaseEstimator
from sklearn.exceptions import UnsetMetadataPassedError
from sklearn.metrics import get_scorer, mean_squared_error
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV, KFold, TimeSeriesSplit, cross_validate
from sklearn.neighbors import KernelDensity
from sklearn.utils.validation import check_is_fitted, validate_data

from skqegm.baselines import HistoricalSimulation
from skqegm.datasets import make_tail_mixture
from skqegm.metrics import (
    RISK_SCORERS,
    SCORERS,
    fz0_loss,
    make_coverage_scorer,
    make_fz0_scorer,
    make_pinball_scorer,
    make_rare_event_precision_scorer,
    make_rare_event_recall_scorer,
    make_tail_kl_scorer,
    neg_fz0_loss_scorer,
    neg_pinball_loss_scorer,
    neg_tail_kl_scorer,
    rare_event_recall_scorer,
    tail_kl_divergence,
)

ROUTING = {"enable_metadata_routing": True}


class LinearTail(BaseEstimator):
    """Deterministic supervised tail estimator: y | x ~ N(a x + b, s^2); rare is y below
    the training y's 10% quantile. It has ``predict`` too, for scikit-learn's scorers."""

    def fit(self, X, y):
        X, y = validate_data(self, X, y)
        design = np.column_stack([X, np.ones(len(X))])
        self.coef_ = np.linalg.lstsq(design, y, rcond=None)[0]
        self.sigma_ = np.std(y - design @ self.coef_)
        self.threshold_ = np.quantile(y, 0.1)
        return self

    def predict(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return X @ self.coef_[:-1] + self.coef_[-1]

    def sample_y(self, X, n_draws=1, random_state=None):
        noise = np.random.default_rng(random_state).standard_normal((len(X), n_draws))
        return self.predict(X)[:, None] + self.sigma_ * noise

    def predict_rare(self, X):
        return (norm.cdf(self.threshold_, self.predict(X), self.sigma_) > 0.3).astype(int)

    def rare_events(self, y):
        return (np.asarray(y) < self.threshold_).astype(int)

    def predict_interval(self, X, coverage):
        half = norm.ppf((1 + coverage) / 2) * self.sigma_
        return np.column_stack([self.predict(X) - half, self.predict(X) + half])


class WeightedFitLinearTail(LinearTail):
    """Without routing, a search passes ``sample_weight`` to ``fit`` too."""

    def fit(self, X, y, sample_weight=None):
        return super().fit(X, y)


class RowRisk(BaseEstimator):
    """VaR and ES of each row from that row alone: a repeated row repeats its forecasts
    (HistoricalSimulation's roll over the rows given)."""

    def fit(self, X, y):
        self.scale_ = float(np.std(y))
        return self

    def predict_var(self, X, level=0.99):
        check_is_fitted(self)
        return norm.ppf(level) * (self.scale_ + np.abs(np.asarray(X)[:, 0]))

    def predict_es(self, X, level=0.99):
        return 1.2 * self.predict_var(X, level)


def _returns(n=1200, seed=0):
    y = np.random.default_rng(seed).standard_t(4, size=n) / 100
    return np.r_[0.0, y[:-1]][:, None], y


def _regression(n=1200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2))
    return X, X @ [1.0, -0.5] + 0.7 * rng.standard_normal(n)


def _weights(n, seed=1):
    # Recent rows count more, with some rows left out (weight 0).
    w = np.linspace(0.2, 2.0, n) * np.random.default_rng(seed).integers(0, 4, n)
    w[-1] = 1.0
    return w


def _weighted_share(inside, w):
    return np.sum(w * inside) / np.sum(w)


# --- called directly ---------------------------------------------------------------------


@pytest.mark.parametrize("scorer", [make_fz0_scorer(0.99), neg_fz0_loss_scorer])
def test_weighted_fz0_scorer_is_the_weighted_mean_loss_by_hand(scorer):
    X, y = _returns(900)
    model = HistoricalSimulation(window=250).fit(X[:600], y[:600])
    X_te, y_te, w = X[600:], y[600:], _weights(300)
    level = scorer.params["level"] if hasattr(scorer, "params") else 0.975
    var, es = model.predict_var(X_te, level), model.predict_es(X_te, level)
    losses = fz0_loss(y_te, var, es, level, reduce=False)
    expected = -np.sum(w * losses) / np.sum(w)
    assert scorer(model, X_te, y_te, sample_weight=w) == pytest.approx(expected, rel=1e-12)
    assert scorer(model, X_te, y_te) == pytest.approx(-losses.mean(), rel=1e-12)
    assert abs(expected + losses.mean()) > 1e-3  # the weights change the score


@pytest.mark.parametrize("scorer", [make_pinball_scorer(0.99), neg_pinball_loss_scorer])
def test_weighted_pinball_scorer_is_the_weighted_mean_loss_by_hand(scorer):
    X, y = _returns(900)
    model = HistoricalSimulation(window=250).fit(X[:600], y[:600])
    X_te, y_te, w = X[600:], y[600:], _weights(300)
    level = scorer.params["level"] if hasattr(scorer, "params") else 0.975
    quantile = -model.predict_var(X_te, level)
    alpha = 1 - level
    losses = np.where(y_te < quantile, (1 - alpha) * (quantile - y_te), alpha * (y_te - quantile))
    expected = -np.sum(w * losses) / np.sum(w)
    assert scorer(model, X_te, y_te, sample_weight=w) == pytest.approx(expected, rel=1e-12)
    assert scorer(model, X_te, y_te, sample_weight=w) != scorer(model, X_te, y_te)


def test_weighted_supervised_scorers_by_hand():
    X, y = _regression(1500)
    est = LinearTail().fit(X[:1000], y[:1000])
    X_te, y_te, w = X[1000:], y[1000:], _weights(500)
    intervals = est.predict_interval(X_te, 0.9)
    inside = (intervals[:, 0] <= y_te) & (y_te <= intervals[:, 1])
    coverage = make_coverage_scorer(0.9)
    assert coverage(est, X_te, y_te, sample_weight=w) == pytest.approx(
        -abs(_weighted_share(inside, w) - 0.9), rel=1e-12)
    assert SCORERS["neg_coverage_error"](est, X_te, y_te, sample_weight=w) == \
        coverage(est, X_te, y_te, sample_weight=w)
    true, pred = est.rare_events(y_te), est.predict_rare(X_te)
    recall = np.sum(w * true * pred) / np.sum(w * true)
    precision = np.sum(w * true * pred) / np.sum(w * pred)
    assert rare_event_recall_scorer(est, X_te, y_te, sample_weight=w) == pytest.approx(recall)
    assert make_rare_event_recall_scorer()(est, X_te, y_te, sample_weight=w) == \
        pytest.approx(recall)
    assert make_rare_event_precision_scorer()(est, X_te, y_te, sample_weight=w) == \
        pytest.approx(precision)
    assert recall != pytest.approx(np.sum(true * pred) / np.sum(true))


def test_weighted_unsupervised_coverage_by_hand():
    # Central interval: the draws set the interval, the weights weight the held-out rows.
    X, _ = _regression(1000, seed=3)
    x = X[:, :1]
    kde = KernelDensity(bandwidth=0.3).fit(x[:500])
    w = _weights(500)
    draws = kde.sample(10 * 500, random_state=0).ravel()
    lower, upper = np.quantile(draws, [0.05, 0.95])
    inside = (lower <= x[500:, 0]) & (x[500:, 0] <= upper)
    scorer = make_coverage_scorer(0.9)
    assert scorer(kde, x[500:], sample_weight=w) == pytest.approx(
        -abs(_weighted_share(inside, w) - 0.9), rel=1e-12)
    # Highest-density region of a 2-D mixture: rows whose log-density reaches the level.
    gmm = GaussianMixture(random_state=0).fit(X[:500])
    at_draws = gmm.score_samples(gmm.sample(10 * 500)[0])
    level = np.sort(at_draws)[int(np.floor(0.1 * at_draws.size))]
    inside = gmm.score_samples(X[500:]) >= level
    assert scorer(gmm, X[500:]) == pytest.approx(-abs(inside.mean() - 0.9), rel=1e-12)
    assert scorer(gmm, X[500:], sample_weight=w) == pytest.approx(
        -abs(_weighted_share(inside, w) - 0.9), rel=1e-12)


def test_integer_weights_equal_repeated_rows():
    X, y = _returns(900)
    model = RowRisk().fit(X[:600], y[:600])
    counts = np.random.default_rng(2).integers(0, 4, 300)
    counts[0] = 1
    rows = np.repeat(np.arange(600, 900), counts)
    for scorer in [neg_fz0_loss_scorer, neg_pinball_loss_scorer, make_fz0_scorer(0.99)]:
        assert scorer(model, X[600:], y[600:], sample_weight=counts) == pytest.approx(
            scorer(model, X[rows], y[rows]), rel=1e-12)
    Xs, ys = _regression(1500)
    est = LinearTail().fit(Xs[:1000], ys[:1000])
    counts = np.random.default_rng(3).integers(0, 4, 500)
    counts[0] = 1
    rows = np.repeat(np.arange(1000, 1500), counts)
    for scorer in [SCORERS["neg_coverage_error"], rare_event_recall_scorer,
                   make_rare_event_precision_scorer()]:
        assert scorer(est, Xs[1000:], ys[1000:], sample_weight=counts) == pytest.approx(
            scorer(est, Xs[rows], ys[rows]), rel=1e-12)


def test_bad_weights_are_refused_before_the_model_forecasts():
    X, y = _returns(700)

    class Counting(HistoricalSimulation):
        calls = 0

        def predict_var(self, X, level=0.99):
            Counting.calls += 1
            return super().predict_var(X, level)

    model = Counting(window=250).fit(X[:500], y[:500])
    with pytest.raises(ValueError, match=r"shape of the held-out y \(200,\)"):
        neg_pinball_loss_scorer(model, X[500:], y[500:], sample_weight=np.ones(199))
    with pytest.raises(ValueError, match="sample_weight must be >= 0"):
        make_fz0_scorer()(model, X[500:], y[500:], sample_weight=-np.ones(200))
    assert Counting.calls == 0
    kde = KernelDensity().fit(X[:500])
    with pytest.raises(ValueError, match=r"shape of the held-out X \(200,\)"):
        make_coverage_scorer(0.9)(kde, X[500:], sample_weight=np.ones(3))


# --- scorers that refuse weights ---------------------------------------------------------


def test_tail_kl_scorers_refuse_weights_and_say_why():
    X, y = _regression(1500)
    est = LinearTail().fit(X[:1000], y[:1000])
    kde = KernelDensity(bandwidth=0.3).fit(y[:1000, None])
    w = _weights(500)
    for scorer in [neg_tail_kl_scorer, make_tail_kl_scorer(n_draws=2)]:
        for model, X_te in [(est, X[1000:]), (kde, y[1000:, None])]:
            with pytest.raises(ValueError, match="neg_tail_kl_scorer cannot weight rows.*"
                                                 "tail region"):
                scorer(model, X_te, y[1000:], sample_weight=w)
    # Unweighted, nothing changes.
    draws = est.sample_y(X[1000:], 10, random_state=0).ravel()
    assert neg_tail_kl_scorer(est, X[1000:], y[1000:]) == -tail_kl_divergence(y[1000:], draws)


def _rounded_draws(n, seed):
    # Values on a 0.1 grid: ties in the data and in the models' scores at the cuts.
    return np.round(np.random.default_rng(seed).standard_t(4, (n, 1)), 1)


@pytest.mark.parametrize("maker", [make_rare_event_recall_scorer,
                                   make_rare_event_precision_scorer])
@pytest.mark.parametrize("side", ["lower", "upper", "both"])
def test_sampler_rare_event_weights_are_frequencies(maker, side):
    # The reference: integer weights score exactly as the rows repeated that many times
    # (the events' quantile, the flagged mass, the ties split at the cut), a weight of 0
    # as the row left out.
    X = _rounded_draws(400, 0)
    X_te, w = X[200:], np.random.default_rng(1).integers(0, 4, 200)
    repeated = np.repeat(X_te, w, axis=0)
    scorer = maker(side=side, tail_fraction=0.1)
    for model in [KernelDensity(bandwidth=0.4).fit(X[:200]),
                  KernelDensity(kernel="tophat", bandwidth=0.5).fit(X[:200]),
                  GaussianMixture(2, random_state=0).fit(X[:200])]:
        weighted = scorer(model, X_te, sample_weight=w)
        assert weighted == pytest.approx(scorer(model, repeated), abs=1e-12)
        assert weighted == pytest.approx(
            scorer(model, X_te[w > 0], sample_weight=w[w > 0]), abs=1e-12)
        # Equal weights of 1 are no weights, to the last bit.
        assert scorer(model, X_te, sample_weight=np.ones(200)) == scorer(model, X_te)


def test_sampler_rare_event_weights_split_a_tie_at_the_cut():
    # Held-out 0, 1, 2, 3 with weights 1, 3, 1, 1 are the rows 0, 1, 1, 1, 2, 3; their
    # 20% quantile is 1, so the one rare row is 0, of weight 1. A flat model ties every
    # row: the flag is shared by the six rows, 1/6 of it on row 0.
    flat = KernelDensity(kernel="tophat", bandwidth=10.0).fit([[0.0], [3.0]])
    scorer = make_rare_event_recall_scorer(side="lower", tail_fraction=0.2)
    held_out = np.array([[0.0], [1.0], [2.0], [3.0]])
    assert scorer(flat, held_out, sample_weight=[1, 3, 1, 1]) == pytest.approx(1 / 6)
    assert scorer(flat, [[0.0], [1.0], [1.0], [1.0], [2.0], [3.0]]) == pytest.approx(1 / 6)


def test_sampler_rare_event_weights_of_our_sampler_and_a_rarity():
    from skqegm import QEGMSampler

    X = _rounded_draws(400, 2)
    X_te, w = X[200:], np.random.default_rng(3).integers(0, 4, 200)
    model = QEGMSampler(n_qubits=2, n_layers=1, hidden_layer_sizes=(4,), max_epochs=2,
                        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_epochs reached, on purpose
        model.fit(X[:200])
    for side in ["lower", "upper", "both"]:
        scorer = make_rare_event_recall_scorer(side=side, tail_fraction=0.1)
        assert scorer(model, X_te, sample_weight=w) == pytest.approx(
            scorer(model, np.repeat(X_te, w, axis=0)), abs=1e-12)
    # Two features with a rarity callable: its quantile is weighted the same way.
    X2 = np.round(np.random.default_rng(4).standard_normal((400, 2)), 1)
    gmm = GaussianMixture(random_state=0).fit(X2[:200])
    reference = KernelDensity(bandwidth=0.5).fit(X2[:200])
    scorer = make_rare_event_precision_scorer(rarity=lambda x: -reference.score_samples(x))
    assert scorer(gmm, X2[200:], sample_weight=w) == pytest.approx(
        scorer(gmm, np.repeat(X2[200:], w, axis=0)), abs=1e-12)


def test_sampler_rare_event_weights_that_count_under_two_rows_are_refused():
    # Proportions (summing to 1) spread one row over all: both cuts fell at the smallest
    # value and nearly every row was rare.
    X = _rounded_draws(300, 0)
    kde = KernelDensity(bandwidth=0.4).fit(X[:150])
    with pytest.raises(ValueError, match="sum to .* rows, too few.*w \\* len\\(w\\)"):
        rare_event_recall_scorer(kde, X[150:], sample_weight=np.full(150, 1 / 150))
    w = np.random.default_rng(0).uniform(0, 1, 150)
    assert rare_event_recall_scorer(kde, X[150:], sample_weight=w * 150 / w.sum()) < 1


def test_sampler_rare_event_weights_with_the_default_kde_rarity_are_refused():
    # The default rarity is a KDE of the held-out rows, whose bandwidth and subsample
    # repeated rows change and no weighting reproduces: refused, with the way out.
    X2 = np.random.default_rng(4).standard_normal((400, 2))
    gmm = GaussianMixture(random_state=0).fit(X2[:200])
    for scorer in [rare_event_recall_scorer, make_rare_event_precision_scorer()]:
        with pytest.raises(ValueError, match=f"{scorer.__name__} cannot weight the rows of "
                                             "GaussianMixture.*2 features.*rarity callable"):
            scorer(gmm, X2[200:], sample_weight=np.ones(200))
        assert 0 <= scorer(gmm, X2[200:]) <= 1


def test_without_routing_a_search_ranks_samplers_by_weighted_rare_event_recall():
    # It scored every candidate NaN (the scorer said it accepts weights, then refused a
    # sampler's) and kept the first.
    X = make_tail_mixture(900, random_state=0)[0]
    w = np.random.default_rng(1).integers(1, 4, 900).astype(float)
    cv = KFold(3, shuffle=True, random_state=0)
    search = GridSearchCV(KernelDensity(), {"bandwidth": [0.05, 0.3]},
                          scoring=rare_event_recall_scorer, cv=cv,
                          error_score="raise").fit(X, sample_weight=w)
    scores = search.cv_results_["split0_test_score"]
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    train, test = next(cv.split(X))
    for k, bandwidth in enumerate([0.05, 0.3]):
        model = KernelDensity(bandwidth=bandwidth).fit(X[train], sample_weight=w[train])
        assert scores[k] == rare_event_recall_scorer(model, X[test], sample_weight=w[test])
    assert scores[0] != scores[1]


def test_tail_kl_refuses_a_request_for_weights_but_not_a_refusal():
    with sklearn.config_context(**ROUTING):
        for scorer in [neg_tail_kl_scorer, make_tail_kl_scorer()]:
            for request in [True, "recency"]:
                with pytest.raises(ValueError, match="cannot weight rows"):
                    scorer.set_score_request(sample_weight=request)
            unweighted = scorer.set_score_request(sample_weight=False)
            assert unweighted.get_metadata_routing().score.requests == {"sample_weight": False}


# --- metadata routing --------------------------------------------------------------------


def test_cross_validate_routes_each_folds_weights_to_the_scorer():
    X, y = _returns(1200)
    w = _weights(1200)
    cv = TimeSeriesSplit(3)
    for scorer in [neg_fz0_loss_scorer, make_pinball_scorer(0.99)]:
        with sklearn.config_context(**ROUTING):
            requested = scorer.set_score_request(sample_weight=True)
            result = cross_validate(HistoricalSimulation(window=100), X, y, cv=cv,
                                    scoring=requested, params={"sample_weight": w})
        by_hand = [requested(HistoricalSimulation(window=100).fit(X[train], y[train]),
                             X[test], y[test], sample_weight=w[test])
                   for train, test in cv.split(X)]
        np.testing.assert_allclose(result["test_score"], by_hand, rtol=1e-12)
        unweighted = [requested(HistoricalSimulation(window=100).fit(X[train], y[train]),
                                X[test], y[test]) for train, test in cv.split(X)]
        assert not np.allclose(result["test_score"], unweighted)


def test_grid_search_routes_weights_to_the_scorer_and_ranks_by_them():
    X, y = _returns(1200)
    w = _weights(1200)
    cv = TimeSeriesSplit(3)
    with sklearn.config_context(**ROUTING):
        scorer = make_fz0_scorer().set_score_request(sample_weight=True)
        search = GridSearchCV(HistoricalSimulation(), {"window": [50, 250]}, scoring=scorer,
                              cv=cv, error_score="raise").fit(X, y, sample_weight=w)
        for i, window in enumerate([50, 250]):
            for k, (train, test) in enumerate(cv.split(X)):
                model = HistoricalSimulation(window=window).fit(X[train], y[train])
                assert search.cv_results_[f"split{k}_test_score"][i] == pytest.approx(
                    scorer(model, X[test], y[test], sample_weight=w[test]), rel=1e-12)
        assert search.score(X, y, sample_weight=w) == pytest.approx(
            scorer(search.best_estimator_, X, y, sample_weight=w), rel=1e-12)


def test_multi_metric_scoring_mixes_skqegm_and_sklearn_scorers():
    X, y = _regression(1200)
    w = _weights(1200)
    cv = KFold(3, shuffle=True, random_state=0)
    with sklearn.config_context(**ROUTING):
        scoring = {
            "coverage": make_coverage_scorer(0.9).set_score_request(sample_weight=True),
            "recall": rare_event_recall_scorer.set_score_request(sample_weight=True),
            "kl": neg_tail_kl_scorer.set_score_request(sample_weight=False),
            "mse": get_scorer("neg_mean_squared_error").set_score_request(sample_weight=True),
        }
        result = cross_validate(LinearTail(), X, y, cv=cv, scoring=scoring,
                                params={"sample_weight": w})
        for k, (train, test) in enumerate(cv.split(X)):
            est = LinearTail().fit(X[train], y[train])
            Xt, yt, wt = X[test], y[test], w[test]
            for name in ["coverage", "recall"]:
                assert result[f"test_{name}"][k] == pytest.approx(
                    scoring[name](est, Xt, yt, sample_weight=wt), rel=1e-12)
            assert result["test_kl"][k] == neg_tail_kl_scorer(est, Xt, yt)
            assert result["test_mse"][k] == pytest.approx(
                -mean_squared_error(yt, est.predict(Xt), sample_weight=wt), rel=1e-12)
        # The tail KL scorer left unrequested: the weights are not dropped silently.
        scoring["kl"] = neg_tail_kl_scorer
        with pytest.raises(UnsetMetadataPassedError, match="neg_tail_kl_scorer"):
            cross_validate(LinearTail(), X, y, cv=cv, scoring=scoring,
                           params={"sample_weight": w})


@pytest.mark.parametrize("scorer", [neg_fz0_loss_scorer, make_fz0_scorer(),
                                    neg_pinball_loss_scorer, make_pinball_scorer()])
def test_unrequested_weights_raise_as_for_sklearns_scorers(scorer):
    X, y = _returns(600)
    w = _weights(600)
    with sklearn.config_context(**ROUTING):
        assert scorer.get_metadata_routing().score.requests == {"sample_weight": None}
        with pytest.raises(UnsetMetadataPassedError, match=r"\[sample_weight\] are passed"):
            cross_validate(HistoricalSimulation(window=100), X, y, cv=TimeSeriesSplit(2),
                           scoring=scorer, params={"sample_weight": w})
        with pytest.raises(UnsetMetadataPassedError, match=r"\[sample_weight\] are passed"):
            GridSearchCV(HistoricalSimulation(), {"window": [50, 100]}, scoring=scorer,
                         cv=TimeSeriesSplit(2)).fit(X, y, sample_weight=w)


def test_a_refused_request_consumes_nothing_and_an_alias_routes_other_names():
    X, y = _returns(1200)
    w = _weights(1200)
    cv = TimeSeriesSplit(3)
    with sklearn.config_context(**ROUTING):
        # Weights that no object consumes: scikit-learn's error, as for its own scorers.
        with pytest.raises(TypeError, match="not routed to any object"):
            cross_validate(HistoricalSimulation(window=100), X, y, cv=cv,
                           params={"sample_weight": w},
                           scoring=neg_fz0_loss_scorer.set_score_request(sample_weight=False))
        weighted = cross_validate(
            HistoricalSimulation(window=100), X, y, cv=cv,
            scoring=neg_fz0_loss_scorer.set_score_request(sample_weight=True),
            params={"sample_weight": w})["test_score"]
        aliased = cross_validate(
            HistoricalSimulation(window=100), X, y, cv=cv,
            scoring=neg_fz0_loss_scorer.set_score_request(sample_weight="recency"),
            params={"recency": w})["test_score"]
        np.testing.assert_array_equal(aliased, weighted)


def test_set_score_request_changes_a_made_scorer_and_copies_a_prebuilt_one():
    with sklearn.config_context(**ROUTING):
        made = make_pinball_scorer(0.99)
        assert made.set_score_request(sample_weight=True) is made
        assert made.get_metadata_routing().score.requests == {"sample_weight": True}
        for prebuilt in [neg_fz0_loss_scorer, rare_event_recall_scorer,
                         SCORERS["neg_coverage_error"], *RISK_SCORERS.values()]:
            copy = prebuilt.set_score_request(sample_weight=True)
            assert copy is not prebuilt
            assert copy.get_metadata_routing().score.requests == {"sample_weight": True}
            # Another user of the module sees the default request.
            assert prebuilt.get_metadata_routing().score.requests == {"sample_weight": None}
            # The copy is the user's own: a second request changes it in place.
            assert copy.set_score_request(sample_weight=False) is copy
        with pytest.raises(ValueError, match="sample_weight"):
            made.set_score_request(sample_weight=3)
    with pytest.raises(RuntimeError, match="enable_metadata_routing=True"):
        make_fz0_scorer().set_score_request(sample_weight=True)
    with pytest.raises(RuntimeError, match="enable_metadata_routing=True"):
        neg_fz0_loss_scorer.set_score_request(sample_weight=True)


def test_requested_scorers_pickle_with_their_request(tmp_path):
    X, y = _returns(1200)
    w = _weights(1200)
    model = HistoricalSimulation(window=250).fit(X[:900], y[:900])
    with sklearn.config_context(**ROUTING):
        for scorer in [neg_fz0_loss_scorer.set_score_request(sample_weight=True),
                       make_pinball_scorer(0.99).set_score_request(sample_weight="recency"),
                       SCORERS["neg_coverage_error"].set_score_request(sample_weight=True),
                       make_tail_kl_scorer().set_score_request(sample_weight=False)]:
            again = pickle.loads(pickle.dumps(scorer))
            assert again.get_metadata_routing().score.requests == \
                scorer.get_metadata_routing().score.requests
            assert repr(again) == repr(scorer)
        scorer = neg_fz0_loss_scorer.set_score_request(sample_weight=True)
        again = pickle.loads(pickle.dumps(scorer))
        assert again(model, X[900:], y[900:], sample_weight=w[900:]) == \
            scorer(model, X[900:], y[900:], sample_weight=w[900:])
        search = GridSearchCV(HistoricalSimulation(), {"window": [50, 250]}, scoring=scorer,
                              cv=TimeSeriesSplit(3)).fit(X, y, sample_weight=w)
        joblib.dump(search, tmp_path / "search.joblib")
        loaded = joblib.load(tmp_path / "search.joblib")
        assert loaded.score(X, y, sample_weight=w) == search.score(X, y, sample_weight=w)


def test_without_routing_a_search_weights_the_scorers_that_can_and_warns_for_the_others():
    # scikit-learn (without routing) forwards fit's sample_weight to each scorer that
    # accepts it, and warns for one that does not; it asked every scorer of a dict, and
    # failed on a plain function.
    X, y = _regression(1200)
    w = _weights(1200)
    cv = KFold(3, shuffle=True, random_state=0)
    scoring = {"coverage": SCORERS["neg_coverage_error"], "kl": neg_tail_kl_scorer}
    with pytest.warns(UserWarning, match="kl=.*does not support sample_weight"):
        search = GridSearchCV(WeightedFitLinearTail(), {}, scoring=scoring, refit=False,
                              cv=cv, error_score="raise").fit(X, y, sample_weight=w)
    for k, (train, test) in enumerate(cv.split(X)):
        est = LinearTail().fit(X[train], y[train])
        assert search.cv_results_[f"split{k}_test_coverage"][0] == pytest.approx(
            SCORERS["neg_coverage_error"](est, X[test], y[test], sample_weight=w[test]))
        assert search.cv_results_[f"split{k}_test_kl"][0] == \
            neg_tail_kl_scorer(est, X[test], y[test])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GridSearchCV(WeightedFitLinearTail(), {}, scoring=make_coverage_scorer(0.9),
                     cv=cv).fit(X, y, sample_weight=w)
