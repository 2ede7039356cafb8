"""The parameters as at fit: what a fitted model reads instead of the current ones.

``set_params`` after a fit changes the parameters but not the model: a prediction that
read the current values mixed the two (``dist="normal"`` set on a Student-t GARCH fit
gave the normal quantile on the t fit's volatility; a new ``window`` gave historical
simulation more or fewer rows than ``X``; a new ``n_steps`` a diffusion schedule the
network was not trained on). Each ``fit`` records the parameters it used
(:func:`record_fit_params`), and the fitted model reads them back (:func:`fit_param`)
until the next fit.
"""

_RECORD = "_fit_params"


def record_fit_params(estimator, params=None):
    """Record ``params`` as the parameters of ``estimator``'s fit.

    Parameters
    ----------
    estimator : BaseEstimator
        The estimator being fitted.
    params : dict or None, default=None
        The parameters that the fitted model reads; None records all of
        ``estimator.get_params(deep=False)``.

    Examples
    --------
    >>> from sklearn.linear_model import Ridge
    >>> from skqegm.utils._fit_params import fit_param, record_fit_params
    >>> model = Ridge(alpha=2.0)
    >>> record_fit_params(model)
    >>> model.set_params(alpha=5.0).alpha, fit_param(model, "alpha")
    (5.0, 2.0)
    """
    setattr(estimator, _RECORD,
            dict(estimator.get_params(deep=False) if params is None else params))


def fit_params(estimator):
    """The parameters recorded at ``estimator``'s last fit, a dict (empty without one)."""
    return getattr(estimator, _RECORD, {})


def fit_param(estimator, name):
    """The parameter ``name`` as at ``estimator``'s last fit.

    Its current value where the fit recorded none: a parameter left out of the record,
    or a model saved before it kept one.
    """
    return fit_params(estimator).get(name, getattr(estimator, name))
