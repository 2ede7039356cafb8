"""The plots render to a file and draw what they say."""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot  # noqa: E402 (figures are closed through it, whichever test runs first)
from sklearn.linear_model import Ridge  # noqa: E402
from sklearn.mixture import GaussianMixture  # noqa: E402

from skqegm.baselines import GANSampler  # noqa: E402
from skqegm.datasets import make_tail_mixture  # noqa: E402
from skqegm.plotting import (  # noqa: E402
    plot_coverage_calibration,
    plot_return_levels,
    plot_tail_density,
    plot_var_backtest,
)

PNG = b"\x89PNG\r\n\x1a\n"


def _saved(ax, path):
    ax.figure.savefig(path)
    matplotlib.pyplot.close(ax.figure)
    return path.read_bytes()[:8] == PNG


def test_tail_density_draws_densities_and_kde_of_draws(tmp_path):
    X, _ = make_tail_mixture(3000, random_state=0)
    gmm = GaussianMixture(3, random_state=0).fit(X)
    gan = GANSampler(hidden_layer_sizes=(8,), max_epochs=1, random_state=0).fit(X)
    ax = plot_tail_density(X, {"gmm": gmm, "gan": gan}, side="lower", tail_fraction=0.1,
                           log=True)
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["data", "gmm", "gan (KDE of draws)", "tail regions (10% per side)"]
    gmm_line = ax.get_lines()[0]
    grid, density = gmm_line.get_data()
    np.testing.assert_allclose(density, np.exp(gmm.score_samples(grid.reshape(-1, 1))))
    # One shaded region, ending at the data's 10% quantile.
    spans = [p for p in ax.patches if p.get_label().startswith("tail regions")]
    assert len(spans) == 1
    assert spans[0].get_x() + spans[0].get_width() == pytest.approx(np.quantile(X, 0.1))
    assert ax.get_yscale() == "log"
    assert _saved(ax, tmp_path / "density.png")


def test_coverage_calibration_draws_means_with_intervals(tmp_path):
    runs = np.array([[0.78, 0.88, 0.96], [0.82, 0.90, 0.94], [0.80, 0.92, 0.95]])
    ax = plot_coverage_calibration([0.8, 0.9, 0.95], {"a": runs, "b": [0.7, 0.85, 0.9]},
                                   title="calibration")
    assert ax.get_legend_handles_labels()[1] == ["ideal", "a", "b"]
    means = ax.get_lines()[1].get_ydata()
    np.testing.assert_allclose(means, runs.mean(axis=0))
    assert ax.get_title() == "calibration"
    assert _saved(ax, tmp_path / "coverage.png")
    with pytest.raises(ValueError, match=r"empirical\['a'\] has 2 levels; nominal has 3"):
        plot_coverage_calibration([0.8, 0.9, 0.95], {"a": [0.8, 0.9]})


def test_var_backtest_marks_each_exceedance(tmp_path):
    r = np.array([0.01, -0.05, 0.0, -0.02, -0.06])
    ax = plot_var_backtest(r, {"flat": np.full(5, 0.03)}, title="backtest")
    assert ax.get_legend_handles_labels()[1][1] == "flat (2 exceedances)"
    rings = ax.collections[0].get_offsets()
    np.testing.assert_allclose(rings[:, 1], [-0.05, -0.06])
    assert _saved(ax, tmp_path / "var.png")


def test_every_series_and_model_is_drawn_beyond_eight():
    # The ninth series and the ninth model were dropped without a word (zip over 8 colours).
    r = np.array([0.01, -0.05, 0.0, -0.02, -0.06])
    series = {f"v{i}": np.full(5, 0.01 * (i + 1)) for i in range(10)}
    ax = plot_var_backtest(r, series)
    labels = ax.get_legend_handles_labels()[1]
    assert labels[1:] == [f"v{i} ({int(np.sum(r < -0.01 * (i + 1)))} exceedances)"
                          for i in range(10)]
    styles = {(line.get_color(), line.get_linestyle()) for line in ax.get_lines()[1:11]}
    assert len(styles) == 10  # no two series look alike
    matplotlib.pyplot.close(ax.figure)
    X = make_tail_mixture(500, random_state=0)[0]
    gmm = GaussianMixture(1, random_state=0).fit(X)
    models = {f"m{i}": gmm for i in range(9)}
    ax = plot_return_levels(X, models, return_periods=[1, 2], observations_per_year=50,
                            confidence_level=None, n_draws=10000)
    assert ax.get_legend_handles_labels()[1][1:] == list(models)
    matplotlib.pyplot.close(ax.figure)


def test_inputs_are_refused_by_name():
    r = np.array([0.01, -0.05, 0.0, -0.02, -0.06])
    X = make_tail_mixture(300, random_state=0)[0]
    two_columns = np.column_stack([X[:, 0], -X[:, 0]])
    cases = [
        # Two columns were ravelled into one sample of twice the rows: a wrong histogram,
        # quantiles and return levels, drawn silently.
        (lambda: plot_tail_density(two_columns), r"X must hold one feature.*\(300, 2\)"),
        (lambda: plot_return_levels(two_columns, confidence_level=None),
         r"X must hold one feature"),
        (lambda: plot_tail_density(X, tail_fraction=0.7), r"tail_fraction must be in \(0, 0.5\)"),
        (lambda: plot_tail_density(np.r_[np.nan, X[:, 0]]), "X contains NaN"),
        (lambda: plot_tail_density(X[:0]), "X must hold at least one value"),
        (lambda: plot_tail_density(X, [GaussianMixture()]), "models must be a dict"),
        (lambda: plot_tail_density(X, n_draws=1), "n_draws must be >= 2; got 1"),
        (lambda: plot_tail_density(X, {"ridge": Ridge().fit(X, X[:, 0])}),
         r"models\['ridge'\] must be a fitted density \(score_samples\) or sampler"),
        (lambda: plot_tail_density(X, {"2d": GaussianMixture().fit(two_columns)}),
         r"models\['2d'\] was fitted on 2 features"),
        (lambda: plot_var_backtest(r, np.full(4, 0.03)),
         r"var must be a number or have the shape of returns \(5,\) .*got \(4,\)"),
        (lambda: plot_var_backtest(r, {"a": np.full((5, 2), 0.03)}),
         r"var\['a'\] must be a number or have the shape of returns"),
        (lambda: plot_var_backtest(r, 0.03, dates=np.arange(3)),
         r"dates must have the shape of returns \(5,\) .*got \(3,\)"),
        (lambda: plot_var_backtest(np.column_stack([r, r]), 0.03), "returns must hold one"),
        (lambda: plot_var_backtest(r, 0.03, ax="left"), "ax must be a matplotlib Axes"),
        (lambda: plot_coverage_calibration([0.8, 1.5], {"a": [0.8, 0.9]}),
         r"nominal must hold coverages in \(0, 1\)"),
        (lambda: plot_coverage_calibration([0.8, 0.9], [0.8, 0.9]), "empirical must be a dict"),
        (lambda: plot_coverage_calibration([0.8, 0.9], {"a": np.ones((2, 2, 2))}),
         r"empirical\['a'\] must be of shape \(n_levels,\) or \(n_runs, n_levels\)"),
        (lambda: plot_return_levels(X, observations_per_year=0, confidence_level=None),
         "observations_per_year must be in"),
        (lambda: plot_return_levels(X, return_periods=[-1, 10], confidence_level=None),
         "return_periods must be positive"),
    ]
    for call, match in cases:
        with pytest.raises((ValueError, TypeError), match=match):
            call()
    matplotlib.pyplot.close("all")


def test_a_refused_model_leaves_no_figure_open():
    X = make_tail_mixture(300, random_state=0)[0]
    matplotlib.pyplot.close("all")
    good = GaussianMixture(random_state=0).fit(X)
    with pytest.raises(TypeError, match=r"models\['ridge'\] must be a fitted density"):
        plot_tail_density(X, {"gmm": good, "ridge": Ridge().fit(X, X[:, 0])})
    assert matplotlib.pyplot.get_fignums() == []  # a half-drawn figure was left open


def test_a_single_column_and_a_pandas_series_are_one_feature(tmp_path):
    pd = pytest.importorskip("pandas")
    r = np.array([0.01, -0.05, 0.0, -0.02, -0.06])
    dates = pd.date_range("2024-01-01", periods=5)
    ax = plot_var_backtest(pd.Series(r, index=dates[::-1]), pd.Series(np.full(5, 0.03)),
                           dates=dates)
    assert ax.get_legend_handles_labels()[1][1] == "VaR (2 exceedances)"
    assert _saved(ax, tmp_path / "var.png")
    X = make_tail_mixture(300, random_state=0)[0]
    given = matplotlib.pyplot.subplots()[1]
    figures = matplotlib.pyplot.get_fignums()
    ax = plot_tail_density(pd.DataFrame(X, columns=["loss"]), ax=given)
    assert ax is given and matplotlib.pyplot.get_fignums() == figures  # no new figure
    assert ax.patches[0].get_height() > 0
    matplotlib.pyplot.close(ax.figure)


def test_var_backtest_dates_a_series_by_its_datetime_index():
    # The x-axis was numbered 0..n-1 unless dates= repeated the index.
    pd = pytest.importorskip("pandas")
    import matplotlib.dates
    r = np.array([0.01, -0.05, 0.0, -0.02, -0.06])
    index = pd.date_range("2024-01-01", periods=5, freq="B")
    for returns in (pd.Series(r, index=index), pd.DataFrame({"ret": r}, index=index)):
        ax = plot_var_backtest(returns, 0.03)
        np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), index.to_numpy())
        np.testing.assert_array_equal(ax.collections[0].get_offsets()[:, 0],
                                      matplotlib.dates.date2num(index[[1, 4]]))
        matplotlib.pyplot.close(ax.figure)
    # dates= wins over the index; an index of numbers stays numbered from 0.
    given = pd.date_range("2020-06-01", periods=5)
    ax = plot_var_backtest(pd.Series(r, index=index), 0.03, dates=given)
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), given.to_numpy())
    matplotlib.pyplot.close(ax.figure)
    ax = plot_var_backtest(pd.Series(r, index=np.arange(100, 105)), 0.03)
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), np.arange(5))
    matplotlib.pyplot.close(ax.figure)


def test_var_backtest_refuses_a_var_indexed_otherwise_than_the_returns():
    # Paired by position: a VaR Series sorted newest first was drawn and counted against
    # other days' returns (here the breach of 2024-01-02 missed, and one flagged on
    # 2024-01-05, whose VaR of 0.07 holds).
    pd = pytest.importorskip("pandas")
    index = pd.date_range("2024-01-01", periods=5, freq="B")
    returns = pd.Series([0.01, -0.05, 0.0, -0.02, -0.06], index=index)
    var = pd.Series([0.03, 0.03, 0.03, 0.07, 0.07], index=index)  # -0.05 breaches 0.03
    with pytest.raises(ValueError, match=r"var\['m'\] and returns have different indexes: "
                                         r"plot_var_backtest pairs them by position"):
        plot_var_backtest(returns, {"m": var.iloc[::-1]})
    ax = plot_var_backtest(returns, {"m": var})  # aligned, or numpy: by position
    assert ax.get_legend_handles_labels()[1][1] == "m (1 exceedances)"
    matplotlib.pyplot.close(ax.figure)
    ax = plot_var_backtest(returns, var.iloc[::-1].to_numpy())
    matplotlib.pyplot.close(ax.figure)


@pytest.mark.parametrize("log", ["yes", "no", 1, 0, None])
def test_tail_density_log_must_be_a_bool(log):
    # log="no" drew a log axis (any non-empty string is true).
    X = make_tail_mixture(300, random_state=0)[0]
    matplotlib.pyplot.close("all")
    with pytest.raises(ValueError, match=rf"log must be True or False; got {log!r}"):
        plot_tail_density(X, log=log)
    assert matplotlib.pyplot.get_fignums() == []
    ax = plot_tail_density(X, log=np.bool_(True))
    assert ax.get_yscale() == "log"
    matplotlib.pyplot.close(ax.figure)


def test_tail_density_of_a_pipeline_is_in_the_units_of_the_data():
    # A pipeline's score_samples is the log density of the *transformed* data: drawn over
    # the histogram of X, a StandardScaler's pipeline integrated to the scale of X (5 here).
    from sklearn.neighbors import KernelDensity
    from sklearn.preprocessing import StandardScaler

    from skqegm.pipeline import make_pipeline

    X = np.random.default_rng(0).normal(100.0, 5.0, size=(2000, 1))
    pipe = make_pipeline(StandardScaler(), KernelDensity(bandwidth=0.2)).fit(X)
    ax = plot_tail_density(X, {"pipe": pipe}, n_draws=5000)
    assert ax.get_legend_handles_labels()[1][1] == "pipe (KDE of draws)"
    grid, density = ax.get_lines()[0].get_data()
    assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=0.02)
    assert density.max() == pytest.approx(1 / (5.0 * np.sqrt(2 * np.pi)), rel=0.15)
    matplotlib.pyplot.close(ax.figure)
    # Without sample there is nothing in the units of X to draw: refused, with the remedy
    # where the last step has sample but a scikit-learn Pipeline hides it.
    from sklearn.ensemble import IsolationForest
    from sklearn.pipeline import make_pipeline as sklearn_make_pipeline

    hidden = sklearn_make_pipeline(StandardScaler(), KernelDensity(bandwidth=0.2)).fit(X)
    with pytest.raises(TypeError, match="Its last step has sample.*skqegm.pipeline"):
        plot_tail_density(X, {"hidden": hidden})
    forest = make_pipeline(StandardScaler(), IsolationForest(random_state=0)).fit(X)
    with pytest.raises(TypeError, match="no sample to draw from.$"):
        plot_tail_density(X, {"forest": forest})
    # A fitted search's score_samples is its best pipeline's: drawn from that pipeline too.
    from sklearn.model_selection import GridSearchCV

    search = GridSearchCV(pipe, {"kerneldensity__bandwidth": [0.2, 0.5]}, cv=2).fit(X)
    ax = plot_tail_density(X, {"search": search}, n_draws=5000)
    assert ax.get_legend_handles_labels()[1][1] == "search (KDE of draws)"
    grid, density = ax.get_lines()[0].get_data()
    assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=0.02)
    matplotlib.pyplot.close(ax.figure)


def test_tail_density_refuses_an_outlier_detectors_scores():
    # An outlier detector's score_samples is an anomaly score, not a log density: an
    # IsolationForest was drawn as exp(score), a curve labelled as its density.
    from sklearn.ensemble import IsolationForest
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import OneClassSVM

    X = make_tail_mixture(300, random_state=0)[0]
    matplotlib.pyplot.close("all")
    forest = IsolationForest(random_state=0).fit(X)
    search = GridSearchCV(OneClassSVM(), {"nu": [0.1, 0.5]}, cv=2,
                          scoring=lambda m, X_, y=None: m.score_samples(X_).mean()).fit(X)
    for name, model, kind in [("forest", forest, "IsolationForest"),
                              ("search", search, "OneClassSVM")]:
        with pytest.raises(TypeError, match=rf"models\['{name}'\] is an outlier detector "
                                            rf"\({kind}\): its score_samples"):
            plot_tail_density(X, {name: model})
    assert matplotlib.pyplot.get_fignums() == []


def test_labels_give_levels_and_fractions_unrounded():
    # 0.025 and 0.975 were labelled "2%" and "98%" (round half to even, no decimals): a
    # 97.5% band or a 2.5% tail, the usual ES level, was drawn under another level's name.
    X = np.random.default_rng(0).standard_t(4, size=(3000, 1))
    ax = plot_tail_density(X, tail_fraction=0.025)
    assert ax.get_legend_handles_labels()[1][-1] == "tail regions (2.5% per side)"
    matplotlib.pyplot.close(ax.figure)
    from skqegm.baselines import GPDTailSampler

    gpd = GPDTailSampler(tail_fraction=0.05).fit(X)
    ax = plot_return_levels(X, {"GPD": gpd}, observations_per_year=250,
                            confidence_level=0.975)
    assert ax.get_legend_handles_labels()[1][-1] == "GPD: 97.5% interval (delta)"
    matplotlib.pyplot.close(ax.figure)
    ax = plot_tail_density(X, tail_fraction=0.07)  # no float noise (100 * 0.07)
    assert ax.get_legend_handles_labels()[1][-1] == "tail regions (7% per side)"
    matplotlib.pyplot.close(ax.figure)


def test_refused_options_leave_no_figure_and_draw_nothing_on_a_given_axes():
    # plot_return_levels drew the data, then met a model or option that return_level
    # refuses: the new figure stayed open, a given Axes kept the half-drawn plot. A bins
    # that numpy refuses did the same in plot_tail_density.
    from sklearn.ensemble import IsolationForest

    X = make_tail_mixture(300, random_state=0)[0]
    gmm = GaussianMixture(random_state=0).fit(X)
    calls = [
        (lambda ax: plot_return_levels(X, {"gmm": gmm, "forest": IsolationForest().fit(X)},
                                       return_periods=[1, 2], observations_per_year=50,
                                       confidence_level=None, n_draws=10000, ax=ax),
         TypeError, "IsolationForest has no sample method"),
        (lambda ax: plot_return_levels(X, {"gmm": gmm}, confidence_level=1.5, ax=ax),
         ValueError, "confidence_level must be in"),
        (lambda ax: plot_tail_density(X, {"gmm": gmm}, bins=0, ax=ax), ValueError, "bins"),
        (lambda ax: plot_tail_density(X, bins="often", ax=ax), ValueError, "bins"),
    ]
    for call, error, match in calls:
        matplotlib.pyplot.close("all")
        with pytest.raises(error, match=match):
            call(None)
        assert matplotlib.pyplot.get_fignums() == []
        given = matplotlib.pyplot.subplots()[1]
        with pytest.raises(error, match=match):
            call(given)
        assert not (given.lines or given.collections or given.patches)
    matplotlib.pyplot.close("all")


def test_what_is_drawn_matches_independent_computations():
    pd = pytest.importorskip("pandas")
    from scipy import stats

    from skqegm.baselines import EWMARiskEstimator, GPDTailSampler, StudentTSampler
    from skqegm.datasets import load_sp500_returns
    from skqegm.preprocessing import make_lagged_features

    # The VaR line is -predict_var (lower side), the rings the days below it; upper side:
    # the line is the threshold itself and the rings the days above it.
    X, y = make_lagged_features(load_sp500_returns()[-700:])
    var = EWMARiskEstimator().fit(X[:500], y[:500]).predict_var(X[500:], 0.99)
    dates = pd.date_range("2024-01-01", periods=len(var), freq="B")
    ax = plot_var_backtest(pd.Series(y[500:], index=dates), {"EWMA": var}, dates=dates)
    np.testing.assert_array_equal(ax.get_lines()[1].get_ydata(), -var)
    np.testing.assert_array_equal(ax.collections[0].get_offsets()[:, 1],
                                  y[500:][y[500:] < -var])
    matplotlib.pyplot.close(ax.figure)
    ax = plot_var_backtest(y[500:], var, side="upper")
    np.testing.assert_array_equal(ax.get_lines()[1].get_ydata(), var)
    assert ax.get_legend_handles_labels()[1][1] == f"VaR ({np.sum(y[500:] > var)} exceedances)"
    matplotlib.pyplot.close(ax.figure)

    # Densities: scipy's Student t and a Gaussian mixture by hand; the histogram
    # integrates to 1.
    x = np.random.default_rng(1).standard_t(4, size=(4000, 1))
    t_model = StudentTSampler().fit(x)
    gmm = GaussianMixture(2, random_state=0).fit(x)
    ax = plot_tail_density(x, {"t": t_model, "gmm": gmm})
    grid, density = ax.get_lines()[0].get_data()
    np.testing.assert_allclose(density, stats.t.pdf(grid, t_model.df_, t_model.location_[0],
                                                    np.sqrt(t_model.scatter_[0, 0])),
                               rtol=1e-10)
    mixture = sum(w * stats.norm.pdf(grid, m[0], np.sqrt(c.ravel()[0]))
                  for w, m, c in zip(gmm.weights_, gmm.means_, gmm.covariances_))
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), mixture, rtol=1e-10)
    bars = ax.containers[0].patches  # the histogram's
    assert sum(b.get_width() * b.get_height() for b in bars) == pytest.approx(1.0)
    matplotlib.pyplot.close(ax.figure)

    # Coverage bands: scipy's t interval of the mean of the runs.
    runs = np.array([[0.78, 0.88, 0.96], [0.82, 0.90, 0.94], [0.80, 0.93, 0.95]])
    ax = plot_coverage_calibration([0.8, 0.9, 0.95], {"a": runs})
    segments = ax.containers[0].lines[2][0].get_segments()
    low, high = stats.t.interval(0.95, 2, loc=runs.mean(axis=0), scale=stats.sem(runs))
    np.testing.assert_allclose([s[0][1] for s in segments], low)
    np.testing.assert_allclose([s[1][1] for s in segments], high)
    matplotlib.pyplot.close(ax.figure)

    # Return levels: the GPD curve is scipy's genpareto beyond the threshold, the points
    # the Weibull plotting positions by hand.
    gpd = GPDTailSampler(tail_fraction=0.05).fit(x)
    ax = plot_return_levels(x, {"GPD": gpd}, return_periods=[2, 10, 100],
                            observations_per_year=250, confidence_level=None)
    u, zeta = gpd.tail_threshold_[1, 0], gpd.tail_fractions_[1, 0]
    p = 1 / (np.array([2, 10, 100]) * 250)
    expected = u + stats.genpareto.isf(p / zeta, gpd.gpd_shape_[1, 0],
                                       scale=gpd.gpd_scale_[1, 0])
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), expected, rtol=1e-9)
    points = ax.collections[0].get_offsets()
    n = len(x)
    rank = np.arange(1, n + 1)
    keep = (n + 1) / (rank * 250) >= 2
    np.testing.assert_allclose(points[:, 0], ((n + 1) / (rank * 250))[keep])
    np.testing.assert_allclose(points[:, 1], np.sort(x.ravel())[::-1][keep])
    matplotlib.pyplot.close(ax.figure)


def test_degenerate_inputs_are_refused_by_name():
    r = np.array([0.01, -0.05, 0.0, -0.02, -0.06])
    cases = [
        # Constant data gave a grid of 600 equal points: every model's curve was drawn at
        # one x, the tail regions had no width, and matplotlib warned of singular limits.
        (lambda: plot_tail_density(np.ones(50)), "X is constant: every value is 1; a "
                                                 "density plot needs values that vary"),
        (lambda: plot_tail_density([0.3]), "X is constant"),
        # No runs: the mean of none was drawn as NaN, with numpy's RuntimeWarnings.
        (lambda: plot_coverage_calibration([0.8, 0.9], {"a": np.zeros((0, 2))}),
         r"empirical\['a'\] holds no runs"),
        # A column of dates was refused as "dates has 5 values; returns has 5".
        (lambda: plot_var_backtest(r, 0.03, dates=np.arange(10).reshape(5, 2)),
         r"dates must have the shape of returns \(5,\) \(or \(5, 1\)\), one date per "
         r"return; got \(5, 2\)"),
    ]
    for call, match in cases:
        with pytest.raises(ValueError, match=match):
            call()
    assert matplotlib.pyplot.get_fignums() == []
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=5)})
    ax = plot_var_backtest(r, 0.03, dates=frame[["date"]])  # one column, as returns may be
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), frame["date"].to_numpy())
    matplotlib.pyplot.close(ax.figure)


def test_curves_are_drawn_in_order_whatever_the_order_given():
    # Periods or levels given out of order were joined in that order: a zigzag line and a
    # band folded over itself.
    X = np.random.default_rng(0).standard_t(4, size=(3000, 1))
    from skqegm.baselines import GPDTailSampler

    gpd = GPDTailSampler(tail_fraction=0.05).fit(X)
    kwargs = dict(observations_per_year=250)
    shuffled = plot_return_levels(X, {"GPD": gpd}, return_periods=[10, 1, 100, 5], **kwargs)
    ordered = plot_return_levels(X, {"GPD": gpd}, return_periods=[1, 5, 10, 100], **kwargs)
    for a, b in [(shuffled.get_lines()[0].get_xydata(), ordered.get_lines()[0].get_xydata()),
                 (shuffled.collections[1].get_paths()[0].vertices,
                  ordered.collections[1].get_paths()[0].vertices)]:
        np.testing.assert_allclose(a, b)
    ax = plot_coverage_calibration([0.95, 0.8, 0.9], {"a": [[0.96, 0.79, 0.9],
                                                            [0.94, 0.81, 0.88]]})
    np.testing.assert_allclose(ax.get_lines()[1].get_xydata(),
                               [[0.8, 0.8], [0.9, 0.89], [0.95, 0.95]])
    matplotlib.pyplot.close("all")


def test_without_matplotlib_every_plot_says_how_to_install_it(monkeypatch):
    import sys

    for name in ("matplotlib", "matplotlib.pyplot", "matplotlib.axes"):
        monkeypatch.setitem(sys.modules, name, None)  # their imports fail
    r = np.array([0.01, -0.05, 0.0, -0.02, -0.06])
    X = make_tail_mixture(300, random_state=0)[0]
    calls = [lambda ax: plot_var_backtest(r, 0.03, ax=ax),
             lambda ax: plot_tail_density(X, ax=ax),
             lambda ax: plot_coverage_calibration([0.9], {"a": [0.9]}, ax=ax),
             lambda ax: plot_return_levels(X, confidence_level=None, ax=ax)]
    for call in calls:
        for ax in (None, "an axes"):  # an ax given was met by "import ... halted"
            with pytest.raises(ImportError, match=r"plotting needs matplotlib: pip install "
                                                  r"skqegm\[plot\]"):
                call(ax)


def test_return_levels_of_a_fitted_search_are_its_best_models():
    # plot_tail_density drew a fitted search as its best_estimator_; plot_return_levels
    # refused it ("GridSearchCV has no sample method").
    from sklearn.model_selection import GridSearchCV

    from skqegm.baselines import GPDTailSampler

    X = np.random.default_rng(0).standard_t(4, size=(3000, 1))
    search = GridSearchCV(GPDTailSampler(), {"tail_fraction": [0.05, 0.1]}, cv=2).fit(X)
    kwargs = dict(return_periods=[2, 10], observations_per_year=250)
    ax = plot_return_levels(X, {"search": search}, **kwargs)
    best = plot_return_levels(X, {"best": search.best_estimator_}, **kwargs)
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), best.get_lines()[0].get_ydata())
    assert ax.get_legend_handles_labels()[1][1:] == ["search", "search: 95% interval (delta)"]
    matplotlib.pyplot.close("all")


def _drawn_texts(ax):
    """The title and legend texts as drawn: ``(text, whether read as mathtext)``."""
    ax.figure.canvas.draw()  # a text read as mathtext that is not valid mathtext raises here
    texts = [ax.title] + ax.get_legend().get_texts()
    matplotlib.pyplot.close(ax.figure)
    return [t._preprocess_math(t.get_text()) for t in texts]


def test_titles_and_names_are_drawn_as_text():
    # A user's "$" was read as mathtext: two of them garbled the text between, or raised
    # a ParseException when it was no valid mathtext; a name starting with "_" was left
    # out of the legend.
    title, name = "P&L ($) vs cost ($)", "$^$ k_"
    r = np.random.default_rng(0).standard_t(4, 300) / 100
    ax = plot_var_backtest(r, {name: 0.02, "_base": 0.03}, title=title)
    n = [int(np.sum(r < -v)) for v in (0.02, 0.03)]
    assert _drawn_texts(ax) == [(title, False), ("returns", False),
                                (f"{name} ({n[0]} exceedances)", False),
                                (f"_base ({n[1]} exceedances)", False)]
    X, _ = make_tail_mixture(500, random_state=0)
    gmm = GaussianMixture(2, random_state=0).fit(X)
    ax = plot_tail_density(X, {name: gmm, "_base": gmm}, title=title)
    assert _drawn_texts(ax) == [(title, False), ("data", False), (name, False),
                                ("_base", False), ("tail regions (5% per side)", False)]
    ax = plot_coverage_calibration([0.8, 0.9], {name: [0.8, 0.9], "_base": [0.7, 0.9]},
                                   title=title)
    assert _drawn_texts(ax) == [(title, False), ("ideal", False), (name, False),
                                ("_base", False)]
    ax = plot_return_levels(X, {name: gmm}, return_periods=[1, 2], observations_per_year=10,
                            confidence_level=None, title=title)
    assert _drawn_texts(ax) == [(title, False), ("data (Weibull plotting positions)", False),
                                (name, False)]


def test_a_given_axes_keeps_its_own_legend_entries_first():
    fig, ax = matplotlib.pyplot.subplots()
    ax.axhline(-0.04, label=r"limit $\alpha$")  # the user's own, mathtext kept
    plot_var_backtest(np.array([0.01, -0.05, 0.0]), 0.03, ax=ax)
    texts = ax.get_legend().get_texts()
    assert [t.get_text() for t in texts] == [r"limit $\alpha$", "returns", "VaR (1 exceedances)"]
    assert texts[0]._preprocess_math(texts[0].get_text())[1] is True
    matplotlib.pyplot.close(fig)


def test_booleans_are_refused_as_data():
    # Flags passed by mistake were drawn as 0 and 1: a histogram of flags, coverages of
    # 100% and 0%, returns of 0 and 1.
    flags = np.arange(100) % 2 == 0
    with pytest.raises(ValueError, match="X must hold real numbers; got booleans"):
        plot_tail_density(flags)
    with pytest.raises(ValueError, match="returns must hold real numbers; got booleans"):
        plot_var_backtest(flags, 0.5)
    with pytest.raises(ValueError, match=r"empirical\['a'\] must hold real numbers; got "
                                         "booleans"):
        plot_coverage_calibration([0.8, 0.9], {"a": [True, False]})
    with pytest.raises(ValueError, match="X must hold real numbers; got booleans"):
        plot_return_levels(flags.reshape(-1, 1))
