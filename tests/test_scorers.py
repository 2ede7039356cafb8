import pickle
import warnings

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError, UndefinedMetricWarning
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.neighbors import KernelDensity
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from skqegm import QEGMSampler, TailRiskEstimator
from skqegm.datasets import make_tail_mixture
from skqegm.metrics import (
    SCORERS,
    coverage_error,
    make_coverage_scorer,
    make_rare_event_precision_scorer,
    make_rare_event_recall_scorer,
    make_tail_kl_scorer,
    neg_tail_kl_scorer,
    rare_event_recall_scorer,
    tail_kl_divergence,
)
from skqegm.pipeline import make_pipeline as skqegm_make_pipeline


class GaussianConditionalTail(BaseEstimator):
    """Toy supervised tail estimator: y | x ~ N(a x + b, (noise_scale * s)^2).

    Rare events are the y below the ``tail_fraction`` quantile of the training y.
    """

    def __init__(self, noise_scale=1.0, tail_fraction=0.05, alert=0.3):
        self.noise_scale = noise_scale
        self.tail_fraction = tail_fraction
        self.alert = alert

    def fit(self, X, y):
        X, y = validate_data(self, X, y)
        design = np.column_stack([X, np.ones(len(X))])
        self.coef_ = np.linalg.lstsq(design, y, rcond=None)[0]
        self.sigma_ = self.noise_scale * np.std(y - design @ self.coef_)
        self.threshold_ = np.quantile(y, self.tail_fraction)
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
        return self._mean(X)

    def predict_rare(self, X):
        p_rare = norm.cdf(self.threshold_, self._mean(X), self.sigma_)
        return (p_rare > self.alert).astype(int)

    def rare_events(self, y):
        return (np.asarray(y) < self.threshold_).astype(int)

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


def test_every_scorer_pickles_with_a_fitted_search(tmp_path):
    # joblib.dump (plain pickle, not cloudpickle) of a search that holds the scorers.
    import joblib

    from skqegm.baselines import HistoricalSimulation
    from skqegm.metrics import (
        RISK_SCORERS,
        make_fz0_scorer,
        make_pinball_scorer,
        make_rare_event_precision_scorer,
    )

    X, _ = make_tail_mixture(1500, random_state=0)
    built = [make_tail_kl_scorer(side="lower", n_draws=2), make_coverage_scorer(0.8),
             make_rare_event_recall_scorer(tail_fraction=0.1),
             make_rare_event_precision_scorer(side="upper"), neg_tail_kl_scorer,
             rare_event_recall_scorer, *SCORERS.values()]
    kde = KernelDensity(bandwidth=0.3).fit(X[:1000])
    for scorer in built:
        again = pickle.loads(pickle.dumps(scorer))
        assert again(kde, X[1000:]) == scorer(kde, X[1000:]) or np.isnan(scorer(kde, X[1000:]))
    search = GridSearchCV(KernelDensity(), {"bandwidth": [0.3, 1.0]}, scoring=SCORERS,
                          refit="neg_tail_kl", cv=2).fit(X)
    joblib.dump(search, tmp_path / "search.joblib")
    loaded = joblib.load(tmp_path / "search.joblib")
    assert loaded.scorer_["neg_tail_kl"](loaded.best_estimator_, X) == \
        search.scorer_["neg_tail_kl"](search.best_estimator_, X)
    # The VaR / ES scorers too.
    y = np.random.default_rng(0).standard_t(4, size=900) / 100
    Xr = np.r_[0.0, y[:-1]][:, None]
    model = HistoricalSimulation(window=250).fit(Xr[:600], y[:600])
    for scorer in [make_fz0_scorer(0.99), make_pinball_scorer(0.99, side="lower"),
                   *RISK_SCORERS.values()]:
        again = pickle.loads(pickle.dumps(scorer))
        assert again(model, Xr[600:], y[600:]) == scorer(model, Xr[600:], y[600:])
        assert repr(again) == repr(scorer)
    assert repr(make_fz0_scorer(0.99)) == "neg_fz0_loss_scorer(level=0.99, side=None)"
    with pytest.raises(ValueError, match="held-out y"):
        make_pinball_scorer()(model, Xr[600:])


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
    scorer = make_tail_kl_scorer(side="lower", tail_fraction=0.1, bins=5, n_draws=1)
    score = scorer(sampler, draws[::2])
    assert sampler.calls == [50] and score <= 0


def test_unsupervised_recall_uses_quantiles_and_lowest_scores():
    X = np.array([-9.0, -1.0, 0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 9.0]).reshape(-1, 1)
    # tail_fraction=0.1 per side: true rare = {-9} below the 0.1 quantile, {9} above 0.9.
    scores = np.array([-5.0, -1, -1, -1, -1, -1, -1, -1, -1, -6.0])
    assert rare_event_recall_scorer(FixedSampler(X, scores), X) == 1.0
    scorer = make_rare_event_recall_scorer(tail_fraction=0.1)
    assert scorer(FixedSampler(X, scores), X) == 1.0
    swapped = scores.copy()
    swapped[0] = 0.0
    swapped[5] = -10.0  # the model calls 2.0 rarer than -9
    assert scorer(FixedSampler(X, swapped), X) == 0.5
    upper = make_rare_event_recall_scorer(tail_fraction=0.1, side="upper")
    assert upper(FixedSampler(X, scores), X) == 1.0  # one flag: the lowest score, x = 9


def test_unsupervised_recall_ignores_the_samplers_own_thresholds():
    # The events are the scorer's, so candidates of a grid search share them.
    X = np.array([-9.0, -1.0, 0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 9.0]).reshape(-1, 1)
    scores = np.array([-5.0, -1, -1, -1, -1, -1, -1, -1, -1, -6.0])
    plain = FixedSampler(X, scores)
    with_thresholds = FixedSampler(X, scores)
    with_thresholds.tail_threshold_ = np.array([[1.5], [np.inf]])
    scorer = make_rare_event_recall_scorer(tail_fraction=0.1)
    assert scorer(with_thresholds, X) == scorer(plain, X) == 1.0


def test_unsupervised_recall_without_rare_event_is_nan():
    sampler = FixedSampler(np.zeros((4, 1)), scores=np.zeros(4))
    # The warning spoke of a y_true the user never passed.
    with pytest.warns(UndefinedMetricWarning, match=r"rare_event_recall_scorer is undefined: "
                                                    r"the held-out data hold no rare event "
                                                    r"\(none of their values"):
        assert np.isnan(rare_event_recall_scorer(sampler, np.zeros((4, 1))))


@pytest.mark.parametrize("tail_fraction", [0.02, 0.1])
def test_unsupervised_recall_with_a_fitted_qegm_sampler(tail_fraction):
    X, _ = make_tail_mixture(1000, random_state=3)
    sampler = QEGMSampler(max_epochs=2, hidden_layer_sizes=(8,), early_stopping=False,
                          tail_fraction=tail_fraction, random_state=0).fit(X[:500])
    held_out = X[500:]
    low, high = np.quantile(held_out, [0.05, 0.95])  # the scorer's 5% per side
    true = ((held_out < low) | (held_out > high)).ravel().astype(int)
    flags = np.zeros(500, dtype=int)
    flags[np.argsort(sampler.score_samples(held_out), kind="stable")[:true.sum()]] = 1
    expected = (true & flags).sum() / true.sum()
    assert rare_event_recall_scorer(sampler, held_out) == pytest.approx(expected)


def test_multivariate_sampler_scores():
    rng = np.random.RandomState(3)
    X = rng.standard_normal((1200, 2))
    kde = KernelDensity(bandwidth=0.3).fit(X[:600])
    assert neg_tail_kl_scorer(kde, X[600:]) <= 0
    assert 0 < rare_event_recall_scorer(kde, X[600:]) <= 1
    assert -0.1 < SCORERS["neg_coverage_error"](kde, X[600:]) <= 0  # a density region
    with pytest.raises(ValueError, match="must have 1 feature"):
        make_coverage_scorer(0.9, region="central")(kde, X[600:])
    with pytest.raises(ValueError, match="side must be 'both'"):
        make_rare_event_recall_scorer(side="lower")(kde, X[600:])


def test_unsupervised_coverage_uses_a_central_interval_of_draws():
    draws = np.arange(1, 101, dtype=float).reshape(-1, 1)  # 1..100
    held_out = np.linspace(0.5, 100.5, 100).reshape(-1, 1)
    scorer = make_coverage_scorer(0.8, n_draws=1)
    lo, hi = np.quantile(draws, [0.1, 0.9])
    covered = np.mean((held_out >= lo) & (held_out <= hi))
    assert scorer(FixedSampler(draws), held_out) == pytest.approx(-abs(covered - 0.8))


class Atoms:
    """A discrete law on a few atoms; ``exact=True`` draws them in their exact shares."""

    def __init__(self, atoms, probs, exact=False):
        self.atoms, self.probs, self.exact = np.asarray(atoms, float), np.asarray(probs), exact

    def sample(self, n_samples, random_state=None):
        if self.exact:
            counts = np.round(np.asarray(self.probs) * n_samples).astype(int)
            draws = np.repeat(self.atoms, counts)
            return np.random.default_rng(random_state).permutation(draws)[:, None]
        return np.random.default_rng(random_state).choice(self.atoms, size=(n_samples, 1),
                                                          p=self.probs)

    def kept(self, coverage):
        """The closed form: the share of each atom inside the central interval of mass
        ``coverage`` (the atoms at its bounds in part)."""
        tail, cdf = (1 - coverage) / 2, np.cumsum(self.probs)
        below = np.clip(tail - (cdf - self.probs), 0, self.probs)  # cut from the left
        above = np.clip(tail - (1 - cdf), 0, self.probs)  # cut from the right
        return 1 - (below + above) / self.probs


THREE_POINT_LAWS = [([0.0, 1.0, 3.0], [0.2, 0.7, 0.1]),  # bounds on two atoms
                    ([0.0, 1.0, 2.0], [0.02, 0.96, 0.02])]  # both bounds on one atom


@pytest.mark.parametrize("atoms, probs", THREE_POINT_LAWS)
def test_central_coverage_of_a_discrete_model_counts_the_atoms_at_its_bounds_in_part(
        atoms, probs):
    # The closed interval held the whole atom at each bound: a true three-point model
    # scored about -0.1 (coverage 1.0 of a 90% interval).
    law = Atoms(atoms, probs)
    assert np.sum(law.probs * law.kept(0.9)) == pytest.approx(0.9)
    # Draws and held-out rows in the law's exact shares: exactly calibrated.
    exact = Atoms(atoms, probs, exact=True)
    held_out = exact.sample(1000, random_state=1)
    assert make_coverage_scorer(0.9)(exact, held_out) == pytest.approx(0, abs=1e-12)
    # Random draws and rows: 0 within sampling error. The score is the rows' mean share
    # kept minus the draws', so its sd is that of the share kept over 1/N + 1/(10 N).
    n = 2000
    spread = np.sqrt(np.sum(law.probs * law.kept(0.9) ** 2) - 0.9**2)
    sd = spread * np.sqrt(1 / n + 1 / (10 * n))
    for seed in range(3):
        score = make_coverage_scorer(0.9, random_state=seed)(law, law.sample(n, 100 + seed))
        assert score > -4 * sd


def test_central_coverage_of_a_continuous_model_is_the_closed_interval_as_before():
    # Bit for bit the old computation: the closed interval between the draws' quantiles.
    X = make_tail_mixture(1200, random_state=3)[0]
    kde = KernelDensity(bandwidth=0.3).fit(X[:600])
    draws = kde.sample(6000, random_state=0).ravel()
    bounds = np.quantile(draws, [0.05, 0.95])
    old = -coverage_error(X[600:, 0], np.tile(bounds, (600, 1)), 0.9)
    assert make_coverage_scorer(0.9, region="central")(kde, X[600:]) == old


# --- supervised scorers -----------------------------------------------------------------


def test_supervised_scorers_by_hand():
    X, y = _regression_data(2000, seed=4)
    est = GaussianConditionalTail(tail_fraction=0.1).fit(X[:1000], y[:1000])
    X_te, y_te = X[1000:], y[1000:]
    draws = est.sample_y(X_te, 10, random_state=0).ravel()
    assert neg_tail_kl_scorer(est, X_te, y_te) == -tail_kl_divergence(y_te, draws)
    true = (y_te < est.threshold_).astype(int)
    pred = est.predict_rare(X_te)
    expected_recall = (true & pred).sum() / true.sum()
    assert rare_event_recall_scorer(est, X_te, y_te) == pytest.approx(expected_recall)
    intervals = est.predict_interval(X_te, 0.9)
    covered = np.mean((y_te >= intervals[:, 0]) & (y_te <= intervals[:, 1]))
    assert SCORERS["neg_coverage_error"](est, X_te, y_te) == pytest.approx(-abs(covered - 0.9))


def test_supervised_recall_uses_the_estimator_rare_events():
    X, y = _regression_data(1000, seed=5)
    est = GaussianConditionalTail().fit(X, y)
    # An upper-tail estimator: the scorer must take its events, not assume a side.
    upper = np.quantile(y, 0.9)
    est.rare_events = lambda y: (np.asarray(y) > upper).astype(int)
    est.predict_rare = lambda X: (est._mean(X) > upper).astype(int)
    true = (y > upper).astype(int)
    expected = (true & est.predict_rare(X)).sum() / true.sum()
    assert rare_event_recall_scorer(est, X, y) == pytest.approx(expected)
    # Neither the scorer's tail_fraction nor its side changes a supervised score.
    other = make_rare_event_recall_scorer(tail_fraction=0.3, side="lower")
    assert other(est, X, y) == rare_event_recall_scorer(est, X, y)


def test_supervised_scorers_by_hand_on_a_tail_risk_estimator():
    X, y = _regression_data(1200, seed=6)
    est = TailRiskEstimator(max_epochs=3, hidden_layer_sizes=(8,), latent="gaussian",
                            early_stopping=False, tail_fraction=0.1, random_state=0)
    est.fit(X[:600], y[:600])
    X_te, y_te = X[600:], y[600:]
    draws = est.sample_y(X_te, 10, random_state=0).ravel()
    assert neg_tail_kl_scorer(est, X_te, y_te) == -tail_kl_divergence(y_te, draws)
    true = (y_te < est.tail_threshold_[0, 0]).astype(int)  # side="lower"
    pred = est.predict_rare(X_te)
    expected = (true & pred).sum() / true.sum()
    assert rare_event_recall_scorer(est, X_te, y_te) == pytest.approx(expected)
    intervals = est.predict_interval(X_te, 0.9)
    covered = np.mean((y_te >= intervals[:, 0]) & (y_te <= intervals[:, 1]))
    assert SCORERS["neg_coverage_error"](est, X_te, y_te) == pytest.approx(-abs(covered - 0.9))


@pytest.mark.parametrize("name", list(SCORERS))
def test_supervised_scorers_need_y(name):
    X, y = _regression_data(200)
    est = GaussianConditionalTail().fit(X, y)
    with pytest.raises(ValueError, match="needs the held-out y"):
        SCORERS[name](est, X)


@pytest.mark.parametrize("name", list(SCORERS))
def test_supervised_scorers_take_a_one_column_y(name):
    # The estimators fit on a one-column y; the scorers refused it, so a grid search on
    # y[["target"]] scored every candidate NaN and picked the first.
    X, y = _regression_data(600)
    est = GaussianConditionalTail().fit(X[:300], y[:300])
    expected = SCORERS[name](est, X[300:], y[300:])
    assert SCORERS[name](est, X[300:], y[300:, None]) == expected
    with pytest.raises(ValueError, match="1-D or a single column"):
        SCORERS[name](est, X[300:], np.column_stack([y[300:], y[300:]]))


@pytest.mark.parametrize("name", list(SCORERS))
def test_supervised_scorers_name_x_and_y_of_different_lengths(name):
    # The mismatch was blamed on the model: "predict_rare(X) returned 300 flags for 10
    # held-out rows".
    X, y = _regression_data(300)
    est = GaussianConditionalTail().fit(X, y)
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples: \[300, 10\]"):
        SCORERS[name](est, X, y[:10])


# --- protocol errors --------------------------------------------------------------------


def test_sklearn_pipeline_without_sample_is_a_type_error():
    X, _ = make_tail_mixture(200, random_state=0)
    pipe = make_pipeline(StandardScaler(), KernelDensity()).fit(X)
    with pytest.raises(TypeError, match="neg_tail_kl_scorer needs a sampler with sample; "
                                        "Pipeline lacks sample"):
        neg_tail_kl_scorer(pipe, X)
    with pytest.raises(TypeError, match="Pipeline lacks sample.*skqegm.pipeline.make_pipeline"):
        SCORERS["neg_coverage_error"](pipe, X)
    assert 0 <= rare_event_recall_scorer(pipe, X) <= 1  # score_samples is enough


def test_sklearn_pipeline_is_not_unwrapped():
    X, y = _regression_data(300)
    pipe = make_pipeline(StandardScaler(), GaussianConditionalTail()).fit(X, y)
    with pytest.raises(TypeError, match="Pipeline lacks both. A sklearn.pipeline.Pipeline "
                                        "exposes neither"):
        rare_event_recall_scorer(pipe, X, y)
    with pytest.raises(TypeError, match="Pipeline lacks sample"):
        neg_tail_kl_scorer(pipe, X, y)


def test_missing_protocol_methods_are_type_errors():
    class OnlySampleY(BaseEstimator):
        def sample_y(self, X, n_draws):
            return np.zeros((len(X), n_draws))

    X, y = np.zeros((5, 1)), np.zeros(5)
    with pytest.raises(TypeError, match="with rare_events, predict_rare; OnlySampleY lacks "
                                        "rare_events, predict_rare"):
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
        (make_tail_kl_scorer, dict(tail_fraction=0.5), r"tail_fraction must be in \(0, 0.5\)"),
        (make_tail_kl_scorer, dict(bins=0), "bins must be >= 2"),
        (make_tail_kl_scorer, dict(bins=1), "bins must be >= 2: in a single cell"),
        (make_tail_kl_scorer, dict(smoothing=1.5), r"smoothing must be in \[0, 1\]"),
        (make_tail_kl_scorer, dict(smoothing=-1.0), "smoothing must be in"),
        (make_tail_kl_scorer, dict(n_draws=0), "n_draws must be >= 1"),
        (make_rare_event_recall_scorer, dict(tail_fraction=1.5, side="upper"),
         "tail_fraction must be in"),
        (make_coverage_scorer, dict(coverage=1.0), r"coverage must be in \(0, 1\)"),
        (make_coverage_scorer, dict(n_draws=1.5), "n_draws must be an integer"),
    ],
)
def test_factory_parameter_errors(factory, kwargs, match):
    with pytest.raises(ValueError, match=match):
        factory(**kwargs)


@pytest.mark.parametrize("factory", [make_tail_kl_scorer, make_rare_event_recall_scorer,
                                     make_rare_event_precision_scorer, make_coverage_scorer])
@pytest.mark.parametrize("seed, match", [
    ("abc", "got 'abc'"), (1.5, "got 1.5"), (-1, "got -1"), (2**32, "got 4294967296"),
    (True, "got True"), (np.random.RandomState(0), "got a RandomState, which would give"),
    (np.random.default_rng(0), "got a Generator"),
])
def test_factories_refuse_a_seed_that_is_not_an_int(factory, seed, match):
    # They were stored as given: "abc" failed at the first call, deep in numpy, and a
    # RandomState scored one model differently on every call (-0.344, then -0.375).
    with pytest.raises(ValueError, match=r"random_state must be None or an integer in "
                                         rf"\[0, 2\*\*32 - 1\]; {match}"):
        factory(random_state=seed)
    assert factory(random_state=np.int64(3)).params["random_state"] == 3


@pytest.mark.parametrize("name", ["rare_event_recall", "precision", "hdr_coverage"])
def test_unsupervised_scorers_take_a_one_dimensional_x(name):
    # The tail KL and central coverage took a 1-D X, the density scorers passed it on to
    # score_samples, which raised scikit-learn's "Expected 2D array".
    scorer = {"rare_event_recall": rare_event_recall_scorer,
              "precision": make_rare_event_precision_scorer(),
              "hdr_coverage": make_coverage_scorer(region="hdr")}[name]
    X, _ = make_tail_mixture(1000, random_state=0)
    kde = KernelDensity(bandwidth=0.3).fit(X[:500])
    assert scorer(kde, X[500:, 0]) == scorer(kde, X[500:])


# --- failing loudly: unfitted and broken models, degenerate held-out data ----------------


class ShiftedNormal(BaseEstimator):
    """Sampler N(mean + shift, std): shift=50 is the model 50 standard deviations away.

    ``broken`` makes every method return NaN, like a model whose training diverged.
    """

    def __init__(self, shift=0.0, broken=False):
        self.shift = shift
        self.broken = broken

    def fit(self, X, y=None):
        X = validate_data(self, X)
        self.loc_, self.scale_ = X.mean(axis=0) + self.shift, X.std(axis=0)
        return self

    def _nan_if_broken(self, values):
        return np.full_like(values, np.nan) if self.broken else values

    def sample(self, n_samples=1, random_state=None):
        rng = check_random_state(random_state)
        draws = self.loc_ + self.scale_ * rng.standard_normal((n_samples, len(self.loc_)))
        return self._nan_if_broken(draws)

    def score_samples(self, X):
        z = (validate_data(self, X, reset=False) - self.loc_) / self.scale_
        return self._nan_if_broken(np.sum(norm.logpdf(z) - np.log(self.scale_), axis=1))


class ScaledTail(GaussianConditionalTail):
    """GaussianConditionalTail whose outputs are multiplied by ``factor`` (NaN: broken)."""

    def __init__(self, factor=1.0):
        super().__init__()
        self.factor = factor

    def sample_y(self, X, n_draws=1, random_state=None):
        return super().sample_y(X, n_draws, random_state) * self.factor

    def predict_interval(self, X, coverage):
        return super().predict_interval(X, coverage) * self.factor

    def predict_rare(self, X):
        return super().predict_rare(X) * self.factor


UNFITTED = [
    KernelDensity(),
    GaussianMixture(2),
    ShiftedNormal(),
    make_pipeline(StandardScaler(), KernelDensity()),
    skqegm_make_pipeline(StandardScaler(), ShiftedNormal()),
    GaussianConditionalTail(),
    TailRiskEstimator(),
]


@pytest.mark.parametrize("name", list(SCORERS))
@pytest.mark.parametrize("estimator", UNFITTED, ids=lambda e: type(e).__name__)
def test_unfitted_estimators_raise_not_fitted_error(name, estimator):
    X, y = _regression_data(100)
    # An sklearn Pipeline lacking sample raised TypeError; the fit state now comes first.
    with pytest.raises(NotFittedError):
        SCORERS[name](estimator, X[:, :1], y)


def test_unfitted_check_comes_before_any_model_call():
    class Recording(ShiftedNormal):
        calls = []

        def sample(self, n_samples=1, random_state=None):
            self.calls.append(n_samples)
            return super().sample(n_samples, random_state)

    with pytest.raises(NotFittedError):
        neg_tail_kl_scorer(Recording(), np.zeros((50, 1)))
    assert Recording.calls == []


@pytest.mark.parametrize("name, match", [
    ("neg_tail_kl", r"the output of ShiftedNormal.sample\(1000\) contains NaN"),
    ("rare_event_recall", r"the output of ShiftedNormal.score_samples\(X\) contains NaN"),
    ("neg_coverage_error", r"the output of ShiftedNormal.sample\(1000\) contains NaN"),
])
def test_broken_sampler_is_a_value_error_naming_it(name, match):
    X = np.random.RandomState(0).standard_normal((100, 1))
    broken = ShiftedNormal(broken=True).fit(X)
    with pytest.raises(ValueError, match=match):
        SCORERS[name](broken, X)


def test_infinite_draws_are_a_value_error_naming_the_sampler():
    X = np.linspace(-3, 3, 100).reshape(-1, 1)
    draws = X.copy()
    draws[5] = np.inf
    with pytest.raises(ValueError, match=r"FixedSampler.sample\(1000\) contains infinity"):
        neg_tail_kl_scorer(FixedSampler(draws), X)


@pytest.mark.parametrize("name, match", [
    ("neg_tail_kl", r"ScaledTail.sample_y\(X, 10\) contains NaN"),
    ("rare_event_recall", r"ScaledTail.predict_rare\(X\) contains NaN"),
    ("neg_coverage_error", r"ScaledTail.predict_interval\(X, 0.9\) contains NaN"),
])
def test_broken_supervised_model_is_a_value_error_naming_it(name, match):
    X, y = _regression_data(300)
    broken = ScaledTail(factor=np.nan).fit(X, y)
    with pytest.raises(ValueError, match=match):
        SCORERS[name](broken, X, y)


def test_supervised_outputs_of_the_wrong_kind_name_the_estimator():
    X, y = _regression_data(300)
    twice = ScaledTail(factor=2.0).fit(X, y)
    with pytest.raises(ValueError, match=r"ScaledTail.predict_rare\(X\) must contain only 0 "
                                         r"and 1 \(1 = rare\); got values \[0.0, 2.0\]"):
        rare_event_recall_scorer(twice, X, y)
    flipped = ScaledTail(factor=-1.0).fit(X, y)  # lower bounds above upper bounds
    with pytest.raises(ValueError, match=r"ScaledTail.predict_interval\(X, 0.9\) must have "
                                         "lower bounds <= upper bounds"):
        SCORERS["neg_coverage_error"](flipped, X, y)
    short = GaussianConditionalTail().fit(X, y)
    short.rare_events = lambda y: np.zeros(3, dtype=int)
    with pytest.raises(ValueError, match=r"rare_events\(y\) returned 3 flags for 300"):
        rare_event_recall_scorer(short, X, y)


def test_grid_search_records_error_score_for_a_broken_model_and_never_picks_a_far_one():
    X, _ = make_tail_mixture(3000, random_state=4)
    grid = {"shift": [0.0, 0.3, 50.0], "broken": [False, True]}
    search = GridSearchCV(ShiftedNormal(), grid, scoring=SCORERS, refit="neg_tail_kl",
                          cv=KFold(3, shuffle=True, random_state=0), error_score=np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Scoring failed" for the broken candidates
        search.fit(X)
    results = search.cv_results_
    broken = np.asarray(results["param_broken"], dtype=bool)
    for name in SCORERS:
        scores = results[f"mean_test_{name}"]
        assert np.all(np.isnan(scores[broken])) and np.all(np.isfinite(scores[~broken]))
    assert search.best_params_ == {"broken": False, "shift": 0.0}
    kl = dict(zip(results["param_shift"][~broken], results["mean_test_neg_tail_kl"][~broken]))
    assert kl[0.0] > kl[0.3] > kl[50.0]


def test_tail_kl_scorer_on_too_little_held_out_data_says_so():
    X = np.random.RandomState(0).standard_normal((15, 1))
    sampler = ShiftedNormal(shift=50.0).fit(X)  # scored 0.0 on one-point tails before
    with pytest.raises(ValueError, match="neg_tail_kl_scorer cannot score on this held-out X "
                                         r"\(x_true is the held-out X.*holds 1 of the 15"):
        neg_tail_kl_scorer(sampler, X)


def test_flat_density_scores_chance_recall_whatever_the_row_order():
    X = np.sort(np.random.RandomState(1).standard_normal(400)).reshape(-1, 1)
    lower = make_rare_event_recall_scorer(side="lower")
    flat = FixedSampler(X, scores=np.zeros(400))
    # A stable sort flagged the first rows, the whole lower tail of sorted data: 1.0 and 0.5.
    assert lower(flat, X) == pytest.approx(0.05)
    assert rare_event_recall_scorer(flat, X) == pytest.approx(0.1)
    # Zero densities (-inf) tie too, and are flagged before any positive density.
    scores = np.full(400, -np.inf)
    scores[:5] = -1.0  # five of the 20 lower-tail points have a positive density
    assert lower(FixedSampler(X, scores), X) == pytest.approx(20 / 395 * 15 / 20)


def test_coverage_scorer_warns_on_a_miscoverage_level():
    with pytest.warns(UserWarning, match="coverage=0.1 scores 10% intervals; coverage is the "
                                         "nominal coverage"):
        make_coverage_scorer(0.1)


class _NeverSampled(BaseEstimator):
    """A fitted sampler that must not be asked for draws."""

    def fit(self, X, y=None):
        self.fitted_ = True
        return self

    def sample(self, n_samples=1, random_state=None):
        raise AssertionError("sample was called")

    def score_samples(self, X):
        return np.zeros(len(X))


class _NeverSampledY(_NeverSampled):
    """A fitted supervised tail estimator that must not be asked for draws."""

    def sample_y(self, X, n_draws, random_state=None):
        raise AssertionError("sample_y was called")


@pytest.mark.parametrize("scorer, model", [
    (make_tail_kl_scorer(n_draws=10**9), _NeverSampled()),
    (make_tail_kl_scorer(n_draws=10**9), _NeverSampledY()),
    (make_coverage_scorer(n_draws=10**9), _NeverSampled()),
    (make_coverage_scorer(n_draws=10**9, region="hdr"), _NeverSampled()),
])
def test_draws_that_cannot_fit_are_refused_before_the_model_makes_them(scorer, model):
    # 10**9 draws per row of 1,000 rows (8 TB) went straight to the model's sample.
    from skqegm.exceptions import MemoryLimitError

    model.fit(None)
    with pytest.raises(MemoryLimitError, match=r"_NeverSampled(Y)?.sample(_y)?\(.*for the "
                                               r"scorer needs an estimated .* Lower the "
                                               "scorer's n_draws"):
        scorer(model, np.zeros((1000, 1)), np.zeros(1000))


# --- a fitted search scores as the model it chose (nested cross-validation) -------------


def test_nested_cross_validation_scores_each_search_by_its_best_estimator():
    # scikit-learn's searches do not delegate the tail API (predict_var, sample, ...), so
    # every scorer refused a fitted search: cross_validate(GridSearchCV(...)) could not
    # be scored by them.
    from sklearn.model_selection import TimeSeriesSplit, cross_validate

    from skqegm.baselines import EWMARiskEstimator
    from skqegm.metrics import neg_fz0_loss_scorer, neg_pinball_loss_scorer

    r = np.random.default_rng(0).standard_t(4, size=1200) / 100
    X, y = r[:-1, None], r[1:]
    search = GridSearchCV(EWMARiskEstimator(), {"decay": [0.9, 0.97]}, cv=TimeSeriesSplit(3),
                          scoring=neg_fz0_loss_scorer)
    outer = TimeSeriesSplit(3)
    scoring = {"fz0": neg_fz0_loss_scorer, "pinball": neg_pinball_loss_scorer}
    result = cross_validate(search, X, y, cv=outer, scoring=scoring, error_score="raise",
                            return_estimator=True)
    for (_, test), fitted, fz0, pinball in zip(outer.split(X), result["estimator"],
                                               result["test_fz0"], result["test_pinball"]):
        best = fitted.best_estimator_
        assert fz0 == neg_fz0_loss_scorer(best, X[test], y[test])
        assert pinball == neg_pinball_loss_scorer(best, X[test], y[test])
    # Through a pipeline ending in the search, too.
    pipe = skqegm_make_pipeline(FunctionTransformer(), search).fit(X[:800], y[:800])
    expected = skqegm_make_pipeline(FunctionTransformer(), pipe[-1].best_estimator_)
    assert neg_fz0_loss_scorer(pipe, X[800:], y[800:]) == neg_fz0_loss_scorer(
        expected, X[800:], y[800:])


def test_a_fitted_search_of_samplers_scores_as_its_best_estimator():
    X, _ = make_tail_mixture(3000, random_state=0)
    search = GridSearchCV(KernelDensity(), {"bandwidth": [0.2, 0.5]}, cv=2).fit(X[:1500])
    best = search.best_estimator_
    for name, scorer in SCORERS.items():
        assert scorer(search, X[1500:]) == scorer(best, X[1500:]), name


@pytest.mark.parametrize("model", [KernelDensity, TailRiskEstimator, GridSearchCV])
def test_a_class_instead_of_an_instance_is_named(model):
    # A forgotten pair of parentheses: the search check called the class's get_params
    # and raised "get_params() missing 1 required positional argument: 'self'".
    from skqegm.metrics import RISK_SCORERS

    X = np.zeros((20, 1))
    for scorer in [*SCORERS.values(), *RISK_SCORERS.values()]:
        with pytest.raises(TypeError, match=f"{model.__name__} is a class, not an instance"):
            scorer(model, X, np.zeros(20))


def test_a_search_without_best_estimator_is_refused_naming_refit():
    from skqegm.baselines import EWMARiskEstimator
    from skqegm.metrics import neg_fz0_loss_scorer

    r = np.random.default_rng(0).standard_t(4, size=600) / 100
    X, y = r[:-1, None], r[1:]
    search = GridSearchCV(EWMARiskEstimator(), {"decay": [0.9, 0.97]}, cv=2, refit=False,
                          scoring=neg_fz0_loss_scorer).fit(X, y)
    # Named as scikit-learn and walk_forward name it ("GridSearchCV has none" said
    # nothing of refit); an unfitted search is refused as unfitted.
    with pytest.raises(TypeError, match=r"refit=False.*neg_fz0_loss_scorer"):
        neg_fz0_loss_scorer(search, X, y)
    with pytest.raises(NotFittedError):
        neg_fz0_loss_scorer(clone(search), X, y)


def test_warnings_of_metrics_point_at_the_callers_line():
    # stacklevel=2 pointed into skqegm's scorers when a scorer called the metric.
    sampler = FixedSampler(np.zeros((4, 1)), scores=np.zeros(4))
    with pytest.warns(UndefinedMetricWarning) as record:
        rare_event_recall_scorer(sampler, np.zeros((4, 1)))
    assert {w.filename for w in record} == {__file__}
