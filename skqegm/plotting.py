"""Plots of tail-risk results (matplotlib, an optional dependency: ``pip install skqegm[plot]``).

Each function draws on a given or new matplotlib Axes and returns it. Titles and the
labels of series and models are drawn as text: a ``$`` in them is a dollar sign, not
mathtext (set ``ax.set_title`` afterwards for mathtext), and a name starting with ``_``
is shown in the legend like any other.
"""

from collections.abc import Mapping

import numpy as np
from sklearn.base import is_outlier_detector

from .extremes import return_level
from .metrics import var_exceedances
from .utils._sampling import is_passthrough, pipeline_hint
from .utils._search import searched_model
from .utils._validation import (
    check_forecast,
    check_int,
    check_not_booleans,
    check_option,
    check_real,
    check_real_array,
)

# Line colours, then line styles once the colours run out: every series stays distinct.
_COLORS = ("C0", "C3", "C2", "C1", "C4", "C5", "C6", "C7")
_LINESTYLES = ("-", "--", ":", "-.")


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("plotting needs matplotlib: pip install skqegm[plot]  "
                          "(or: pip install matplotlib)") from exc
    return plt


def _axes(ax, figsize):
    """``ax``, or the Axes of a new figure of ``figsize`` when it is ``None``."""
    plt = _pyplot()  # without matplotlib, the same advice whether ax is given or not
    if ax is None:
        return plt.subplots(figsize=figsize)[1]
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None; got {type(ax).__name__}.")
    return ax


def _style(i):
    """The colour and line style of the ``i``-th series."""
    return _COLORS[i % len(_COLORS)], _LINESTYLES[(i // len(_COLORS)) % len(_LINESTYLES)]


def _percent(p):
    """``p`` in percent, with the decimals it has: ``0.975`` is "97.5%" (``:.0%`` gave
    "98%", another level's name)."""
    return f"{round(100 * float(p), 6):g}%"


def _real(values, name):
    """``values`` as a float64 array of finite numbers; booleans refused, as the metrics do
    (flags passed by mistake were drawn as 0 and 1)."""
    check_not_booleans(values, name)
    return check_real_array(values, name)


def _one_feature(X, name):
    """``X`` (shape ``(n,)`` or ``(n, 1)``, finite, not empty) as a 1-D float64 array."""
    values = _real(X, name)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(f"{name} must hold one feature: shape (n_samples,) or "
                         f"(n_samples, 1); got shape {values.shape}.")
    if values.size == 0:
        raise ValueError(f"{name} must hold at least one value; got none.")
    return values


def _legend(ax, ours, **kwargs):
    """The legend: the artists ``ax`` held before (a given ``ax``), then ``ours``.

    The labels of ``ours`` (the user's names) are drawn as text, not mathtext, and one
    starting with ``_`` is kept: ``Axes.legend`` leaves such labels out, which hid a
    series named ``"_base"``.
    """
    before = [h for h in ax.get_legend_handles_labels()[0] if h not in ours]
    handles = before + list(ours)
    legend = ax.legend(handles, [h.get_label() for h in handles], **kwargs)
    for text in legend.get_texts()[len(before):]:
        text.set_parse_math(False)
    return legend


def _title(ax, title):
    """The user's title, as text (not mathtext)."""
    if title:
        ax.set_title(title, parse_math=False)


def _labelled(mapping, name, what):
    """``mapping`` (None is empty) as a dict of label to ``what``."""
    if mapping is None:
        return {}
    if not isinstance(mapping, Mapping):
        raise TypeError(f"{name} must be a dict of label to {what}; got "
                        f"{type(mapping).__name__}.")
    return dict(mapping)


def plot_var_backtest(returns, var, *, dates=None, side="lower", title=None, ax=None):
    """Returns over time with one or more VaR lines and their exceedances.

    Parameters
    ----------
    returns : array-like of shape (n_samples,) or (n_samples, 1)
        Realised returns in time order, finite.
    var : float, array-like of shape (n_samples,) or dict of str to either
        VaR per day (or one VaR for every day) in the convention of
        :func:`skqegm.metrics.var_exceedances` (a positive loss for ``side="lower"``,
        drawn at ``-var``), or several labelled VaR series to compare; past eight
        series the colours repeat with another line style. Paired with ``returns`` by
        position: a pandas VaR whose index differs from that of pandas ``returns`` is
        refused (a default index, 0, 1, ..., labels nothing and is not compared).
    dates : array-like of shape (n_samples,) or (n_samples, 1), or None, default=None
        x-axis values (dates or numbers); ``None`` takes the index of ``returns`` where it
        is a pandas Series (or one-column DataFrame) with a ``DatetimeIndex``, and numbers
        the days otherwise.
    side : {"lower", "upper"}, default="lower"
    title : str or None, default=None
    ax : matplotlib Axes or None, default=None
        Where to draw; ``None`` makes a new figure.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skqegm.plotting import plot_var_backtest
    >>> r = np.random.default_rng(0).standard_t(4, 500) * 0.01
    >>> ax = plot_var_backtest(r, {"constant": np.full(500, 0.03)})
    >>> ax.get_legend_handles_labels()[1][:2]
    ['returns', 'constant (6 exceedances)']
    """
    check_option(side, "side", ("lower", "upper"))
    if dates is None:
        dates = _datetime_index(returns)
    labelled = isinstance(var, Mapping)
    series = dict(var) if labelled else {"VaR": var}
    for name, values in series.items():
        _check_same_index(returns, values, f"var[{name!r}]" if labelled else "var")
    returns = _one_feature(returns, "returns")
    lines = {name: check_forecast(values, f"var[{name!r}]" if labelled else "var",
                                  len(returns), against="returns")
             for name, values in series.items()}
    if dates is None:
        x = np.arange(len(returns))
    else:
        x = np.asarray(dates)
        shape = x.shape  # as given, for the message
        if x.ndim == 2 and x.shape[1] == 1:  # a column, as returns may be
            x = x[:, 0]
        if x.shape != returns.shape:
            n = len(returns)
            raise ValueError(f"dates must have the shape of returns ({n},) (or ({n}, 1)), "
                             f"one date per return; got {shape}.")
    ax = _axes(ax, (11, 4.5))
    ours = ax.plot(x, returns, color="0.6", linewidth=0.6, label="returns")
    for i, (name, values) in enumerate(lines.items()):
        color, linestyle = _style(i)
        hits = var_exceedances(returns, values, side=side).astype(bool)
        line = -values if side == "lower" else values
        ours += ax.plot(x, line, color=color, linestyle=linestyle, linewidth=1.0,
                        label=f"{name} ({int(hits.sum())} exceedances)")
        # Rings of decreasing size, so that a day breached by several VaRs shows each.
        ax.scatter(x[hits], returns[hits], s=max(70 - 22 * i, 12), facecolors="none",
                   edgecolors=color, linewidths=1.2, zorder=3)
    ax.axhline(0.0, color="0.3", linewidth=0.5)
    ax.set_ylabel("return")
    _legend(ax, ours, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=len(series) + 1,
            fontsize=8, frameon=False)
    _title(ax, title)
    return ax


def _check_same_index(returns, values, name):
    """Refuse pandas VaR whose labels (dates) differ from those of pandas returns: they
    are paired by position, so a VaR sorted otherwise would be drawn and counted against
    other days' returns. A default index (0, 1, ...: a Series made from an array) labels
    nothing."""
    ours, theirs = _labels(returns), _labels(values)
    if ours is None or theirs is None:
        return
    if not ours.equals(theirs):
        raise ValueError(f"{name} and returns have different indexes: plot_var_backtest "
                         "pairs them by position, which would pair each VaR with another "
                         f"day's return. Align them first ({name}.loc[returns.index]), or "
                         "pass a numpy array to pair them by position.")


def _labels(values):
    """The index of a pandas object, or ``None`` for one without (or a default one)."""
    if not hasattr(values, "iloc"):
        return None
    index = values.index
    default = (type(index).__name__ == "RangeIndex" and index.start == 0
               and index.step == 1)
    return None if default else index


def _datetime_index(values):
    """The ``DatetimeIndex`` of a pandas Series or DataFrame, else ``None``."""
    if not type(values).__module__.startswith("pandas"):
        return None  # pandas is not imported for the arrays of users without it
    import pandas as pd

    index = getattr(values, "index", None)
    return index if isinstance(index, pd.DatetimeIndex) else None


def _transforms_first(model):
    """Whether ``model`` is a pipeline with steps that transform X before its last one."""
    from sklearn.pipeline import Pipeline

    return isinstance(model, Pipeline) and any(not is_passthrough(step)
                                               for _, step in model.steps[:-1])


def _density_curve(model, name, grid, n_draws, random_state):
    """The model's density on ``grid``, and whether it came from a KDE of its draws."""
    model = searched_model(model, fitted=True)  # a fitted search: its refitted best model
    if not (hasattr(model, "score_samples") or hasattr(model, "sample")):
        raise TypeError(f"models[{name!r}] must be a fitted density (score_samples) or "
                        f"sampler (sample) of one feature; {type(model).__name__} has "
                        "neither.")
    n_features = getattr(model, "n_features_in_", 1)
    if n_features != 1:
        raise ValueError(f"models[{name!r}] was fitted on {n_features} features; the plot "
                         "draws densities of one.")
    if _transforms_first(model):
        # Its score_samples is the density of the transformed data (a StandardScaler's
        # pipeline integrated to the scale of X); its sample maps draws back to X's units.
        if not hasattr(model, "sample"):
            raise TypeError(f"models[{name!r}] is a pipeline whose score_samples is a density "
                            "of the transformed data, not of X, and it has no sample to "
                            "draw from." + pipeline_hint(model, ["sample"]))
    elif is_outlier_detector(model):
        raise TypeError(f"models[{name!r}] is an outlier detector ({type(model).__name__}): "
                        "its score_samples is an anomaly score, not a log density, and it "
                        "has nothing to draw from. Plot a density model or a sampler.")
    elif hasattr(model, "score_samples"):
        return np.exp(np.asarray(model.score_samples(grid.reshape(-1, 1)), dtype=float)), False
    from scipy.stats import gaussian_kde

    draws = model.sample(n_draws, random_state=random_state)
    draws = np.asarray(draws[0] if isinstance(draws, tuple) else draws, dtype=float).ravel()
    return gaussian_kde(draws)(grid), True


def plot_tail_density(X, models=None, *, tail_fraction=0.05, side="both", bins=100, log=False,
                      n_draws=20000, random_state=0, title=None, ax=None):
    """Histogram of 1-D data with each model's density over it, tail regions shaded.

    The paper's Fig. 5b. A model with ``score_samples`` is drawn as its density; a
    sampler without one (a GAN, a diffusion model) as a Gaussian KDE of ``n_draws`` of
    its samples, dashed and marked "(KDE of draws)". So is a pipeline whose steps
    transform ``X`` before the model: its ``score_samples`` is a density of the
    transformed data, its ``sample`` is in the units of ``X``. A fitted search
    (:class:`~sklearn.model_selection.GridSearchCV`) is drawn as its ``best_estimator_``.
    An outlier detector (an :class:`~sklearn.ensemble.IsolationForest`) is refused: its
    ``score_samples`` is an anomaly score, not a log density.

    Parameters
    ----------
    X : array-like of shape (n_samples,) or (n_samples, 1)
        The data, e.g. the held-out points; one feature, finite, not constant.
    models : dict of str to fitted estimator, default=None
        Labelled fitted models over one feature.
    tail_fraction : float, default=0.05
        Tail probability per shaded side, in (0, 0.5): the regions beyond the empirical
        ``tail_fraction`` and ``1 - tail_fraction`` quantiles of ``X``.
    side : {"lower", "upper", "both"}, default="both"
    bins : int, str or array-like, default=100
        The histogram's bins, as :func:`numpy.histogram` takes them: a count, the name
        of an estimator (``"auto"``) or the edges.
    log : bool, default=False
        Logarithmic density axis, which shows the tails.
    n_draws : int, default=20000
        Draws of each model without a density, >= 2.
    random_state : int, default=0
        Seeds the draws of models without a density.
    title : str or None, default=None
    ax : matplotlib Axes or None, default=None

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.mixture import GaussianMixture
    >>> from skqegm.datasets import make_tail_mixture
    >>> from skqegm.plotting import plot_tail_density
    >>> X, _ = make_tail_mixture(2000, random_state=0)
    >>> ax = plot_tail_density(X, {"GMM": GaussianMixture(3, random_state=0).fit(X)})
    >>> ax.get_legend_handles_labels()[1]
    ['data', 'GMM', 'tail regions (5% per side)']
    """
    check_option(side, "side", ("lower", "upper", "both"))
    check_real(tail_fraction, "tail_fraction", low=0, high=0.5, low_open=True, high_open=True)
    check_int(n_draws, "n_draws", min_value=2)  # a KDE needs two points
    if not isinstance(log, (bool, np.bool_)):  # log="no" was read as True
        raise ValueError(f"log must be True or False; got {log!r}.")
    x = _one_feature(X, "X")
    if np.ptp(x) == 0:  # the grid would be one point, the tail regions empty
        raise ValueError(f"X is constant: every value is {x[0]:g}; a density plot needs "
                         "values that vary.")
    models = _labelled(models, "models", "fitted estimator")
    grid = np.linspace(x.min() - 0.1 * np.ptp(x), x.max() + 0.1 * np.ptp(x), 600)
    # Every model is evaluated before anything is drawn: a model refused half-way left
    # a half-drawn figure open.
    curves = {name: _density_curve(model, name, grid, n_draws, random_state)
              for name, model in models.items()}
    # numpy's rules for bins (a count, an estimator's name, edges), applied before a
    # figure exists: a refused bins left one open.
    edges = np.histogram_bin_edges(x, bins=bins)
    ax = _axes(ax, (8, 4.5))
    heights, _, bars = ax.hist(x, bins=edges, density=True, color="0.8", label="data")
    ours = [bars[0]]  # the patch hist labels
    for name, (density, from_draws) in curves.items():
        ours += ax.plot(grid, density, linestyle="--" if from_draws else "-", linewidth=1.3,
                        label=f"{name} (KDE of draws)" if from_draws else str(name))
    low, high = np.quantile(x, [tail_fraction, 1 - tail_fraction])
    regions = {"lower": [(grid[0], low)], "upper": [(high, grid[-1])],
               "both": [(grid[0], low), (high, grid[-1])]}[side]
    spans = [ax.axvspan(start, stop, color="C3", alpha=0.08) for start, stop in regions]
    spans[0].set_label(f"tail regions ({_percent(tail_fraction)} per side)")
    ours.append(spans[0])
    ax.set_xlim(grid[0], grid[-1])
    if log:
        ax.set_yscale("log")
    else:  # a model far too narrow is clipped rather than flattening everything else
        ax.set_ylim(0, 1.6 * heights.max())
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    _legend(ax, ours, fontsize=8)
    _title(ax, title)
    return ax


def plot_coverage_calibration(nominal, empirical, *, title=None, ax=None):
    """Empirical against nominal coverage of prediction intervals (the paper's figure 5a).

    Parameters
    ----------
    nominal : array-like of shape (n_levels,)
        Nominal coverages, in (0, 1).
    empirical : dict of str to array-like
        Per model, coverages of shape ``(n_levels,)``, or ``(n_runs, n_levels)`` (e.g.
        one row per seed), drawn as the mean with a 95% t confidence interval.
    title : str or None, default=None
    ax : matplotlib Axes or None, default=None

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skqegm.plotting import plot_coverage_calibration
    >>> ax = plot_coverage_calibration([0.8, 0.9, 0.95], {"model": [[0.79, 0.9, 0.96],
    ...                                                             [0.81, 0.88, 0.94]]})
    >>> ax.get_legend_handles_labels()[1]
    ['ideal', 'model']
    """
    from scipy.stats import t as student_t

    nominal = _real(nominal, "nominal")
    if nominal.ndim != 1 or nominal.size == 0 or np.any((nominal <= 0) | (nominal >= 1)):
        raise ValueError(f"nominal must hold coverages in (0, 1), shape (n_levels,); got "
                         f"{nominal.tolist()}.")
    curves = {name: _coverages(values, name, nominal.size)
              for name, values in _labelled(empirical, "empirical", "coverages").items()}
    order = np.argsort(nominal, kind="stable")  # each curve joined in order of level
    nominal, curves = nominal[order], {name: v[:, order] for name, v in curves.items()}
    ax = _axes(ax, (5, 5))
    low, high = nominal.min() - 0.05, 1.0
    ours = ax.plot([low, high], [low, high], color="0.4", linestyle=":", label="ideal")
    for name, values in curves.items():
        n = values.shape[0]
        half = (student_t.ppf(0.975, n - 1) * values.std(axis=0, ddof=1) / np.sqrt(n)
                if n > 1 else None)
        ours.append(ax.errorbar(nominal, values.mean(axis=0), yerr=half, marker="o",
                                markersize=3, capsize=2, linewidth=1.0, label=str(name)))
    ax.set_xlim(low, high)
    ax.set_xlabel("nominal coverage")
    ax.set_ylabel("empirical coverage")
    _legend(ax, ours, fontsize=8)
    _title(ax, title)
    return ax


def _coverages(values, name, n_levels):
    """One model's coverages as an array of shape ``(n_runs, n_levels)``, in [0, 1]."""
    values = np.atleast_2d(_real(values, f"empirical[{name!r}]"))
    if values.ndim != 2:
        raise ValueError(f"empirical[{name!r}] must be of shape (n_levels,) or (n_runs, "
                         f"n_levels); got shape {values.shape}.")
    if values.shape[0] == 0:
        raise ValueError(f"empirical[{name!r}] holds no runs: shape {values.shape}.")
    if values.shape[1] != n_levels:
        raise ValueError(f"empirical[{name!r}] has {values.shape[1]} levels; nominal has "
                         f"{n_levels}.")
    if np.any((values < 0) | (values > 1)):
        raise ValueError(f"empirical[{name!r}] must hold coverages in [0, 1]; got values "
                         f"from {values.min()!r} to {values.max()!r}.")
    return values


def _empirical_return_levels(x, side, observations_per_year):
    """The data's return periods and levels: the ``i``-th most extreme of ``n`` values has
    exceedance probability ``i / (n + 1)`` per observation (Weibull plotting position)."""
    ordered = np.sort(x)[::-1] if side == "upper" else np.sort(x)
    rank = np.arange(1, len(x) + 1)
    return (len(x) + 1) / (rank * observations_per_year), ordered


def plot_return_levels(X, models=None, *, return_periods=None, observations_per_year=365.25,
                       side="upper", confidence_level=0.95, n_bootstrap=200, n_draws=None,
                       random_state=0, title=None, ax=None):
    """Return level plot: each model's level against the return period, with its confidence
    band, over the data's own return levels.

    The curves and bands are :func:`skqegm.extremes.return_level` (the delta method for a
    generalized Pareto tail model, a bootstrap of refits on ``X`` for any other sampler);
    the points are the data, the ``i``-th most extreme of ``n`` observations drawn at the
    period ``(n + 1) / (i * observations_per_year)`` years (Weibull plotting positions),
    for periods within the plotted range.

    Parameters
    ----------
    X : array-like of shape (n_samples,) or (n_samples, 1)
        The data the models were fitted on, in time order or not.
    models : dict of str to fitted estimator, default=None
        Labelled fitted samplers of one feature; a fitted search is drawn as its
        ``best_estimator_``.
    return_periods : array-like of float or None, default=None
        Return periods of the curves, in years, positive; ``None`` is 40 periods from 1
        to 1000 years, evenly spaced on the log axis.
    observations_per_year : float, default=365.25
    side : {"upper", "lower"}, default="upper"
    confidence_level : float or None, default=0.95
        Coverage of the bands; ``None`` draws the curves alone (and fits nothing more).
    n_bootstrap : int, default=200
        Refits behind the band of a model without a closed form.
    n_draws : int or None, default=None
        Draws behind the levels of a model without a closed form.
    random_state : int, default=0
    title : str or None, default=None
    ax : matplotlib Axes or None, default=None

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skqegm.baselines import GPDTailSampler
    >>> from skqegm.plotting import plot_return_levels
    >>> X = np.random.default_rng(0).standard_t(4, size=(36525, 1))
    >>> gpd = GPDTailSampler(tail_fraction=0.01).fit(X)
    >>> ax = plot_return_levels(X, {"GPD": gpd})
    >>> ax.get_legend_handles_labels()[1]
    ['data (Weibull plotting positions)', 'GPD', 'GPD: 95% interval (delta)']
    """
    check_option(side, "side", ("upper", "lower"))
    check_real(observations_per_year, "observations_per_year", low=0, low_open=True)
    x = _one_feature(X, "X")
    models = _labelled(models, "models", "fitted sampler")
    periods = (np.geomspace(1, 1000, 40) if return_periods is None
               else _real(return_periods, "return_periods").ravel())
    if periods.size == 0 or np.any(periods <= 0):
        raise ValueError(f"return_periods must be positive (in years); got "
                         f"{periods.tolist()}.")
    periods = np.sort(periods)  # a curve and its band, joined in order of period
    # Every model's levels before anything is drawn: a model or option refused half-way
    # left a half-drawn figure open.
    # A fitted search: the model it chose and refitted, as in plot_tail_density.
    results = {name: return_level(searched_model(model, fitted=True), periods,
                                  observations_per_year=observations_per_year, side=side,
                                  X=x, confidence_level=confidence_level,
                                  n_bootstrap=n_bootstrap, n_draws=n_draws,
                                  random_state=random_state)
               for name, model in models.items()}
    ax = _axes(ax, (7, 4.5))
    data_periods, levels = _empirical_return_levels(x, side, observations_per_year)
    shown = data_periods >= periods.min()
    ours = [ax.scatter(data_periods[shown], levels[shown], s=10, color="k", zorder=3,
                       label="data (Weibull plotting positions)")]
    for i, (name, result) in enumerate(results.items()):
        color, linestyle = _style(i)
        ours += ax.plot(periods, result.level, color=color, linestyle=linestyle,
                        linewidth=1.4, label=str(name))
        if result.method != "none":
            label = f"{name}: {_percent(confidence_level)} interval ({result.method})"
            ours.append(ax.fill_between(periods, result.lower, result.upper, color=color,
                                        alpha=0.18, label=label))
    ax.set_xscale("log")
    ax.set_xlabel("return period (years)")
    ax.set_ylabel("return level" if side == "upper" else "return level (lower side)")
    _legend(ax, ours, fontsize=8)
    _title(ax, title)
    return ax
