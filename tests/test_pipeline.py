import numpy as np
import pytest
import sklearn
import sklearn.pipeline
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.feature_selection import VarianceThreshold
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KernelDensity
from sklearn.preprocessing import (
    FunctionTransformer,
    MinMaxScaler,
    Normalizer,
    StandardScaler,
)

from skqegm import QEGMSampler, TailRiskEstimator
from skqegm.datasets import make_tail_mixture
from skqegm.metrics import SCORERS
from skqegm.pipeline import Pipeline, make_pipeline
from skqegm.preprocessing import make_tail_pipeline

TAIL_METHODS = ["sample_y", "predict_interval", "predict_quantiles", "predict_var",
                "predict_es", "predict_rare", "predict_tail_proba", "rare_events"]


def _small_sampler(**params):
    return QEGMSampler(max_epochs=3, hidden_layer_sizes=(8,), early_stopping=False,
                       random_state=0, **params)


def _small_tail_risk(**params):
    return TailRiskEstimator(max_epochs=3, hidden_layer_sizes=(8,), early_stopping=False,
                             random_state=0, **params)


def _regression_data(n=600, seed=0):
    # Features far from zero mean and unit scale, so that forgetting to transform X
    # would change every prediction.
    rng = np.random.default_rng(seed)
    X = rng.normal([100.0, -40.0], [10.0, 0.5], size=(n, 2))
    z = (X - [100.0, -40.0]) / [10.0, 0.5]
    y = 0.5 * z[:, 0] + (1 + 0.5 * np.abs(z[:, 1])) * rng.standard_t(4, size=n)
    return X, y


@pytest.fixture(scope="module")
def tail_risk_pipeline():
    X, y = _regression_data()
    return make_tail_pipeline(_small_tail_risk(tail_fraction=0.1)).fit(X, y), X, y


class CountingSampler(BaseEstimator):
    """Draws zeros and counts its sample calls."""

    def fit(self, X, y=None):
        self.n_features_in_ = np.asarray(X).shape[1]
        self.calls_ = 0
        return self

    def sample(self, n_samples=1):
        self.calls_ += 1
        return np.zeros((n_samples, self.n_features_in_))


# --- construction -----------------------------------------------------------------------


def test_make_pipeline_mirrors_sklearn():
    steps = [StandardScaler(), StandardScaler(), KernelDensity()]
    pipe = make_pipeline(*steps, memory=None, verbose=True)
    reference = sklearn.pipeline.make_pipeline(*steps, verbose=True)
    assert type(pipe) is Pipeline and isinstance(pipe, sklearn.pipeline.Pipeline)
    assert [name for name, _ in pipe.steps] == [name for name, _ in reference.steps]
    assert pipe.verbose is True and pipe.memory is None and pipe.transform_input is None
    assert type(pipe[:-1]) is Pipeline and type(clone(pipe)) is Pipeline
    assert pipe.get_params()["kerneldensity__bandwidth"] == 1.0


def test_make_tail_pipeline_returns_this_pipeline():
    pipe = make_tail_pipeline(KernelDensity())
    assert type(pipe) is Pipeline
    assert [name for name, _ in pipe.steps] == ["preprocess", "estimator"]


def test_methods_exist_only_when_the_last_step_has_them():
    kde_pipe = make_pipeline(StandardScaler(), KernelDensity())
    tail_pipe = make_pipeline(StandardScaler(), _small_tail_risk())
    for method in TAIL_METHODS:
        assert not hasattr(kde_pipe, method)
        assert hasattr(tail_pipe, method)
    assert hasattr(kde_pipe, "sample") and hasattr(kde_pipe, "score_samples")
    assert not hasattr(tail_pipe, "sample")
    assert not hasattr(make_pipeline(StandardScaler()), "sample")
    assert not hasattr(Pipeline([("skip", "passthrough")]), "sample_y")


# --- sample ---------------------------------------------------------------------------


def test_sample_maps_draws_back_to_the_units_of_the_data():
    rng = np.random.default_rng(0)
    X = rng.normal([50.0, -20.0], [3.0, 0.5], size=(600, 2))
    pipe = make_tail_pipeline(_small_sampler()).fit(X)
    draws = pipe.sample(5000, random_state=0)
    assert draws.shape == (5000, 2)
    np.testing.assert_array_less(np.abs(draws.mean(axis=0) - X.mean(axis=0)),
                                 0.25 * X.std(axis=0))
    ratio = draws.std(axis=0) / X.std(axis=0)
    assert np.all((ratio > 0.8) & (ratio < 1.25))
    np.testing.assert_array_equal(draws, pipe.sample(5000, random_state=0))
    assert not np.array_equal(draws, pipe.sample(5000, random_state=1))
    expected = pipe[0].inverse_transform(pipe[-1].sample(5000, random_state=0))
    np.testing.assert_allclose(draws, expected)


def test_sample_inverts_the_steps_last_first():
    X = np.random.default_rng(1).normal(10.0, 2.0, size=(400, 1))
    pipe = make_pipeline(MinMaxScaler(), StandardScaler(), KernelDensity(bandwidth=0.1))
    pipe.fit(X)
    draws = pipe.sample(200, random_state=3)
    inner = pipe[-1].sample(200, random_state=3)
    np.testing.assert_allclose(draws, pipe[0].inverse_transform(pipe[1].inverse_transform(inner)))
    assert 0 < draws.mean() and abs(draws.mean() - 10.0) < 1.0


def test_sample_with_kernel_density_passes_random_state():
    X = np.random.default_rng(2).normal(-5.0, 4.0, size=(300, 1))
    pipe = make_pipeline(StandardScaler(), KernelDensity(bandwidth=0.3)).fit(X)
    draws = pipe.sample(1000, random_state=7)
    kde_draws = pipe[-1].sample(1000, random_state=7)
    np.testing.assert_allclose(draws, pipe[0].inverse_transform(kde_draws))
    assert abs(draws.mean() + 5.0) < 0.5 and abs(draws.std() / 4.0 - 1) < 0.15


def test_sample_with_gaussian_mixture_returns_mapped_draws_and_labels():
    rng = np.random.default_rng(3)
    X = np.vstack([rng.normal(0.0, 1.0, (200, 2)), rng.normal(100.0, 1.0, (200, 2))])
    pipe = make_pipeline(StandardScaler(), GaussianMixture(2, random_state=0)).fit(X)
    draws, labels = pipe.sample(300, random_state=123)  # ignored: GaussianMixture has none
    mixture_draws, mixture_labels = pipe[-1].sample(300)
    np.testing.assert_allclose(draws, pipe[0].inverse_transform(mixture_draws))
    np.testing.assert_array_equal(labels, mixture_labels)
    means = [draws[labels == k].mean() for k in np.unique(labels)]
    assert sorted(np.round(means, -1)) == [0.0, 100.0]  # the data's units, not z-scores


class KeywordSampler(BaseEstimator):
    """Records the keyword arguments its sample receives."""

    def fit(self, X, y=None):
        self.received_ = []
        return self

    def sample(self, n_samples=1, **kwargs):
        self.received_.append(kwargs)
        return np.ones((n_samples, 1))


class KeywordOnlySeedSampler(KeywordSampler):
    def sample(self, n_samples=1, *, random_state=None):
        self.received_.append({"random_state": random_state})
        return np.ones((n_samples, 1))


def test_random_state_goes_only_to_a_named_parameter():
    X = np.arange(10.0).reshape(-1, 1)
    catch_all = make_pipeline(StandardScaler(), KeywordSampler()).fit(X)
    catch_all.sample(3, random_state=5)
    assert catch_all[-1].received_ == [{}]  # **kwargs might forward it anywhere
    keyword_only = make_pipeline(StandardScaler(), KeywordOnlySeedSampler()).fit(X)
    draws = keyword_only.sample(3, random_state=5)
    assert keyword_only[-1].received_ == [{"random_state": 5}]
    np.testing.assert_allclose(draws, keyword_only[0].inverse_transform(np.ones((3, 1))))


def test_passthrough_steps_are_skipped():
    X = np.random.default_rng(4).normal(30.0, 3.0, size=(200, 1))
    pipe = Pipeline([("scale", StandardScaler()), ("skip", "passthrough"), ("none", None),
                     ("kde", KernelDensity(bandwidth=0.2))]).fit(X)
    draws = pipe.sample(500, random_state=0)
    np.testing.assert_allclose(draws, pipe[0].inverse_transform(pipe[-1].sample(
        500, random_state=0)))


def test_a_step_without_inverse_transform_is_a_clear_type_error():
    X = np.random.default_rng(5).normal(size=(50, 2)) + 3
    pipe = make_pipeline(StandardScaler(), Normalizer(), CountingSampler()).fit(X)
    with pytest.raises(TypeError, match=r"step 'normalizer' \(Normalizer\) has no "
                                        "inverse_transform"):
        pipe.sample(10)
    assert pipe[-1].calls_ == 0  # checked before drawing
    X[:, 0] = np.arange(50) % 3  # a categorical column
    intrusion = make_tail_pipeline(KernelDensity(), kind="intrusion",
                                   categorical_features=[0]).fit(X)
    with pytest.raises(TypeError, match=r"step 'preprocess' \(ColumnTransformer\)"):
        intrusion.sample(10)


def test_a_function_transformer_without_inverse_func_is_one_way():
    # Its inverse_transform is the identity: draws came back as logarithms of the data.
    X = np.random.default_rng(6).lognormal(3.0, 0.2, size=(400, 1))
    one_way = make_pipeline(FunctionTransformer(np.log), KernelDensity(bandwidth=0.05)).fit(X)
    with pytest.raises(TypeError, match=r"step 'functiontransformer' \(FunctionTransformer\) "
                                        "has no inverse_transform"):
        one_way.sample(10)
    nested = Pipeline([("logs", sklearn.pipeline.make_pipeline(FunctionTransformer(np.log))),
                       ("kde", KernelDensity(bandwidth=0.05))]).fit(X)
    with pytest.raises(TypeError, match="step 'logs'"):
        nested.sample(10)
    two_way = make_pipeline(FunctionTransformer(np.log, np.exp),
                            KernelDensity(bandwidth=0.05)).fit(X)
    assert 10 < np.median(two_way.sample(2000, random_state=0)) < 40  # e**3 = 20, not 3
    identity = make_pipeline(FunctionTransformer(), KernelDensity(bandwidth=0.05)).fit(X)
    assert identity.sample(5, random_state=0).shape == (5, 1)
    # The scorers score a one-way pipeline where its last step lives, in logarithms.
    X_te = np.random.default_rng(7).lognormal(3.0, 0.2, size=(400, 1))
    for scorer in SCORERS.values():
        assert scorer(one_way, X_te) == scorer(one_way[-1], np.log(X_te))


def test_a_feature_selector_that_dropped_columns_is_one_way():
    # Its inverse_transform fills the dropped columns with zeros: a constant column of 5
    # came back as 0 in every draw.
    rng = np.random.default_rng(8)
    X = np.column_stack([rng.normal(10.0, 1.0, size=300), np.full(300, 5.0)])
    dropping = make_pipeline(VarianceThreshold(), KernelDensity()).fit(X)
    with pytest.raises(TypeError, match=r"step 'variancethreshold' \(VarianceThreshold\) has "
                                        "no inverse_transform"):
        dropping.sample(10)
    for scorer in SCORERS.values():  # scored where the last step lives
        assert scorer(dropping, X) == scorer(dropping[-1], X[:, :1])
    keeping = make_pipeline(VarianceThreshold(), KernelDensity()).fit(X[:, :1])
    assert keeping.sample(5, random_state=0).shape == (5, 1)


def test_sample_needs_a_fitted_pipeline():
    with pytest.raises(NotFittedError):
        make_pipeline(StandardScaler(), KernelDensity()).sample(5)


# --- the tail API -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, args, kwargs",
    [
        ("predict_var", (), {}),
        ("predict_var", (0.95,), {}),
        ("predict_es", (), {}),
        ("predict_es", (), {"level": 0.9}),
        ("predict_interval", (), {}),
        ("predict_interval", (0.5,), {}),
        ("predict_quantiles", ([0.05, 0.5, 0.95],), {}),
        ("predict_rare", (), {}),
        ("predict_tail_proba", (), {}),
        ("sample_y", (), {"n_draws": 4, "random_state": 0}),
        ("predict", (), {}),
    ],
)
def test_tail_methods_equal_the_last_step_on_transformed_x(tail_risk_pipeline, method, args,
                                                           kwargs):
    pipe, X, _ = tail_risk_pipeline
    got = getattr(pipe, method)(X[:50], *args, **kwargs)
    expected = getattr(pipe[-1], method)(pipe[0].transform(X[:50]), *args, **kwargs)
    np.testing.assert_array_equal(got, expected)


def test_tail_methods_transform_x(tail_risk_pipeline):
    pipe, X, _ = tail_risk_pipeline
    raw = pipe[-1].predict_var(X[:50])  # untransformed features: another prediction
    assert not np.allclose(pipe.predict_var(X[:50]), raw)


def test_sample_y_is_reproducible_and_seeded(tail_risk_pipeline):
    pipe, X, _ = tail_risk_pipeline
    first = pipe.sample_y(X[:20], 5, random_state=0)
    assert first.shape == (20, 5)
    np.testing.assert_array_equal(first, pipe.sample_y(X[:20], 5, random_state=0))
    assert not np.array_equal(first, pipe.sample_y(X[:20], 5, random_state=1))


def test_defaults_left_out_are_the_last_step_s_own():
    # n_draws=None was passed on: the baselines' sample_y (n_draws=1000) refused it.
    from skqegm.baselines import HistoricalSimulation

    r = np.random.default_rng(4).standard_t(4, size=300) / 100
    X, y = r[:-1, None], r[1:]
    pipe = make_pipeline(FunctionTransformer(), HistoricalSimulation(window=100)).fit(X, y)
    draws = pipe.sample_y(X[:5], random_state=0)
    np.testing.assert_array_equal(draws, pipe[-1].sample_y(X[:5], random_state=0))
    assert draws.shape == (5, 1000)

    class Defaults(BaseEstimator):
        def fit(self, X, y=None):
            self.n_features_in_ = np.asarray(X).shape[1]
            return self

        def sample_y(self, X, n_draws=3):
            return np.zeros((len(X), n_draws))

        def predict_interval(self, X, coverage=0.8):
            return np.full((len(X), 2), coverage)

        def predict_quantiles(self, X, quantiles):
            return np.tile(np.atleast_1d(quantiles), (len(X), 1))

        def predict_var(self, X, level=0.9):  # the pipeline's level=0.99 overrode it
            return np.full(len(X), level)

        def predict_es(self, X, level=0.9):
            return np.full(len(X), 1 + level)

    pipe = make_pipeline(StandardScaler(), Defaults()).fit(X)
    assert pipe.sample_y(X[:4]).shape == (4, 3)
    np.testing.assert_array_equal(pipe.predict_interval(X[:2]), 0.8)
    np.testing.assert_array_equal(pipe.predict_interval(X[:2], 0.5), 0.5)
    np.testing.assert_array_equal(pipe.predict_quantiles(X[:2], [0.1, 0.2]), [[0.1, 0.2]] * 2)
    np.testing.assert_array_equal(pipe.predict_var(X[:2]), 0.9)
    np.testing.assert_array_equal(pipe.predict_es(X[:2]), 1.9)
    np.testing.assert_array_equal(pipe.predict_var(X[:2], 0.95), 0.95)
    np.testing.assert_array_equal(pipe.predict_es(X[:2], level=0.95), 1.95)
    X2, y2 = _regression_data(100)
    fitted = make_tail_pipeline(_small_tail_risk()).fit(X2, y2)
    with pytest.raises(ValueError, match="level"):  # None is passed on, not left out
        fitted.predict_var(X2[:2], None)


def test_an_explicit_none_is_passed_on_as_the_last_step_would_take_it():
    # One rule for every forwarded argument: given (None too) it is passed on, omitted it
    # is left out. sample_y(X, None) drew the baselines' 1,000 where the baseline alone
    # refuses None, and predict_interval(X, None) differed from predict_var(X, None).
    from skqegm.baselines import HistoricalSimulation

    r = np.random.default_rng(4).standard_t(4, size=300) / 100
    X, y = r[:-1, None], r[1:]
    pipe = make_pipeline(FunctionTransformer(), HistoricalSimulation(window=100)).fit(X, y)
    with pytest.raises(ValueError, match="n_draws") as alone:
        pipe[-1].sample_y(X[:5], None)
    with pytest.raises(ValueError, match="n_draws") as through:
        pipe.sample_y(X[:5], None)
    assert str(through.value) == str(alone.value)

    seen = []

    class Records(BaseEstimator):
        def fit(self, X, y=None):
            self.n_features_in_ = np.asarray(X).shape[1]
            return self

        def sample_y(self, X, n_draws=3):
            seen.append(n_draws)
            return np.zeros((len(X), n_draws or 2))

        def predict_interval(self, X, coverage=0.8):
            seen.append(coverage)
            return np.full((len(X), 2), coverage or 0.5)

    pipe = make_pipeline(StandardScaler(), Records()).fit(X)
    pipe.sample_y(X[:2], None)
    pipe.predict_interval(X[:2], None)
    pipe.sample_y(X[:2])
    pipe.predict_interval(X[:2])
    assert seen == [None, None, 3, 0.8]
    X2, y2 = _regression_data(100)
    fitted = make_tail_pipeline(_small_tail_risk()).fit(X2, y2)  # None: the model's default
    np.testing.assert_array_equal(fitted.predict_interval(X2[:3], None),
                                  fitted[-1].predict_interval(fitted[:-1].transform(X2[:3])))


def test_rare_events_passes_y_unchanged(tail_risk_pipeline):
    pipe, _, y = tail_risk_pipeline
    flags = pipe.rare_events(y)
    np.testing.assert_array_equal(flags, pipe[-1].rare_events(y))
    np.testing.assert_array_equal(flags, (y < pipe[-1].tail_threshold_[0, 0]).astype(int))
    assert 0.05 < flags.mean() < 0.15  # the 10% tail of the training y


def test_score_samples_and_score_are_sklearn_s():
    X = np.random.default_rng(6).normal(20.0, 5.0, size=(200, 1))
    pipe = make_pipeline(StandardScaler(), KernelDensity(bandwidth=0.4)).fit(X)
    expected = pipe[-1].score_samples(pipe[0].transform(X))
    np.testing.assert_allclose(pipe.score_samples(X), expected)
    assert pipe.score(X) == pytest.approx(expected.sum())


def test_metadata_routing_is_kept():
    X = np.random.default_rng(7).normal(size=(100, 1))
    weights = np.r_[np.ones(50), np.zeros(50)]
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(StandardScaler().set_fit_request(sample_weight=True),
                             KernelDensity().set_fit_request(sample_weight=True))
        pipe.fit(X, sample_weight=weights)
    assert pipe[0].mean_[0] == pytest.approx(X[:50].mean())


# --- scorers and model selection ---------------------------------------------------------


def test_grid_search_over_a_tail_pipeline_of_qegm_samplers():
    X, _ = make_tail_mixture(800, random_state=0)
    search = GridSearchCV(make_tail_pipeline(_small_sampler()),
                          {"estimator__latent": ["quantum", "gaussian"]}, scoring=SCORERS,
                          refit="neg_tail_kl", cv=2, error_score="raise")
    search.fit(X)
    for name in SCORERS:
        for column in ["mean_test", "split0_test", "split1_test"]:
            assert np.all(np.isfinite(search.cv_results_[f"{column}_{name}"])), (column, name)
    assert np.all(search.cv_results_["mean_test_neg_tail_kl"] <= 0)
    assert search.best_estimator_.sample(10, random_state=0).shape == (10, 1)


@pytest.mark.parametrize("name", list(SCORERS))
def test_scorers_score_a_pipeline_as_its_last_step_on_transformed_x(tail_risk_pipeline, name):
    pipe, X, y = tail_risk_pipeline
    X_te, y_te = _regression_data(300, seed=1)
    score = SCORERS[name](pipe, X_te, y_te)
    assert np.isfinite(score)
    assert score == SCORERS[name](pipe[-1], pipe[0].transform(X_te), y_te)


def test_sample_without_a_seed_is_the_samplers_own_rule():
    # random_state=None reaches the last step, whose None means its own random_state:
    # an int there makes the pipeline's draws reproducible (they were fresh at each call).
    X = make_tail_mixture(400, random_state=0)[0]
    pipe = make_pipeline(StandardScaler(), QEGMSampler(max_epochs=2, hidden_layer_sizes=(8,),
                                                       random_state=0)).fit(X)
    np.testing.assert_array_equal(pipe.sample(5), pipe.sample(5))
    np.testing.assert_array_equal(pipe.sample(5), pipe.sample(5, random_state=0))
    assert not np.allclose(pipe.sample(5), pipe.sample(5, random_state=1))
