"""Plots of tail-risk results (matplotlib, an optional dependency: ``pip install skqegm[plot]``).

Each function draws on a given or new matplotlib Axes and returns it.
"""

import numpy as np

from .metrics import var_exceedances
from .utils.validation import check_option


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("plotting needs matplotlib: pip install skqegm[plot]  "
                          "(or: pip install matplotlib)") from exc
    return plt


def plot_var_backtest(returns, var, *, dates=None, side="lower", title=None, ax=None):
    """Returns over time with one or more VaR lines and their exceedances.

    Parameters
    ----------
    returns : array-like of shape (n_samples,)
        Realised returns in time order.
    var : array-like of shape (n_samples,) or dict of str to array-like
        VaR per day in the convention of :func:`skqegm.metrics.var_exceedances` (a
        positive loss for ``side="lower"``, drawn at ``-var``), or several labelled VaR
        series to compare.
    dates : array-like of shape (n_samples,) or None, default=None
        x-axis values (dates or numbers); ``None`` numbers the days.
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
    returns = np.asarray(returns, dtype=np.float64)
    series = var if isinstance(var, dict) else {"VaR": var}
    x = np.arange(len(returns)) if dates is None else np.asarray(dates)
    if ax is None:
        ax = _pyplot().subplots(figsize=(11, 4.5))[1]
    ax.plot(x, returns, color="0.6", linewidth=0.6, label="returns")
    colors = ("C0", "C3", "C2", "C1", "C4", "C5", "C6", "C7")
    for i, ((name, values), color) in enumerate(zip(series.items(), colors)):
        values = np.broadcast_to(np.asarray(values, dtype=np.float64), returns.shape)
        hits = var_exceedances(returns, values, side=side).astype(bool)
        line = -values if side == "lower" else values
        ax.plot(x, line, color=color, linewidth=1.0,
                label=f"{name} ({int(hits.sum())} exceedances)")
        # Rings of decreasing size, so that a day breached by several VaRs shows each.
        ax.scatter(x[hits], returns[hits], s=max(70 - 22 * i, 12), facecolors="none",
                   edgecolors=color, linewidths=1.2, zorder=3)
    ax.axhline(0.0, color="0.3", linewidth=0.5)
    ax.set_ylabel("return")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=len(series) + 1,
              fontsize=8, frameon=False)
    if title:
        ax.set_title(title)
    return ax
