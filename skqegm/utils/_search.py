"""Hyper-parameter searches inside the package's tools: the model that forecasts, scores
or samples for a search is the one it chose and refitted, its ``best_estimator_``.

scikit-learn's searches delegate ``predict``, ``score_samples`` and a few other methods to
``best_estimator_``, but not the tail API (``predict_var``, ``sample``, ...), so
``walk_forward`` and the scorers look through a search themselves.
"""

import copy

from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted


def is_search(estimator):
    """Whether ``estimator`` is a hyper-parameter search (``GridSearchCV``,
    ``RandomizedSearchCV``, the halving searches or any other with the parameters
    ``estimator`` and ``refit``): the model it searches over is its ``estimator``, the
    one it chose and refitted is its fitted ``best_estimator_``."""
    if isinstance(estimator, type):  # a class (no parentheses): the caller's check says so
        return False
    params = estimator.get_params(deep=False) if hasattr(estimator, "get_params") else {}
    return "estimator" in params and "refit" in params


def check_refit(search, caller):
    """Refuse a search that will make no ``best_estimator_`` for ``caller`` to use."""
    refit = search.get_params(deep=False)["refit"]
    if not (callable(refit) or isinstance(refit, str)) and not refit:
        raise ValueError(
            f"{caller} uses the best_estimator_ of {type(search).__name__} after each "
            f"fit, and refit={refit!r} makes none: set refit=True (with several scorers, "
            "refit='<name of the scorer to select by>').")


def searched_model(model, *, fitted, caller=None):
    """The model that works for ``model``: a search is replaced by its ``best_estimator_``
    (``fitted=True``) or, before fitting, by the ``estimator`` it searches over; a
    pipeline ending in a search keeps its other steps. ``model`` itself when it holds no
    search.

    A fitted search without ``best_estimator_`` (``refit=False``) raises a ``TypeError``
    naming ``caller`` (an unfitted one, scikit-learn's ``NotFittedError``); with
    ``caller=None`` it is left as it is (its own methods then say what it lacks).
    """
    if is_search(model):
        if not fitted:
            check_refit(model, caller)
            return searched_model(model.get_params(deep=False)["estimator"], fitted=False,
                                  caller=caller)
        best = getattr(model, "best_estimator_", None)
        if best is None:
            if caller is None:
                return model
            check_is_fitted(model)  # an unfitted search is refused as unfitted
            refit = model.get_params(deep=False)["refit"]
            raise TypeError(
                f"{type(model).__name__} (refit={refit!r}) has no best_estimator_ after "
                f"fit: {caller} uses the model the search chose and refitted. Use a search "
                "that sets best_estimator_ (scikit-learn's do with refit=True, a scorer "
                "name or a callable).")
        return searched_model(best, fitted=True, caller=caller)
    if isinstance(model, Pipeline) and model.steps:
        name, last = model.steps[-1]
        inner = searched_model(last, fitted=fitted, caller=caller)
        if inner is not last:
            # A copy, whose set_params makes a new list of steps: the model fitted (or
            # the user's template) keeps its search.
            return copy.copy(model).set_params(**{name: inner})
    return model


def outer_search(model):
    """The search that ``model`` is, or ends in (through pipelines); None if none."""
    while isinstance(model, Pipeline) and model.steps and not is_search(model):
        model = model.steps[-1][1]
    return model if is_search(model) else None
