"""Scorers that pickle: a module-level scoring function with its parameters bound.

A closure cannot be pickled by the standard library, so a fitted ``GridSearchCV`` that
holds one as its ``scoring`` could not be saved with ``joblib.dump`` or ``pickle``. A
:class:`BoundScorer` holds the function by reference and its parameters by value: it
pickles whenever its parameters do (a ``rarity`` lambda, for instance, does not).
"""


class BoundScorer:
    """``scorer(estimator, X, y=None)``: ``function(estimator, X, y, **params)``.

    Parameters
    ----------
    function : callable
        A module-level function ``function(estimator, X, y, **params) -> float``.
    name : str
        The scorer's name, shown in its ``repr`` and in error messages.
    doc : str
        Its docstring.
    **params
        The parameters bound to ``function``.
    """

    def __init__(self, function, name, doc, /, **params):
        self.function = function
        self.params = params
        self.__name__ = self.__qualname__ = name
        self.__doc__ = doc

    def __call__(self, estimator, X, y=None):
        return self.function(estimator, X, y, **self.params)

    def __repr__(self):
        params = ", ".join(f"{key}={getattr(value, '__name__', None) or value!r}"
                           for key, value in self.params.items())
        return f"{self.__name__}({params})"
