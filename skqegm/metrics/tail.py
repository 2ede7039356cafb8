"""Tail KL divergence: how well a model's samples match the data inside the tail region."""

import warnings

import numpy as np
from scipy.special import rel_entr
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from ..utils._scaling import power_of_two_scale
from ..utils._validation import check_real_array
from ..utils._warnings import caller_stacklevel
from ._arrays import MIN_CELLS, bounded_rows, check_tail_kl_params
from ._rarity import rarity_scores, resolve_rarity


def _check_sample(x, name):
    x = check_real_array(x, name)
    if x.ndim == 1:
        x = x.reshape(-1, 1)
    if x.ndim != 2:
        raise ValueError(f"{name} must be 1-D or 2-D; got an array of shape {x.shape}.")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty: the tail KL divergence needs at least one point.")
    return x


def _too_few_cells(where, n_tail, n_points, filled, tail_fraction, remedy):
    return ValueError(
        f"{where} at tail_fraction={tail_fraction} holds {n_tail} of the {n_points} points "
        f"of x_true, {filled}; the tail KL divergence needs at least {MIN_CELLS} filled "
        "cells, or a model whose tail lies anywhere beyond the data would score as well as "
        f"a perfect one. Pass {remedy}."
    )


def _check_not_whole(in_tail, tail_fraction, cause):
    if np.all(in_tail):
        raise ValueError(
            f"Every one of the {in_tail.shape[0]} points of x_true lies in its tail region "
            f"at tail_fraction={tail_fraction} ({cause}): the tail is the whole sample. Use a "
            "smaller tail_fraction or data with fewer ties."
        )


def _side_bins(x_true, tail_fraction, side, bins):
    """Threshold and ``bins + 1`` edges of one tail of ``x_true``, threshold to extreme."""
    if side == "lower":
        threshold = np.quantile(x_true, tail_fraction)
        return threshold, np.linspace(x_true.min(), threshold, bins + 1)
    threshold = np.quantile(x_true, 1 - tail_fraction)
    return threshold, np.linspace(threshold, x_true.max(), bins + 1)


def _side_cells(x, threshold, edges, side):
    """Cell index in [0, bins) of each point of ``x`` in one tail, -1 outside."""
    inside = x <= threshold if side == "lower" else x >= threshold
    # Clipping opens the outermost bin to infinity, so model draws more extreme than every
    # true point still count in T instead of silently vanishing.
    cells = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
    return np.where(inside, cells, -1)


def _check_side_filled(cells, side, bins, tail_fraction):
    filled = np.unique(cells[cells >= 0]).size
    if filled < MIN_CELLS:
        raise _too_few_cells(f"The {side} tail of x_true", int(np.sum(cells >= 0)),
                             cells.shape[0], f"which fill {filled} of its {bins} bins",
                             tail_fraction, "more data, a larger tail_fraction or more bins")


def _cells_1d(x_true, x_model, tail_fraction, side, bins):
    # Only the order of the points and the edges matters, and scaling by a power of two
    # keeps it exactly while keeping quantiles and edges finite near the float64 limits.
    scale = power_of_two_scale(x_true)
    with np.errstate(over="ignore", under="ignore"):
        x_true, x_model = x_true.ravel() * scale, x_model.ravel() * scale
    sides = ("lower", "upper") if side == "both" else (side,)
    c_true, c_model = np.full(x_true.shape, -1), np.full(x_model.shape, -1)
    for k, one_side in enumerate(sides):
        threshold, edges = _side_bins(x_true, tail_fraction, one_side, bins)
        true_k = _side_cells(x_true, threshold, edges, one_side)
        _check_side_filled(true_k, one_side, bins, tail_fraction)
        model_k = _side_cells(x_model, threshold, edges, one_side)
        # Side k owns cells [k * bins, (k + 1) * bins); a point in both tails (ties at a
        # common threshold) counts in the first.
        c_true = np.where((c_true < 0) & (true_k >= 0), true_k + k * bins, c_true)
        c_model = np.where((c_model < 0) & (model_k >= 0), model_k + k * bins, c_model)
    _check_not_whole(c_true >= 0, tail_fraction, "ties at a tail threshold")
    return c_true, c_model, len(sides) * bins


def _standardiser(values):
    """``v -> (v - mean) / std`` with the mean and std of the columns of ``values``.

    Computed on a power-of-two rescaling of ``values`` (the same map, exactly), so that
    huge data do not overflow the variance; a column without spread keeps unit scale.
    """
    scale = power_of_two_scale(values, axis=0)
    scaled = values * scale
    mean, std = scaled.mean(axis=0), scaled.std(axis=0)
    std = np.where(std > 0, std, 1.0)

    def standardise(v):
        with np.errstate(over="ignore", under="ignore"):
            return (v * scale - mean) / std

    return standardise


def _embedder(x_true, s_tail):
    # Cells resolve where the tail points lie (standardised features) and how deep into
    # the tail they are (standardised score); either alone misses a kind of misfit.
    features, depth, s_max = _standardiser(x_true), _standardiser(s_tail[:, None]), s_tail.max()

    def embed(x, scores):
        # Capping the score opens the deepest cells: draws rarer than every true point are
        # placed at the deepest level instead of landing in arbitrary cells (or at infinity).
        deep = depth(np.minimum(scores, s_max)[:, None])
        return bounded_rows(np.column_stack([features(x), deep]))

    return embed


def _warn_if_saturated(deepest_true, s_model_tail):
    """Warn when most of the model's tail is rarer than every true point.

    Those draws share the deepest cells whatever their distance, so every model this far
    off scores the same: a continuous model of one-hot rows, say, whose draws all lie off
    the lattice of the data.
    """
    if s_model_tail.size == 0:
        return
    beyond = float(np.mean(s_model_tail > deepest_true))
    if beyond > 0.5:
        warnings.warn(
            f"{beyond:.0%} of the points of x_model in the tail region are rarer than every "
            "point of x_true: they share the deepest cells however far out they are, so the "
            "score saturates and cannot rank models this far from the data. Score them with "
            "a rarity on a space where they overlap the data (e.g. principal components), "
            "or by their log-likelihood.", UserWarning, stacklevel=caller_stacklevel())


def _cells_rarity(x_true, x_model, tail_fraction, bins, rarity):
    rarity = resolve_rarity(rarity, x_true)
    s_true = rarity_scores(rarity, x_true, "x_true", allow_inf=False)
    s_model = rarity_scores(rarity, x_model, "x_model", allow_inf=True)
    # The quantile interpolates between scores, which must not overflow.
    scale = power_of_two_scale(s_true)
    with np.errstate(over="ignore", under="ignore"):
        s_true, s_model = s_true * scale, s_model * scale
    threshold = np.quantile(s_true, 1 - tail_fraction)
    in_true, in_model = s_true >= threshold, s_model >= threshold
    _check_not_whole(in_true, tail_fraction, "ties among the rarity scores")
    embed = _embedder(x_true, s_true[in_true])
    embedded = embed(x_true[in_true], s_true[in_true])
    n_distinct = np.unique(embedded, axis=0).shape[0]
    if n_distinct < MIN_CELLS:
        raise _too_few_cells("The tail region of x_true (its rarest points)",
                             int(in_true.sum()), x_true.shape[0],
                             f"{n_distinct} of them distinct", tail_fraction,
                             "more data or a larger tail_fraction")
    n_cells = min(bins, n_distinct)
    _warn_if_saturated(s_true.max(), s_model[in_model])
    c_true, c_model = np.full(x_true.shape[0], -1), np.full(x_model.shape[0], -1)
    # A few thousand tail points: thread hand-offs cost more than they gain (k-means ran
    # 55x slower with 2 OpenMP threads than with 1 on a busy 2-core machine).
    with threadpool_limits(limits=1):
        kmeans = KMeans(n_clusters=n_cells, n_init=4, random_state=0).fit(embedded)
        c_true[in_true] = kmeans.predict(embedded)
        if in_model.any():
            c_model[in_model] = kmeans.predict(embed(x_model[in_model], s_model[in_model]))
    return c_true, c_model, n_cells


def _smoothed_distribution(cells, n_cells, smoothing):
    counts = np.bincount(cells[cells >= 0], minlength=n_cells).astype(np.float64)
    total = counts.sum()
    prob = counts / total if total > 0 else counts
    return (prob + smoothing) / (prob.sum() + n_cells * smoothing)


def _kl(p, q):
    # Rounding can leave a divergence a hair below zero.
    return max(float(np.sum(rel_entr(p, q))), 0.0)


def _worst_case_kl(p, smoothing):
    """The largest ``KL(p || q)`` over every model: ``q`` a point mass on p's thinnest cell.

    ``KL(p || q)`` is convex in ``q``, so its maximum over the simplex is at a vertex (a
    point mass, smoothed like any ``q``), and the vertex on the cell where ``p`` is smallest
    is the largest.
    """
    worst = _smoothed_distribution(np.array([np.argmin(p)]), p.shape[0], smoothing)
    return _kl(p, worst)


def tail_kl_divergence(x_true, x_model, *, tail_fraction=0.05, side="both", bins=20,
                       smoothing=1e-4, rarity=None):
    """Tail KL divergence ``D_KL(P_T || Q_T)`` between data and model samples (paper, Metrics).

    The tail region ``T`` is defined from ``x_true`` alone:

    - 1-D data, no ``rarity``: the outer ``tail_fraction`` of ``x_true`` on each requested
      side, i.e. ``x <= quantile(x_true, tail_fraction)`` (lower) and/or
      ``x >= quantile(x_true, 1 - tail_fraction)`` (upper). Each side is cut into ``bins``
      equal-width bins spanning the true tail points, from the threshold to the most
      extreme true point; the outermost bin is open-ended so that model draws beyond every
      true point still count.
    - several features, or a ``rarity`` callable: ``T`` is the ``tail_fraction`` of
      ``x_true`` with the highest rarity score (default: negative log-density of a
      Gaussian KDE fitted on ``x_true``, Scott's bandwidth as
      :class:`scipy.stats.gaussian_kde`, on a seeded subsample of 2,000 points when
      ``x_true`` has more). Its cells are the Voronoi
      cells of ``min(bins, n distinct points)`` k-means centres (``random_state=0``) of the
      true tail points, each embedded as its features (standardised with ``x_true``'s mean
      and standard deviation) plus its rarity score (standardised over the true tail
      points, and capped at the largest true score so that the deepest cells are
      open-ended). Each point of ``T`` counts in the cell of its nearest centre, so the
      cells resolve both where the tail mass lies and how deep into the tail it goes.

    Both samples are histogrammed on these shared cells; points outside ``T`` are dropped,
    and each histogram is normalised within ``T`` (the conditionals ``P_T`` and ``Q_T``).
    Smoothing then adds ``smoothing`` to every cell's probability and renormalises,
    ``p_i = (P_i + smoothing) / (1 + n_cells * smoothing)`` (same for ``q``), and the result is
    ``sum_i p_i log(p_i / q_i)`` in nats.

    With ``side="both"`` the two sides form one region ``T`` (``2 * bins`` cells) normalised
    together, exactly the paper's ``D_KL(P_T || Q_T)``. It equals the average of the two
    per-side KLs (each side holds half of the true tail mass) plus the KL between the
    sides' shares of tail mass, so a model that puts its whole tail on one side is
    penalised, which a plain sum of per-side scores would miss.

    The score compares shapes within ``T``, not how much mass the model puts in ``T``. If
    no model point falls in ``T``, ``Q_T`` is undefined; the model is then scored as the
    worst any model can be on this ``x_true``, a point mass on the cell where ``P_T`` is
    thinnest (``KL`` is convex in ``Q_T``, so no model scores higher), and a warning is
    issued. With ``smoothing=0`` that is ``inf``, as is any model that misses a cell that
    the data occupy. A model whose draws all lie beyond every true point lands in the
    open-ended outermost cell(s): its score is large, and the same however far out it is.

    The data's tail must fill at least two cells (in 1-D, on each requested side), and must
    not be the whole of ``x_true``: in a single cell every model's ``Q_T`` is the same point
    mass, so a model 50 standard deviations away would score a perfect 0. Too small a
    sample, too small a ``tail_fraction`` or heavy ties raise a ``ValueError`` that says so.

    The estimate is biased upward on small samples, because bins left empty by chance
    cost ``p log(p / smoothing)``: two independent draws of the tail mixture of
    :func:`~skqegm.datasets.make_tail_mixture` score about 0.26 at 2,000 points each and
    0.02 at 20,000 (defaults). Keep ``n * tail_fraction`` well above ``bins`` (several
    points per bin), draw more model points than data points where possible, and compare
    models on the same held-out data.

    Parameters
    ----------
    x_true : array-like of shape (n_samples,) or (n_samples, n_features)
        Reference (held-out) data; defines ``T`` and its cells. Finite, non-empty.
    x_model : array-like of shape (n_model,) or (n_model, n_features)
        Model samples, with the same number of features. Finite, non-empty.
    tail_fraction : float, default=0.05
        Tail fraction of ``x_true``: per side in 1-D (in (0, 0.5) for "both", (0, 1)
        otherwise), overall with several features or a ``rarity`` (in (0, 1)).
    side : {"lower", "upper", "both"}, default="both"
        Tail side(s) in 1-D. Must be "both" with several features or a ``rarity``.
    bins : int, default=20
        Bins per side in 1-D, or the most cells otherwise; >= 2.
    smoothing : float, default=1e-4
        Probability added to every cell before renormalising; in [0, 1].
    rarity : callable or None, default=None
        ``rarity(X) -> scores`` of shape (n_rows,), higher meaning rarer (e.g. minus a
        log-density), for ``X`` of shape (n_rows, n_features); finite on ``x_true``,
        possibly ``+inf`` on ``x_model``. Replaces the KDE score and switches 1-D data to
        the rarity definition of ``T``.

    Returns
    -------
    kl : float
        The divergence, >= 0 (0 for identical samples); lower is better.

    Raises
    ------
    ValueError
        If an input is empty, not 1-D or 2-D, holds anything but finite real numbers, or
        the two disagree on the number of features; if a parameter is out of range; if
        the tail of ``x_true`` fills fewer than two cells or is the whole sample; if no
        Gaussian KDE can be fitted on ``x_true`` (default ``rarity``); or if ``rarity``
        returns the wrong number of scores, or NaN (infinity on ``x_true``).

    Warns
    -----
    UserWarning
        If no point of ``x_model`` falls in ``T`` (scored as the worst possible model), or
        (several features, or a ``rarity``) if most of the model's points in ``T`` are
        rarer than every true point, where the score saturates.

    Notes
    -----
    No ``sample_weight``: weights would move the tail region (an interpolated quantile or
    an unweighted KDE of ``x_true``) as well as the histograms.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.metrics import tail_kl_divergence
    >>> rng = np.random.RandomState(0)
    >>> x = rng.standard_t(df=3, size=20000)
    >>> tail_kl_divergence(x, x)
    0.0
    >>> same = tail_kl_divergence(x, rng.standard_t(df=3, size=20000))
    >>> gaussian = tail_kl_divergence(x, rng.normal(0, x.std(), size=20000))
    >>> bool(same < 0.1 < gaussian)
    True
    """
    x_true = _check_sample(x_true, "x_true")
    x_model = _check_sample(x_model, "x_model")
    if x_true.shape[1] != x_model.shape[1]:
        raise ValueError(f"x_true has {x_true.shape[1]} features but x_model has "
                         f"{x_model.shape[1]}; they must match.")
    multivariate = x_true.shape[1] > 1 or rarity is not None
    check_tail_kl_params(tail_fraction, side, bins, smoothing, multivariate)
    if multivariate:
        c_true, c_model, n_cells = _cells_rarity(x_true, x_model, tail_fraction, bins, rarity)
    else:
        c_true, c_model, n_cells = _cells_1d(x_true, x_model, tail_fraction, side, bins)
    p = _smoothed_distribution(c_true, n_cells, smoothing)
    if not np.any(c_model >= 0):
        warnings.warn("No point of x_model falls in the tail region T; it is scored as the "
                      "worst possible model (Q_T a point mass on the thinnest cell of P_T).",
                      UserWarning, stacklevel=caller_stacklevel())
        return _worst_case_kl(p, smoothing)
    return _kl(p, _smoothed_distribution(c_model, n_cells, smoothing))
