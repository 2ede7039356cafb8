"""What an estimator keeps when its fit fails: its parameters, and nothing fitted."""

import contextlib


@contextlib.contextmanager
def unfitted_on_failure(estimator):
    """Leave ``estimator`` unfitted if the block raises (or is interrupted).

    Every attribute but the parameters and scikit-learn's own settings (``set_output``,
    metadata requests) is dropped, then the exception propagates. A refit that fails
    half-way would otherwise keep the new data's attributes beside the last fit's model,
    and its predictions would mix the two without a word.

    Parameters
    ----------
    estimator : BaseEstimator
        The estimator being fitted.

    Examples
    --------
    >>> from sklearn.linear_model import LinearRegression
    >>> from skqegm.utils._state import unfitted_on_failure
    >>> model = LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])
    >>> try:
    ...     with unfitted_on_failure(model):
    ...         model.fit([[0.0], [1.0]], [0.0])
    ... except ValueError:
    ...     pass
    >>> hasattr(model, "coef_"), model.fit_intercept
    (False, True)
    """
    try:
        yield
    except BaseException:
        keep = set(estimator.get_params(deep=False))
        for name in list(vars(estimator)):
            if name not in keep and not name.startswith(("_sklearn", "_metadata_request")):
                delattr(estimator, name)
        raise
