"""Tail KL divergence: how well a model's samples match the data inside the tail region."""

import warnings

import numpy as np
from scipy.special import rel_entr
from sklearn.cluster import KMeans
from sklearn.utils.validation import check_array

from skqegm.metrics._rarity import kde_rarity
from skqegm.utils._validation import check_int, check_option, check_real

SIDES = ("lower", "upper", "both")


def _check_sample(x, name):
    x = check_array(x, ensure_2d=False, allow_nd=True, ensure_min_samples=0, dtype=np.float64,
                    input_name=name)
    if x.ndim == 1:
        x = x.reshape(-1, 1)
    if x.ndim != 2:
        raise ValueError(f"{name} must be 1-D or 2-D; got an array of shape {x.shape}.")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty: the tail KL divergence needs at least one point.")
    return x


def _check_params(tail_fraction, side, bins, smoothing, multivariate):
    check_option(side, "side", SIDES)
    if multivariate and side != "both":
        raise ValueError(
            "side applies to 1-D data without a rarity function; with several features or "
            f"a rarity callable the tail region is the most rare points, so side must be "
            f"'both' (the default); got {side!r}."
        )
    high = 0.5 if side == "both" and not multivariate else 1.0
    check_real(tail_fraction, "tail_fraction", low=0, high=high, low_open=True,
               high_open=True)
    check_int(bins, "bins", min_value=1)
    check_real(smoothing, "smoothing", low=0)


def _side_cells(x, x_true, tail_fraction, side, bins):
    """Cell index in [0, bins) of each point of ``x`` in one tail of ``x_true``, -1 outside."""
    if side == "lower":
        threshold = np.quantile(x_true, tail_fraction)
        edges = np.linspace(x_true.min(), threshold, bins + 1)
        inside = x <= threshold
    else:
        threshold = np.quantile(x_true, 1 - tail_fraction)
        edges = np.linspace(threshold, x_true.max(), bins + 1)
        inside = x >= threshold
    # Clipping opens the outermost bin to infinity, so model draws more extreme than every
    # true point still count in T instead of silently vanishing.
    cells = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, bins - 1)
    return np.where(inside, cells, -1)


def _cells_1d(x_true, x_model, tail_fraction, side, bins):
    x_true, x_model = x_true.ravel(), x_model.ravel()
    if side != "both":
        cells = (_side_cells(x, x_true, tail_fraction, side, bins)
                 for x in (x_true, x_model))
        return (*cells, bins)
    out = []
    for x in (x_true, x_model):
        lower = _side_cells(x, x_true, tail_fraction, "lower", bins)
        upper = _side_cells(x, x_true, tail_fraction, "upper", bins)
        out.append(np.where(lower >= 0, lower, np.where(upper >= 0, upper + bins, -1)))
    return out[0], out[1], 2 * bins


def _rarity_scores(rarity, x, name, allow_inf):
    scores = np.asarray(rarity(x), dtype=np.float64).reshape(-1)
    invalid = np.isnan(scores) if allow_inf else ~np.isfinite(scores)
    if scores.shape[0] != x.shape[0] or np.any(invalid):
        kind = "non-NaN" if allow_inf else "finite"
        raise ValueError(
            f"rarity must return one {kind} score per row of {name}; got shape "
            f"{np.shape(scores)} for {x.shape[0]} rows."
        )
    return scores


def _embed(x, scores, mean, scale, s_mean, s_scale, s_max):
    # Capping the score opens the deepest cells: draws rarer than every true point are
    # placed at the deepest level instead of landing in arbitrary cells (or at infinity).
    depth = (np.minimum(scores, s_max) - s_mean) / s_scale
    return np.column_stack([(x - mean) / scale, depth])


def _cells_rarity(x_true, x_model, tail_fraction, bins, rarity):
    if rarity is None:
        rarity = kde_rarity(x_true)
    elif not callable(rarity):
        raise ValueError(f"rarity must be None or a callable; got {rarity!r}.")
    s_true = _rarity_scores(rarity, x_true, "x_true", allow_inf=False)
    s_model = _rarity_scores(rarity, x_model, "x_model", allow_inf=True)
    threshold = np.quantile(s_true, 1 - tail_fraction)
    in_true, in_model = s_true >= threshold, s_model >= threshold
    # Cells resolve where the tail points lie (standardised features) and how deep into
    # the tail they are (standardised score); either alone misses a kind of misfit.
    mean, scale = x_true.mean(axis=0), _nonzero(x_true.std(axis=0))
    s_tail = s_true[in_true]
    depth = (s_tail.mean(), _nonzero(s_tail.std()), s_tail.max())
    embedded = _embed(x_true[in_true], s_tail, mean, scale, *depth)
    n_cells = min(bins, np.unique(embedded, axis=0).shape[0])
    kmeans = KMeans(n_clusters=n_cells, n_init=4, random_state=0).fit(embedded)
    cells = []
    for x, s, inside in ((x_true, s_true, in_true), (x_model, s_model, in_model)):
        c = np.full(x.shape[0], -1)
        if inside.any():
            c[inside] = kmeans.predict(_embed(x[inside], s[inside], mean, scale, *depth))
        cells.append(c)
    return cells[0], cells[1], n_cells


def _nonzero(scale):
    return np.where(scale > 0, scale, 1.0)


def _smoothed_distribution(cells, n_cells, smoothing):
    counts = np.bincount(cells[cells >= 0], minlength=n_cells).astype(np.float64)
    total = counts.sum()
    prob = counts / total if total > 0 else counts
    return (prob + smoothing) / (prob.sum() + n_cells * smoothing)


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
      :class:`scipy.stats.gaussian_kde` fitted on ``x_true``). Its cells are the Voronoi
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
    no model point falls in ``T``, ``Q_T`` is the uniform distribution left by smoothing
    (a finite, poor score) and a warning is issued; with ``smoothing=0`` the result is then
    ``inf``, as it is whenever the model misses a cell that the data occupy.

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
        Bins per side in 1-D, or the number of cells otherwise; >= 1.
    smoothing : float, default=1e-4
        Probability added to every cell before renormalising; >= 0.
    rarity : callable or None, default=None
        ``rarity(X) -> scores`` of shape (n_rows,), higher meaning rarer (e.g. minus a
        log-density), for ``X`` of shape (n_rows, n_features); finite on ``x_true``,
        possibly ``+inf`` on ``x_model``. Replaces the KDE score and switches 1-D data to
        the rarity definition of ``T``.

    Returns
    -------
    kl : float
        The divergence, >= 0 (0 for identical samples); lower is better.

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
    _check_params(tail_fraction, side, bins, smoothing, multivariate)
    if multivariate:
        c_true, c_model, n_cells = _cells_rarity(x_true, x_model, tail_fraction, bins, rarity)
    else:
        c_true, c_model, n_cells = _cells_1d(x_true, x_model, tail_fraction, side, bins)
    if not np.any(c_model >= 0):
        warnings.warn("No point of x_model falls in the tail region T; Q_T is the uniform "
                      "distribution left by smoothing.", UserWarning, stacklevel=2)
        if smoothing == 0:
            return float("inf")
    p = _smoothed_distribution(c_true, n_cells, smoothing)
    q = _smoothed_distribution(c_model, n_cells, smoothing)
    return max(float(np.sum(rel_entr(p, q))), 0.0)
