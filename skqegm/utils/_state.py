"""What an estimator keeps when its fit fails: the state it had before the fit."""

import contextlib
import functools


@contextlib.contextmanager
def restored_on_failure(estimator):
    """Give ``estimator`` back the attributes it had before the block if the block raises.

    Every attribute but the parameters is put back as it was (an estimator fitted before
    keeps its last model, an unfitted one stays unfitted), then the exception, or the
    ``KeyboardInterrupt``, propagates. A refit that fails half-way would otherwise keep
    the new data's attributes beside the last fit's model, and its predictions would mix
    the two without a word.

    Parameters
    ----------
    estimator : BaseEstimator
        The estimator being fitted.

    Examples
    --------
    >>> from sklearn.linear_model import LinearRegression
    >>> from skqegm.utils._state import restored_on_failure
    >>> model = LinearRegression().fit([[0.0], [1.0]], [0.0, 2.0])
    >>> try:
    ...     with restored_on_failure(model):
    ...         model.coef_ = None  # a fit that fails half-way
    ...         raise ValueError("refused")
    ... except ValueError:
    ...     pass
    >>> model.coef_
    array([2.])
    """
    saved = dict(vars(estimator))  # the objects themselves: a fit replaces, never edits, them
    try:
        yield
    except BaseException:
        params = set(estimator.get_params(deep=False))
        for name in list(vars(estimator)):
            if name not in params:
                delattr(estimator, name)
        vars(estimator).update({name: value for name, value in saved.items()
                                if name not in params})
        raise


def kept_on_failure(fit):
    """Decorate a ``fit`` method so that a fit that raises leaves the estimator as it was.

    :func:`restored_on_failure` around the whole method: a refit refused half-way (too
    few rows, a constant target) kept the new data's ``n_features_in_`` beside the last
    fit's model, which then refused every prediction.
    """
    @functools.wraps(fit)
    def wrapper(self, *args, **kwargs):
        with restored_on_failure(self):
            return fit(self, *args, **kwargs)

    return wrapper
