import numpy as np
import pytest
from scipy.stats import norm
from sklearn.base import BaseEstimator
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.neighbors import KernelDensity
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from skqegm.datasets import make_tail_mixture
from skqegm.metrics import (
    SCORERS,
    make_coverage_scorer,
    make_rare_event_recall_scorer,
    make_tail_kl_scorer,
    neg_tail_kl_scorer,
    rare_event_recall_scorer,
    tail_kl_divergence,
)


class GaussianConditionalTail(BaseEstimator):
    """Toy supervised tail estimator: y | x ~ N(a x + b, (noise_scale * s)^2)."""

    def __init__(self, noise_scale=1.0, tail=0.05, alert=0.3):
        self.noise_scale = noise_scale
        self.tail = tail
        self.alert = alert

    def fit(self, X, y):
        X, y = validate_data(self, X, y)
        design = np.column_stack([X, np.ones(len(X))])
        self.coef_ = np.linalg.lstsq(design, y, rcond=None)[0]
        self.sigma_ = self.noise_scale * np.std(y - design @ self.coef_)
        self.tail_threshold_ = np.quantile(y, self.tail)
        return self

    def _mean(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return X @ self.coef_[:-1] + self.coef_[-1]

    def sample_y(self, X, n_draws=1, random_state=None):
        mean = self._mean(X)
        noise = check_random_state(random_state).standard_normal((len(mean), n_draws))
        return mean[:, None] + self.sigma_ * noise

    def predict(self, X):
        p_rare = norm.cdf(self.tail_threshold_, self._mean(X), self.sigma_)
        return (p_rare > self.alert).astype(int)

    def predict_interval(self, X, coverage):
        half = norm.ppf((1 + coverage) / 2) * self.sigma_
        mean = self._mean(X)
        return np.column_stack([mean - half, mean + half])


def _regression_data(n=3000, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n, 2))
    y = X @ [1.0, -0.5] + 0.7 * rng.standard_normal(n)
    return X, y


class FixedSampler:
    """Returns preset draws; its sample has no random_state parameter."""

    def __init__(self, draws, scores=None):
        self.draws = np.asarray(draws, dtype=float)
        self.scores = scores
        self.calls = []

    def sample(self, n_samples):
        self.calls.append(n_samples)
        return np.resize(self.draws, (n_samples,) + self.draws.shape[1:])

    def score_samples(self, X):
        return np.asarray(self.scores, dtype=float)


# --- GridSearchCV -----------------------------------------------------------------------


def test_grid_search_over_kernel_density_with_all_scorers():
    X, _ = make_tail_mixture(6000, random_state=0)
    search = GridSearchCV(KernelDensity(), {"bandwidth": [0.02, 0.3, 3.0]}, scoring=SCORERS,
                          refit="neg_tail_kl", cv=KFold(3, shuffle=True, random_state=0),
                          error_score="raise")
    search.fit(X)
    results = search.cv_results_
    for name in SCORERS:
        assert np.all(np.isfinite(results[f"mean_test_{name}"]))
    kl = results["mean_test_neg_tail_kl"]
    assert search.best_params_ == {"bandwidth": 0.3}
    assert kl[1] > kl[2] + 0.3  # over-smoothing distorts the tails
    coverage = results["mean_test_neg_coverage_error"]
    assert coverage[1] > -0.02 and coverage[2] < -0.05
    recall = results["mean_test_rare_event_recall"]
    assert np.all((recall > 0) & (recall <= 1))
    # Documented caveat: a unimodal, over-smoothed density ranks points by distance from
    # the centre, which is what the quantile definition of "rare" rewards.
    assert recall[2] > recall[1]
    assert callable(search.best_estimator_.sample)


def test_grid_search_over_supervised_tail_estimator():
    X, y = _regression_data(9000)
    search = GridSearchCV(GaussianConditionalTail(), {"noise_scale": [0.5, 1.0, 2.0]},
                          scoring=SCORERS, refit="neg_coverage_error", cv=3,
                          error_score="raise")
    search.fit(X, y)
    assert search.best_params_ == {"noise_scale": 1.0}
    kl = search.cv_results_["mean_test_neg_tail_kl"]
    assert np.argmax(kl) == 1
    recall = search.cv_results_["mean_test_rare_event_recall"]
    assert np.all((recall > 0) & (recall <= 1))


# --- unsupervised scorers ----------------------------------------------------------------


def test_tail_kl_scorer_matches_the_metric_on_seeded_draws():
    X, _ = make_tail_mixture(4000, random_state=1)
    kde = KernelDensity(bandwidth=0.3).fit(X[:2000])
    held_out = X[2000:]
    expected = -tail_kl_divergence(held_out, kde.sample(20000, random_state=0))
    assert neg_tail_kl_scorer(kde, held_out) == expected
    assert neg_tail_kl_scorer(kde, held_out) == neg_tail_kl_scorer(kde, held_out)
    one = make_tail_kl_scorer(n_draws=1, random_state=5)
    assert one(kde, held_out) == -tail_kl_divergence(held_out, kde.sample(2000, random_state=5))


def test_scorers_accept_gaussian_mixture_tuple_samples():
    X, _ = make_tail_mixture(3000, random_state=2)
    gm = GaussianMixture(3, random_state=0).fit(X[:1500])
    first = neg_tail_kl_scorer(gm, X[1500:])
    assert first == neg_tail_kl_scorer(gm, X[1500:]) <= 0  # gm reuses its own random_state
    assert -1 <= SCORERS["neg_coverage_error"](gm, X[1500:]) <= 0
    assert 0 < rare_event_recall_scorer(gm, X[1500:]) <= 1


def test_sampler_without_random_state_is_called_plainly():
    draws = np.linspace(-3, 3, 100).reshape(-1, 1)
    sampler = FixedSampler(draws)
    scorer = make_tail_kl_scorer(side="lower", tail=0.1, bins=5, n_draws=1)
    score = scorer(sampler, draws[::2])
    assert sampler.calls == [50] and score <= 0


def test_unsupervised_recall_uses_quantiles_and_lowest_scores():
    X = np.array([-9.0, -1.0, 0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 9.0]).reshape(-1, 1)
    # tail=0.1 per side: true rare = {-9} below the 0.1 quantile, {9} above 0.9.
    scores = np.array([-5.0, -1, -1, -1, -1, -1, -1, -1, -1, -6.0])
    assert rare_event_recall_scorer(FixedSampler(X, scores), X) == 1.0
    scorer = make_rare_event_recall_scorer(tail=0.1)
    assert scorer(FixedSampler(X, scores), X) == 1.0
    swapped = scores.copy()
    swapped[0] = 0.0
    swapped[5] = -10.0  # the model calls 2.0 rarer than -9
    assert scorer(FixedSampler(X, swapped), X) == 0.5
    upper = make_rare_event_recall_scorer(tail=0.1, side="upper")
    assert upper(FixedSampler(X, scores), X) == 1.0  # one flag: the lowest score, x = 9


def test_unsupervised_recall_uses_the_estimator_threshold():
    X = np.arange(10.0).reshape(-1, 1)
    sampler = FixedSampler(X, scores=-np.arange(10.0))  # larger x = rarer
    sampler.tail_threshold_ = 6.5
    sampler.side = "upper"
    assert rare_event_recall_scorer(sampler, X) == 1.0  # true {7, 8, 9}, flags {7, 8, 9}
    sampler.side = "lower"
    sampler.tail_threshold_ = 1.5
    assert rare_event_recall_scorer(sampler, X) == 0.0  # true {0, 1}, flags {8, 9}
    sampler.tail_threshold_ = (1.0, 8.5)
    sampler.side = "both"
    assert rare_event_recall_scorer(sampler, X) == 0.5  # true {0, 9}, flags {8, 9}
    sampler.side = "upper"
    with pytest.raises(ValueError, match="tail_threshold_ must be one number"):
        rare_event_recall_scorer(sampler, X)
    del sampler.side  # a (lower, upper) pair without a side, as QEGMSampler holds
    sampler.tail_threshold_ = np.array([[1.0], [8.5]])
    assert rare_event_recall_scorer(sampler, X) == 0.5
    sampler.tail_threshold_ = 1.5  # one threshold without a side: lower
    assert rare_event_recall_scorer(sampler, X) == 0.0


def test_unsupervised_recall_without_rare_event_is_nan():
    sampler = FixedSampler(np.zeros((4, 1)), scores=np.zeros(4))
    sampler.tail_threshold_, sampler.side = -1.0, "lower"
    with pytest.warns(UserWarning, match="no rare event"):
        assert np.isnan(rare_event_recall_scorer(sampler, np.zeros((4, 1))))


def test_multivariate_sampler_scores():
    rng = np.random.RandomState(3)
    X = rng.standard_normal((1200, 2))
    kde = KernelDensity(bandwidth=0.3).fit(X[:600])
    assert neg_tail_kl_scorer(kde, X[600:]) <= 0
    assert 0 < rare_event_recall_scorer(kde, X[600:]) <= 1
    with pytest.raises(ValueError, match="must have 1 feature"):
        SCORERS["neg_coverage_error"](kde, X[600:])
    with pytest.raises(ValueError, match="side must be 'both'"):
        make_rare_event_recall_scorer(side="lower")(kde, X[600:])


def test_unsupervised_coverage_uses_a_central_interval_of_draws():
    draws = np.arange(1, 101, dtype=float).reshape(-1, 1)  # 1..100
    held_out = np.linspace(0.5, 100.5, 100).reshape(-1, 1)
    scorer = make_coverage_scorer(0.8, n_draws=1)
    lo, hi = np.quantile(draws, [0.1, 0.9])
    covered = np.mean((held_out >= lo) & (held_out <= hi))
    assert scorer(FixedSampler(draws), held_out) == pytest.approx(-abs(covered - 0.8))


# --- supervised scorers -----------------------------------------------------------------


def test_supervised_scorers_by_hand():
    X, y = _regression_data(2000, seed=4)
    est = GaussianConditionalTail(tail=0.1).fit(X[:1000], y[:1000])
    X_te, y_te = X[1000:], y[1000:]
    draws = est.sample_y(X_te, 10, random_state=0).ravel()
    assert neg_tail_kl_scorer(est, X_te, y_te) == -tail_kl_divergence(y_te, draws)
    true = (y_te < est.tail_threshold_).astype(int)
    pred = est.predict(X_te)
    expected_recall = (true & pred).sum() / true.sum()
    assert rare_event_recall_scorer(est, X_te, y_te) == pytest.approx(expected_recall)
    intervals = est.predict_interval(X_te, 0.9)
    covered = np.mean((y_te >= intervals[:, 0]) & (y_te <= intervals[:, 1]))
    assert SCORERS["neg_coverage_error"](est, X_te, y_te) == pytest.approx(-abs(covered - 0.9))


def test_supervised_recall_honours_the_estimator_side():
    X, y = _regression_data(1000, seed=5)
    est = GaussianConditionalTail().fit(X, y)
    est.side = "upper"
    est.tail_threshold_ = np.quantile(y, 0.9)
    est.predict = lambda X: (est._mean(X) > est.tail_threshold_).astype(int)
    true = (y > est.tail_threshold_).astype(int)
    expected = (true & est.predict(X)).sum() / true.sum()
    assert rare_event_recall_scorer(est, X, y) == pytest.approx(expected)


@pytest.mark.parametrize("name", list(SCORERS))
def test_supervised_scorers_need_y(name):
    X, y = _regression_data(200)
    est = GaussianConditionalTail().fit(X, y)
    with pytest.raises(ValueError, match="needs the held-out y"):
        SCORERS[name](est, X)


# --- protocol errors --------------------------------------------------------------------


def test_pipeline_without_sample_is_a_type_error():
    X, _ = make_tail_mixture(200, random_state=0)
    pipe = make_pipeline(StandardScaler(), KernelDensity()).fit(X)
    with pytest.raises(TypeError, match="neg_tail_kl_scorer needs a sampler with sample; "
                                        "Pipeline lacks sample"):
        neg_tail_kl_scorer(pipe, X)
    with pytest.raises(TypeError, match="Pipeline lacks sample"):
        SCORERS["neg_coverage_error"](pipe, X)
    assert 0 <= rare_event_recall_scorer(pipe, X) <= 1  # score_samples is enough


def test_missing_protocol_methods_are_type_errors():
    class OnlySampleY(BaseEstimator):
        def sample_y(self, X, n_draws):
            return np.zeros((len(X), n_draws))

    X, y = np.zeros((5, 1)), np.zeros(5)
    with pytest.raises(TypeError, match="lacks predict, tail_threshold_"):
        rare_event_recall_scorer(OnlySampleY(), X, y)
    with pytest.raises(TypeError, match="lacks predict_interval"):
        SCORERS["neg_coverage_error"](OnlySampleY(), X, y)
    with pytest.raises(TypeError, match="with score_samples or sample; object lacks both"):
        rare_event_recall_scorer(object(), X)
    with pytest.raises(TypeError, match="lacks sample"):
        neg_tail_kl_scorer(object(), X)


def test_bad_sample_shapes_are_value_errors():
    with pytest.raises(ValueError, match=r"expected \(40, 2\)"):
        neg_tail_kl_scorer(FixedSampler(np.zeros((2, 1))), np.zeros((4, 2)))

    class BadSampleY(BaseEstimator):
        def sample_y(self, X, n_draws):
            return np.zeros(3)

    with pytest.raises(ValueError, match=r"expected \(4, 10\)"):
        neg_tail_kl_scorer(BadSampleY(), np.zeros((4, 1)), np.zeros(4))


@pytest.mark.parametrize(
    "factory, kwargs, match",
    [
        (make_tail_kl_scorer, dict(side="left"), "side must be one of"),
        (make_tail_kl_scorer, dict(tail=0.5), r"tail must be in \(0, 0.5\)"),
        (make_tail_kl_scorer, dict(bins=0), "bins must be >= 1"),
        (make_tail_kl_scorer, dict(smoothing=-1.0), "smoothing must be in"),
        (make_tail_kl_scorer, dict(n_draws=0), "n_draws must be >= 1"),
        (make_rare_event_recall_scorer, dict(tail=1.5, side="upper"), "tail must be in"),
        (make_coverage_scorer, dict(coverage=1.0), r"coverage must be in \(0, 1\)"),
        (make_coverage_scorer, dict(n_draws=1.5), "n_draws must be an integer"),
    ],
)
def test_factory_parameter_errors(factory, kwargs, match):
    with pytest.raises(ValueError, match=match):
        factory(**kwargs)
