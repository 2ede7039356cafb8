"""skqegm with pandas 3 input: column names and order, nullable and string dtypes, time
zones, copy-on-write, and ``set_output(transform="pandas")`` through scikit-learn's
composites."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.neighbors import KernelDensity
from sklearn.pipeline import FeatureUnion
from sklearn.preprocessing import QuantileTransformer, StandardScaler

from skqegm import TailRiskEstimator
from skqegm.baselines import GARCHRiskEstimator, GPDTailSampler
from skqegm.metrics import SCORERS
from skqegm.pipeline import make_pipeline
from skqegm.preprocessing import (
    QuantileTailLabeler,
    SigmaThresholdLabeler,
    log_returns,
    make_lagged_features,
    make_tail_labels,
    make_tail_pipeline,
)
from skqegm.quantum import EstimatorTransformer, SamplerTransformer

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
FAST = dict(max_epochs=3, hidden_layer_sizes=(8,), random_state=0, latent="gaussian")


def two_scales(n=1000, seed=0):
    """Two columns on very different scales: swapping them is never harmless."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.normal(0, 1, n), "b": rng.normal(100, 30, n)})


@pytest.mark.parametrize("model", [
    GPDTailSampler(),
    make_pipeline(QuantileTransformer(n_quantiles=100, output_distribution="normal"),
                  KernelDensity(bandwidth=0.3)),
], ids=["GPDTailSampler", "non-affine pipeline"])
@pytest.mark.parametrize("name", ["neg_tail_kl", "rare_event_recall", "neg_coverage_error"])
def test_unsupervised_scorers_refuse_columns_other_than_the_fitted_ones(model, name):
    # The tail KL compared draws with the held-out columns by position, without passing X
    # to the model: swapped columns scored -6.3 instead of -0.06 for the GPD sampler, and
    # the recall of the pipeline (ranked by a KDE of its draws) fell from 0.88 to 0.22,
    # silently; scikit-learn refuses such X in every method.
    X = two_scales()
    model.fit(X)
    scorer = SCORERS[name]
    good = scorer(model, X)
    assert np.isfinite(good)
    for wrong in (X[["b", "a"]], X.set_axis(["x", "y"], axis=1)):
        with pytest.raises(ValueError, match="feature names|are not those"):
            scorer(model, wrong)
    assert scorer(model, X.to_numpy()) == good  # no names: by position, as scikit-learn


def test_a_pipeline_that_selects_columns_by_name_still_takes_them_in_any_order():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"dur": rng.exponential(size=400), "proto": rng.choice(["tcp", "udp"], 400),
                      "bytes": rng.normal(size=400)})
    from sklearn.mixture import GaussianMixture

    pipe = make_tail_pipeline(GaussianMixture(2, random_state=0), kind="intrusion").fit(X)
    shuffled = X[["bytes", "proto", "dur"]]
    for scorer in SCORERS.values():
        assert scorer(pipe, shuffled) == scorer(pipe, X)


def test_labelers_in_column_transformer_and_feature_union_keep_pandas_names_and_ints():
    X = two_scales(200)
    union = FeatureUnion([("sigma", SigmaThresholdLabeler(k=1.0)),
                          ("quantile", QuantileTailLabeler(tail_fraction=0.1))])
    out = union.set_output(transform="pandas").fit_transform(X)
    assert list(out.columns) == ["sigma__a", "sigma__b", "quantile__a", "quantile__b"]
    assert all(dtype == np.int64 for dtype in out.dtypes)
    assert out.index.equals(X.index)
    assert out["quantile__b"].sum() == 20  # the 10% above the 90th percentile
    ct = ColumnTransformer([("flags", SigmaThresholdLabeler(k=1.0), ["b"]),
                            ("scaled", StandardScaler(), ["a"])]).set_output(transform="pandas")
    frame = ct.fit_transform(X)
    assert list(frame.columns) == ["flags__b", "scaled__a"]
    np.testing.assert_array_equal(frame["flags__b"], SigmaThresholdLabeler(k=1.0)
                                  .fit_transform(X[["b"]]).ravel())


def test_nullable_dtypes_are_read_as_floats_and_missing_values_refused():
    X = two_scales(200)
    labeler = SigmaThresholdLabeler(k=1.0)
    np.testing.assert_array_equal(labeler.fit(X.astype("Float64")).tail_threshold_,
                                  labeler.fit(X).tail_threshold_)
    with_na = X.astype("Float64")
    with_na.iloc[3, 0] = pd.NA
    for model in (SigmaThresholdLabeler(), GPDTailSampler(), TailRiskEstimator(**FAST)):
        with pytest.raises(ValueError, match="NaN"):
            model.fit(with_na, np.zeros(len(X)))
    y = np.random.default_rng(1).standard_t(4, size=len(X))
    plain = TailRiskEstimator(**FAST).fit(X, y).predict_var(X)
    nullable = TailRiskEstimator(**FAST).fit(X.astype("Float64"), pd.Series(y, dtype="Float64"))
    np.testing.assert_allclose(nullable.predict_var(X.astype("Float64")), plain)


def test_a_tail_risk_pipeline_selects_pandas_columns_by_name():
    X = two_scales(300).assign(noise=np.random.default_rng(2).normal(size=300))
    y = X["a"].to_numpy() + np.random.default_rng(3).standard_t(4, size=300)
    ct = ColumnTransformer([("scaled", StandardScaler(), ["a", "b"])])
    pipe = make_pipeline(ct.set_output(transform="pandas"), TailRiskEstimator(**FAST)).fit(X, y)
    assert list(pipe[-1].feature_names_in_) == ["scaled__a", "scaled__b"]
    shuffled = X[["noise", "b", "a"]]
    for method in ("predict_var", "predict_es", "predict_interval", "predict_tail_proba"):
        np.testing.assert_array_equal(getattr(pipe, method)(shuffled), getattr(pipe, method)(X))
    with pytest.raises(ValueError, match="same order"):  # the model alone refuses them
        TailRiskEstimator(**FAST).fit(X, y).predict(shuffled)


def test_quantum_transformers_in_a_feature_union_keep_names_and_index():
    X = two_scales(20).set_index(pd.Index(np.arange(20) + 1000))
    union = FeatureUnion([("p", SamplerTransformer(n_layers=1, random_state=0)),
                          ("z", EstimatorTransformer(n_layers=1, random_state=0))])
    out = union.set_output(transform="pandas").fit_transform(X)
    assert list(out.columns) == ["p__p_00", "p__p_01", "p__p_10", "p__p_11", "z__z_0", "z__z_1"]
    assert out.index.equals(X.index)
    np.testing.assert_allclose(out.filter(like="p__").sum(axis=1), 1.0)


@pytest.mark.parametrize("transformer", [SamplerTransformer, EstimatorTransformer])
def test_quantum_transformers_take_a_copy_on_write_frame_without_a_torch_warning(transformer):
    # pandas 3 hands out read-only views: torch.from_numpy warned "The given NumPy array
    # is not writable ... undefined behavior" from inside skqegm. torch warns once per
    # process, so this fails on the old code only where nothing warned before it.
    X = two_scales(20)
    assert not np.asarray(X).flags.writeable
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = transformer(n_layers=1, random_state=0).fit_transform(X)
    np.testing.assert_allclose(out, transformer(n_layers=1, random_state=0)
                               .fit_transform(X.to_numpy(copy=True)))


def test_lagged_features_keep_a_time_zone_and_leave_the_input_unchanged():
    index = pd.date_range("2024-03-25", periods=40, freq="D", tz="Europe/Paris")  # DST
    r = pd.Series(np.random.default_rng(0).normal(0, 0.01, 40), index=index, name="r")
    before = r.copy()
    X, y = make_lagged_features(r, lags=(1, 2), vol_windows=(5,))
    assert X.index.equals(index[5:]) and y.index.equals(index[5:]) and y.name == "r"
    assert X.loc[index[10], "lag_2"] == r.loc[index[8]]
    pd.testing.assert_series_equal(r, before)


def test_a_global_pandas_output_leaves_every_forecast_and_score_unchanged():
    # skqegm uses scikit-learn transformers inside (scalers, KDEs); a user's global
    # set_config(transform_output="pandas") must not reach them.
    import sklearn

    from skqegm import FilteredRiskEstimator
    from skqegm.metrics import RISK_SCORERS

    rng = np.random.default_rng(0)
    r = rng.standard_t(4, size=301) / 100
    X, y = np.column_stack([r[:-1], np.abs(r[:-1])]), r[1:]
    samples = rng.standard_t(4, size=(300, 2))

    def results():
        models = [TailRiskEstimator(**FAST), GARCHRiskEstimator(method="evt"),
                  FilteredRiskEstimator(TailRiskEstimator(**FAST))]
        out = [m.fit(X, y).predict_var(X) for m in models]
        out += [s(models[0], X, y) for s in (*SCORERS.values(), *RISK_SCORERS.values())]
        sampler = make_pipeline(StandardScaler(), GPDTailSampler()).fit(samples)
        out += [sampler.sample(5, random_state=0), sampler.score_samples(samples)]
        return out + [s(sampler, samples) for s in SCORERS.values()]

    default = results()
    with sklearn.config_context(transform_output="pandas"):
        for got, expected in zip(results(), default):
            assert isinstance(got, (float, np.ndarray)), type(got)
            np.testing.assert_array_equal(got, expected)


def price_table():
    """A price file as pandas reads it with parse_dates: a date column beside the prices."""
    import io

    csv = "Date,Close\n2024-01-02,100\n2024-01-03,101\n2024-01-04,99\n2024-01-05,102\n"
    return pd.read_csv(io.StringIO(csv), parse_dates=["Date"])


def test_dates_are_refused_where_numbers_are_due():
    # numpy casts dates to counts of their unit: log_returns of the date column returned
    # "returns" of 5.1e-5 a day and a labeler fitted on it a threshold of 1.7e15, silently;
    # a table mixing dates and prices failed deep in numpy (DTypePromotionError).
    table = price_table()
    with pytest.raises(ValueError, match="column 'Date' holds dates.*set_index"):
        log_returns(table)
    with pytest.raises(ValueError, match="prices must hold real numbers; got dates"):
        log_returns(table["Date"])
    np.testing.assert_allclose(log_returns(table.set_index("Date"))["Close"],
                               np.diff(np.log([100.0, 101.0, 99.0, 102.0])))
    days = pd.Series(pd.date_range("2024-01-01", periods=40, tz="Europe/Paris"))
    durations = pd.Series(pd.to_timedelta(np.arange(40), "D"))
    for values, what in ((days, "dates"), (durations, "durations"),
                         (days.to_numpy(dtype="datetime64[ns]"), "dates")):
        with pytest.raises(ValueError, match=f"got {what}"):
            make_lagged_features(values)
        with pytest.raises(ValueError, match=f"y must hold real numbers; got {what}"):
            make_tail_labels(values)
    # TailRiskEstimator fitted on dates forecast a VaR of -1.7e15, silently; the return
    # baselines and the filtered model failed deep in numpy.
    X = np.random.default_rng(0).normal(size=(40, 2))
    for model in (TailRiskEstimator(**FAST), GARCHRiskEstimator()):
        with pytest.raises(ValueError, match="y must hold real numbers; got dates"):
            model.fit(X, days)
    frame = pd.DataFrame({"x": np.arange(40.0), "when": days})
    for labeler in (SigmaThresholdLabeler(), QuantileTailLabeler()):
        with pytest.raises(ValueError, match="column 'when' holds dates"):
            labeler.fit(frame)
        labeler.fit(frame[["x"]])
        with pytest.raises(ValueError, match="column 'x' holds dates"):
            labeler.transform(frame[["x"]].assign(x=days))
