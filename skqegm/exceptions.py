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


class QuantumJobError(RuntimeError):
    """A job on a quantum backend failed for good: after its retries, or at once when the
    fault is not transient.

    The message names the backend, the attempts and every job id, so that the jobs can
    be looked up with the provider; the ids are also in ``job_ids``.

    Examples
    --------
    >>> from skqegm.exceptions import QuantumJobError
    >>> error = QuantumJobError("job failed", job_ids=["a1", "b2"])
    >>> error.job_ids
    ['a1', 'b2']
    """

    def __init__(self, message, job_ids=()):
        super().__init__(message)
        self.job_ids = list(job_ids)


class ShotBudgetError(ValueError):
    """Submitting would exceed ``max_shots``: refused before the first shot is spent.

    A :class:`ValueError` (the cause is an argument); ``estimate`` holds the shots asked
    for and ``max_shots`` the budget.

    Examples
    --------
    >>> from skqegm.exceptions import ShotBudgetError
    >>> error = ShotBudgetError("over budget", estimate=5000, max_shots=1000)
    >>> error.estimate, error.max_shots, isinstance(error, ValueError)
    (5000, 1000, True)
    """

    def __init__(self, message, estimate=None, max_shots=None):
        super().__init__(message)
        self.estimate = estimate
        self.max_shots = max_shots
