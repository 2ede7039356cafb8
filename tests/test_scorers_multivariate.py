"""Tail scorers in several dimensions, checked on Gaussians whose density regions are exact."""

import numpy as np
import pytest
from scipy import stats
from scipy.stats import gaussian_kde
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KernelDensity

from skqegm import QEGMSampler
from skqegm.baselines import (
    DiffusionSampler,
    GANSampler,
    GPDTailSampler,
    StudentTSampler,
    VAESampler,
)
from skqegm.metrics import (
    SCORERS,
    make_coverage_scorer,
    make_rare_event_precision_scorer,
    make_rare_event_recall_scorer,
    make_tail_kl_scorer,
    tail_kl_divergence,
)
from skqegm.metrics._rarity import MAX_KDE_POINTS, kde_rarity


class IsotropicGaussian:
    """N(0, scale**2 I) with its exact log-density: the regions of a known answer."""

    def __init__(self, n_features, scale=1.0):
        self.n_features, self.scale = n_features, scale

    def sample(self, n_samples, random_state=None):
        rng = np.random.RandomState(random_state)
        return self.scale * rng.standard_normal((n_samples, self.n_features))

    def score_samples(self, X):
        X = np.asarray(X, dtype=float).reshape(-1, self.n_features)
        return stats.multivariate_normal(cov=self.scale**2 * np.eye(self.n_features)).logpdf(X)


class DrawsOnly(IsotropicGaussian):
    """The same model with no density: the scorers fall back on a KDE of its draws."""

    score_samples = property(doc="no density")

    def __getattribute__(self, name):
        if name == "score_samples":
            raise AttributeError(name)
        return super().__getattribute__(name)


@pytest.fixture(scope="module")
def held_out():
    return np.random.RandomState(0).standard_normal((4000, 3))


def _exact_share(scale, coverage, n_features):
    # The model's region is the ball |x|^2 <= scale^2 q; the data's |x|^2 is chi2(d).
    return stats.chi2.cdf(scale**2 * stats.chi2.ppf(coverage, n_features), n_features)


@pytest.mark.parametrize("scale", [1.0, 0.7, 1.5])
@pytest.mark.parametrize("coverage", [0.5, 0.9])
def test_hdr_coverage_matches_the_exact_gaussian_region(held_out, scale, coverage):
    expected = -abs(_exact_share(scale, coverage, 3) - coverage)
    score = make_coverage_scorer(coverage)(IsotropicGaussian(3, scale), held_out)
    # Binomial noise of 4,000 held-out rows (sd <= 0.008) plus that of the level.
    assert score == pytest.approx(expected, abs=0.025)


def test_hdr_coverage_of_a_sampler_without_density_uses_a_kde_of_its_draws(held_out):
    right = make_coverage_scorer(0.9)(DrawsOnly(3), held_out)
    wide = make_coverage_scorer(0.9)(DrawsOnly(3, scale=1.5), held_out)
    assert right > -0.03
    assert wide == pytest.approx(-abs(_exact_share(1.5, 0.9, 3) - 0.9), abs=0.03)


def test_hdr_and_central_interval_agree_on_a_symmetric_1d_model():
    X = np.random.RandomState(1).standard_normal((3000, 1))
    model = IsotropicGaussian(1, scale=1.3)
    central = make_coverage_scorer(0.8, region="central")(model, X)
    hdr = make_coverage_scorer(0.8, region="hdr")(model, X)
    assert central == pytest.approx(-abs(_exact_share(1.3, 0.8, 1) - 0.8), abs=0.02)
    assert hdr == pytest.approx(central, abs=0.02)


def test_hdr_differs_from_the_central_interval_where_the_model_is_skewed():
    class Exponential:
        def sample(self, n_samples, random_state=None):
            return np.random.RandomState(random_state).exponential(size=(n_samples, 1))

        def score_samples(self, X):
            return stats.expon.logpdf(np.ravel(X))

    # Data uniform on [0, 1]: the HDR of mass 0.5 is [0, ln 2] (covers 0.693 of the
    # data), the central interval [ln(4/3), ln 4] covers 1 - ln(4/3) = 0.712.
    X = np.linspace(0, 1, 2001)[:, None]
    hdr = make_coverage_scorer(0.5, region="hdr", n_draws=100)(Exponential(), X)
    central = make_coverage_scorer(0.5, region="central", n_draws=100)(Exponential(), X)
    assert hdr == pytest.approx(-(np.log(2) - 0.5), abs=0.01)
    assert central == pytest.approx(-(1 - np.log(4 / 3) - 0.5), abs=0.01)


class Steps:
    """A piecewise-constant density on [0, 1]^2: 1.6 where x0 < 0.5, 0.4 elsewhere.

    Its log-density takes two values, so the level of an HDR is tied by a whole region:
    the HDR of mass 0.9 is the high half (mass 0.8) and a quarter of the low half.
    """

    def sample(self, n_samples, random_state=None):
        rng = np.random.RandomState(random_state)
        X = rng.uniform(size=(n_samples, 2))
        X[:, 0] = np.where(rng.uniform(size=n_samples) < 0.8, 0.5, 1.0) - X[:, 0] / 2
        return X

    def score_samples(self, X):
        X = np.asarray(X, dtype=float)
        inside = np.all((X >= 0) & (X <= 1), axis=1)
        return np.where(inside, np.log(np.where(X[:, 0] < 0.5, 1.6, 0.4)), -np.inf)


@pytest.mark.parametrize("coverage", [0.5, 0.9])
def test_hdr_coverage_of_a_flat_or_stepped_density_counts_its_level_set_in_part(coverage):
    """A density constant on a region ties every point of it at the level: the region of
    mass ``coverage`` takes that level set in part, so the true model is calibrated."""
    X = Steps().sample(4000, random_state=7)
    # Binomial sd of 4,000 held-out rows: <= 0.008.
    assert make_coverage_scorer(coverage)(Steps(), X) > -0.025

    class Box(IsotropicGaussian):  # uniform on [0, 1]^3: one level everywhere
        def sample(self, n_samples, random_state=None):
            return np.random.RandomState(random_state).uniform(size=(n_samples, 3))

        def score_samples(self, X):
            X = np.asarray(X, dtype=float)
            return np.where(np.all((X >= 0) & (X <= 1), axis=1), 0.0, -np.inf)

    U = np.random.RandomState(8).uniform(size=(4000, 3))
    assert make_coverage_scorer(coverage)(Box(3), U) > -0.025


def test_rare_events_from_an_exact_rarity_rank_an_exact_model_perfectly(held_out):
    radius = lambda X: np.sum(np.asarray(X) ** 2, axis=1)  # noqa: E731 (exact rarity)
    recall = make_rare_event_recall_scorer(rarity=radius)(IsotropicGaussian(3), held_out)
    precision = make_rare_event_precision_scorer(rarity=radius)(IsotropicGaussian(3), held_out)
    assert recall == precision == 1.0


def test_default_kde_events_are_close_to_the_exact_ones(held_out):
    exact = make_rare_event_recall_scorer()(IsotropicGaussian(3), held_out)
    # The KDE of the held-out rows finds most of the exact 5% rarest (measured: 0.775).
    assert exact > 0.7


def test_flat_density_scores_the_chance_level(held_out):
    class Flat(IsotropicGaussian):
        def score_samples(self, X):
            return np.zeros(np.asarray(X).shape[0])

    assert make_rare_event_recall_scorer()(Flat(3), held_out) == pytest.approx(0.05, abs=1e-3)


def test_rarity_callable_in_1d_replaces_the_quantile_rule():
    x = np.random.RandomState(2).standard_normal((2000, 1))
    # |x| beyond its 90% quantile: the same events as 5% per side of a symmetric sample.
    by_rarity = make_rare_event_recall_scorer(tail_fraction=0.1, rarity=np.abs)
    by_quantile = make_rare_event_recall_scorer(tail_fraction=0.05)
    model = IsotropicGaussian(1)
    assert by_rarity(model, x) == pytest.approx(by_quantile(model, x), abs=0.05)


def test_rarity_needs_side_both_and_a_callable():
    with pytest.raises(ValueError, match="side must be 'both'"):
        make_rare_event_recall_scorer(side="upper", rarity=np.abs)
    with pytest.raises(ValueError, match="rarity must be None or a callable"):
        make_rare_event_precision_scorer(rarity="kde")
    with pytest.raises(ValueError, match="region must be one of"):
        make_coverage_scorer(0.9, region="ball")


def test_bad_rarity_output_is_named(held_out):
    scorer = make_rare_event_recall_scorer(rarity=lambda X: np.full(len(X), np.nan))
    with pytest.raises(ValueError, match="rarity must return one finite score"):
        scorer(IsotropicGaussian(3), held_out)


def test_precision_differs_from_recall_for_a_supervised_estimator():
    class Flags:
        def sample_y(self, X, n_draws):
            return np.zeros((len(X), n_draws))

        def rare_events(self, y):
            return (np.asarray(y) > 1).astype(int)

        def predict_rare(self, X):
            return (np.asarray(X)[:, 0] > 0).astype(int)

    X = np.array([[1.0], [1.0], [1.0], [-1.0]])
    y = np.array([2.0, 0.0, 0.0, 2.0])  # rare: rows 0 and 3; flagged: rows 0, 1, 2
    assert make_rare_event_recall_scorer()(Flags(), X, y) == 0.5
    assert make_rare_event_precision_scorer()(Flags(), X, y) == pytest.approx(1 / 3)


def test_fast_kde_matches_scipy_and_subsamples_large_references():
    rng = np.random.RandomState(3)
    points, queries = rng.standard_t(4, size=(800, 3)), 3 * rng.standard_normal((200, 3))
    expected = -gaussian_kde(points.T).logpdf(queries.T)
    np.testing.assert_allclose(kde_rarity(points)(queries), expected, rtol=1e-10)
    big = rng.standard_normal((3 * MAX_KDE_POINTS, 2))
    # Deterministic, and fitted on MAX_KDE_POINTS of the rows (Scott's factor shows it).
    np.testing.assert_array_equal(kde_rarity(big)(queries[:, :2]), kde_rarity(big)(queries[:, :2]))
    subsample = big[np.sort(np.random.RandomState(0).choice(len(big), MAX_KDE_POINTS, False))]
    np.testing.assert_allclose(kde_rarity(big)(queries[:, :2]),
                               -gaussian_kde(subsample.T).logpdf(queries[:, :2].T), rtol=1e-10)


def test_tail_kl_in_five_dimensions_separates_a_wrong_model():
    rng = np.random.RandomState(4)
    x = rng.standard_t(4, size=(20000, 5))
    same = tail_kl_divergence(x, rng.standard_t(4, size=(20000, 5)))
    gaussian = tail_kl_divergence(x, rng.normal(0, x.std(), size=(20000, 5)))
    assert same < 0.05 < 0.3 < gaussian


MULTIVARIATE_SAMPLERS = {
    "qegm": QEGMSampler(max_epochs=3, random_state=0),
    "gan": GANSampler(max_epochs=3, random_state=0),
    "vae": VAESampler(max_epochs=3, random_state=0),
    "diffusion": DiffusionSampler(max_epochs=3, random_state=0),
    "student-t": StudentTSampler(),
    "gpd": GPDTailSampler(),
    "gmm": GaussianMixture(random_state=0),
    "kde": KernelDensity(bandwidth=0.4),
}


@pytest.mark.parametrize("name", MULTIVARIATE_SAMPLERS)
def test_every_scorer_is_finite_in_grid_search_on_two_features(name):
    X = np.random.RandomState(5).standard_t(5, size=(600, 2))
    search = GridSearchCV(MULTIVARIATE_SAMPLERS[name], {}, scoring=SCORERS, refit=False, cv=2,
                          error_score="raise").fit(X)
    for key in SCORERS:
        scores = search.cv_results_[f"mean_test_{key}"]
        assert np.all(np.isfinite(scores)) and np.all(scores <= 1), key


@pytest.mark.parametrize("name", SCORERS)
def test_a_pipeline_without_inverse_is_scored_in_its_last_steps_space(name):
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline

    X = np.random.RandomState(6).standard_t(5, size=(1200, 2))
    encode = ColumnTransformer([("scale", "passthrough", [0, 1])])  # no inverse_transform
    pipe = make_pipeline(encode, GaussianMixture(2, random_state=0)).fit(X[:600])
    last_step = GaussianMixture(2, random_state=0).fit(encode.fit_transform(X[:600]))
    expected = SCORERS[name](last_step, encode.transform(X[600:]))
    assert SCORERS[name](pipe, X[600:]) == expected


def test_a_pipeline_through_a_nonlinear_step_is_ranked_in_the_units_of_the_data():
    # Its score_samples is a density of log(X), without the Jacobian 1 / prod(x): a
    # lognormal model ranked by it scored a recall of 0.45 on exact events, where its
    # density in the units of X scores 0.925; a KDE of its draws (mapped back) 0.85.
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    from skqegm.pipeline import make_pipeline

    X = np.exp(np.random.RandomState(3).standard_normal((1600, 2)))
    exact = make_rare_event_recall_scorer(
        rarity=lambda Z: np.sum(np.log(Z) + np.log(Z) ** 2 / 2, axis=1))
    log_model = make_pipeline(FunctionTransformer(np.log, np.exp),
                              GaussianMixture(1, random_state=0)).fit(X[:800])
    assert exact(log_model, X[800:]) > 0.8
    # scikit-learn's pipeline hides sample: refused (it scored 0.45), naming the remedy
    from sklearn.pipeline import make_pipeline as sklearn_make_pipeline

    hidden = sklearn_make_pipeline(*[step for _, step in log_model.steps])
    with pytest.raises(TypeError, match="density of the transformed data.*make_pipeline"):
        exact(hidden, X[800:])
    # An affine scaler changes no ranking: the pipeline keeps its score_samples.
    scaled = make_pipeline(StandardScaler(), GaussianMixture(1, random_state=0)).fit(X[:800])

    class ByScoreSamples:  # not a pipeline: ranked by its score_samples
        score_samples, sample = scaled.score_samples, scaled.sample

    assert exact(scaled, X[800:]) == exact(ByScoreSamples(), X[800:])


def test_tail_kl_warns_when_every_model_tail_draw_is_beyond_the_data():
    rng = np.random.RandomState(7)
    lattice = rng.randint(0, 2, size=(1500, 6)).astype(float)  # one-hot-like rows
    off_lattice = lattice + 0.3 * rng.standard_normal(lattice.shape)  # a continuous model
    with pytest.warns(UserWarning, match="score saturates"):
        tail_kl_divergence(lattice, off_lattice)


def test_tail_kl_scorer_takes_a_rarity(held_out):
    radius = lambda X: np.sum(np.asarray(X) ** 2, axis=1)  # noqa: E731
    scorer = make_tail_kl_scorer(rarity=radius, n_draws=2)
    exact = scorer(IsotropicGaussian(3), held_out)
    wide = scorer(IsotropicGaussian(3, scale=1.5), held_out)
    assert wide < exact <= 0
    with pytest.raises(ValueError, match="side must be 'both'"):
        make_tail_kl_scorer(rarity=radius, side="upper")


def test_weighted_hdr_coverage_of_a_stepped_density_equals_repeated_rows():
    # The tied level set counts in part for weighted rows too: integer weights are rows
    # repeated (the two changes, weights and ties, meet in one share).
    X = Steps().sample(400, random_state=3)
    weights = np.random.RandomState(4).randint(0, 4, size=400)
    scorer = make_coverage_scorer(0.9, n_draws=50)
    weighted = scorer(Steps(), X, sample_weight=weights)
    rows = np.repeat(X, weights, 0)  # about as many draws as the weighted call's 20,000
    repeated = make_coverage_scorer(0.9, n_draws=20000 // len(rows) + 1)(Steps(), rows)
    # The exact region: the high half and half of the low half's mass (0.8 + 0.1).
    share = np.average(np.where(X[:, 0] < 0.5, 1.0, 0.5), weights=weights)
    assert weighted == pytest.approx(-abs(share - 0.9), abs=0.02)
    assert weighted == pytest.approx(repeated, abs=0.02)
