"""The exceptions and warnings skqegm raises beyond Python's and scikit-learn's own."""

from sklearn.exceptions import ConvergenceWarning


class MemoryLimitError(MemoryError, ValueError):
    """An argument asks for more memory than the machine has: refused before allocating.

    A :class:`MemoryError` (what it prevents) and a :class:`ValueError` (its cause is an
    argument, so ``GridSearchCV`` and callers that catch bad input see it as such). The
    message gives the estimate, the limit, and the argument to lower.

    Examples
    --------
    >>> from skqegm.exceptions import MemoryLimitError
    >>> issubclass(MemoryLimitError, ValueError), issubclass(MemoryLimitError, MemoryError)
    (True, True)
    """


class ExtrapolationWarning(UserWarning):
    """Predictions asked for features far outside those the model was fitted on.

    Examples
    --------
    >>> from skqegm.exceptions import ExtrapolationWarning
    >>> issubclass(ExtrapolationWarning, UserWarning)
    True
    """


class DivergenceWarning(ConvergenceWarning):
    """A fit whose loss rose, or whose model reaches far beyond the data: it diverged.

    A :class:`~sklearn.exceptions.ConvergenceWarning`, so filters of those catch it;
    the usual cure is a lower ``learning_rate``.

    Examples
    --------
    >>> from sklearn.exceptions import ConvergenceWarning
    >>> from skqegm.exceptions import DivergenceWarning
    >>> issubclass(DivergenceWarning, ConvergenceWarning)
    True
    """
