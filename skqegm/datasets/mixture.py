"""The paper's synthetic 1-D Gaussian mixture with rare outer modes, and its exact law."""

import numpy as np
from scipy.special import logsumexp
from scipy.stats import norm
from sklearn.utils.validation import check_array

from ..utils._memory import check_memory
from ..utils._validation import check_int, check_random_state

WEIGHTS = (0.15, 0.7, 0.15)
MEANS = (-3.0, 0.0, 3.0)
VARIANCES = (1.0, 0.5, 1.5)


def _check_mixture(weights, means, variances):
    arrays = {}
    for name, value in (("weights", weights), ("means", means), ("variances", variances)):
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):  # numpy's message names no argument
            array = np.empty(0)
        if any(isinstance(v, (bool, np.bool_)) for v in np.ravel(np.asarray(value, dtype=object))):
            array = np.empty(0)  # booleans are not numbers (True read as 1)
        if array.ndim != 1 or array.size == 0 or not np.all(np.isfinite(array)):
            raise ValueError(f"{name} must be a non-empty 1-D sequence of finite numbers "
                             f"(not booleans); got {value!r}.")
        arrays[name] = array
    sizes = {array.size for array in arrays.values()}
    if len(sizes) != 1:
        raise ValueError("weights, means and variances must have the same length; got "
                         f"{len(weights)}, {len(means)} and {len(variances)}.")
    w, v = arrays["weights"], arrays["variances"]
    if np.any(w < 0) or not np.isclose(w.sum(), 1.0, rtol=0, atol=1e-8):
        raise ValueError(f"weights must be non-negative and sum to 1; got {weights!r}.")
    if np.any(v <= 0):
        raise ValueError(f"variances must be > 0; got {variances!r}.")
    return w / w.sum(), arrays["means"], v


def _check_points(X):
    X = check_array(X, ensure_2d=False, allow_nd=True, dtype=np.float64, input_name="X")
    if X.ndim == 2 and X.shape[1] == 1:
        X = X.ravel()
    if X.ndim != 1:
        raise ValueError(f"X must have shape (n_samples,) or (n_samples, 1); got {X.shape}.")
    return X


def make_tail_mixture(n_samples=10000, *, weights=WEIGHTS, means=MEANS, variances=VARIANCES,
                      random_state=None):
    """Draw from the paper's 1-D Gaussian mixture: a central mode and two rare outer ones.

    By default 70% of the mass is in ``N(0, 0.5)`` and 15% in each of ``N(-3, 1)`` and
    ``N(3, 1.5)`` (variances, not standard deviations).

    Parameters
    ----------
    n_samples : int, default=10000
        Number of points, >= 1.
    weights : sequence of float, default=(0.15, 0.7, 0.15)
        Component probabilities, non-negative, summing to 1.
    means : sequence of float, default=(-3, 0, 3)
        Component means.
    variances : sequence of float, default=(1, 0.5, 1.5)
        Component variances, > 0.
    random_state : int, RandomState instance or None, default=None
        Seed for reproducible draws.

    Returns
    -------
    X : ndarray of shape (n_samples, 1)
        The draws.
    component : ndarray of shape (n_samples,), dtype int
        Index of the component that produced each row (0, 1, 2 for the defaults: left
        rare, centre, right rare).

    See Also
    --------
    tail_mixture_logpdf, tail_mixture_cdf, tail_mixture_sf : the exact law of the draws.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.datasets import make_tail_mixture
    >>> X, component = make_tail_mixture(1000, random_state=0)
    >>> X.shape, component.shape
    ((1000, 1), (1000,))
    >>> np.bincount(component)
    array([154, 681, 165])
    """
    n_samples = check_int(n_samples, "n_samples", min_value=1)
    # the values, the components and their uniforms, and the normal draws
    check_memory(32.0 * n_samples, f"make_tail_mixture(n_samples={n_samples})",
                 "ask for fewer samples.")
    w, mu, var = _check_mixture(weights, means, variances)
    rng = check_random_state(random_state)
    component = rng.choice(w.size, size=n_samples, p=w)
    X = mu[component] + np.sqrt(var[component]) * rng.standard_normal(n_samples)
    return X.reshape(-1, 1), component


def tail_mixture_logpdf(X, *, weights=WEIGHTS, means=MEANS, variances=VARIANCES):
    """Exact log-density of the mixture of :func:`make_tail_mixture`.

    Parameters
    ----------
    X : array-like of shape (n_samples,) or (n_samples, 1)
        Points, finite.
    weights, means, variances : sequence of float
        Mixture parameters, as in :func:`make_tail_mixture`.

    Returns
    -------
    logpdf : ndarray of shape (n_samples,)
        ``log sum_k w_k N(x; mu_k, var_k)``, computed stably with ``logsumexp``.

    Examples
    --------
    >>> from skqegm.datasets import tail_mixture_logpdf
    >>> tail_mixture_logpdf([[0.0], [3.0], [10.0]]).round(3)
    array([ -0.921,  -3.018, -19.352])
    """
    X = _check_points(X)
    w, mu, var = _check_mixture(weights, means, variances)
    with np.errstate(divide="ignore"):
        log_w = np.log(w)
    per_component = norm.logpdf(X[:, None], loc=mu, scale=np.sqrt(var)) + log_w
    return logsumexp(per_component, axis=1)


def tail_mixture_cdf(X, *, weights=WEIGHTS, means=MEANS, variances=VARIANCES):
    """Exact cumulative distribution function of the mixture of :func:`make_tail_mixture`.

    Parameters
    ----------
    X : array-like of shape (n_samples,) or (n_samples, 1)
        Points, finite.
    weights, means, variances : sequence of float
        Mixture parameters, as in :func:`make_tail_mixture`.

    Returns
    -------
    cdf : ndarray of shape (n_samples,)
        ``sum_k w_k Phi((x - mu_k) / sd_k)``. For the upper-tail probability of eq. 1
        use :func:`tail_mixture_sf`: ``1 - cdf`` loses its relative precision where the
        tail is small (off by 2e-8 at ``x = 10``, and 0 at ``x = 20`` where the tail is
        6.2e-45).

    Examples
    --------
    >>> from skqegm.datasets import tail_mixture_cdf
    >>> tail_mixture_cdf([[-3.0], [0.0], [3.0]]).round(3)
    array([0.075, 0.501, 0.925])
    """
    X = _check_points(X)
    w, mu, var = _check_mixture(weights, means, variances)
    return norm.cdf(X[:, None], loc=mu, scale=np.sqrt(var)) @ w


def tail_mixture_sf(X, *, weights=WEIGHTS, means=MEANS, variances=VARIANCES):
    """Exact survival function ``P(X > x)`` of the mixture of :func:`make_tail_mixture`.

    The upper-tail probability of eq. 1, summed from each component's own tail, so that
    it keeps its relative precision far out where ``1 - tail_mixture_cdf(x)`` is 0
    (``x = 20``: 6.2e-45, within 4e-14 of the exact value); it underflows to 0 only
    below the smallest float (about ``1e-308``).

    Parameters
    ----------
    X : array-like of shape (n_samples,) or (n_samples, 1)
        Points, finite.
    weights, means, variances : sequence of float
        Mixture parameters, as in :func:`make_tail_mixture`.

    Returns
    -------
    sf : ndarray of shape (n_samples,)
        ``sum_k w_k (1 - Phi((x - mu_k) / sd_k))``, each term from
        :func:`scipy.stats.norm.sf`.

    Examples
    --------
    >>> from skqegm.datasets import tail_mixture_cdf, tail_mixture_sf
    >>> tail_mixture_sf([[0.0], [3.0]]).round(3)
    array([0.499, 0.075])
    >>> float(1 - tail_mixture_cdf([20.0])[0]), f"{tail_mixture_sf([20.0])[0]:.4e}"
    (0.0, '6.2422e-45')
    """
    X = _check_points(X)
    w, mu, var = _check_mixture(weights, means, variances)
    return norm.sf(X[:, None], loc=mu, scale=np.sqrt(var)) @ w
