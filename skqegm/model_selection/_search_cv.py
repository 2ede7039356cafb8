"""A hyper-parameter search's ``cv`` inside walk-forward windows.

``walk_forward`` runs a search on each training window alone. Its ``cv`` then splits
the window's rows, which are in time order; a splitter that trains on later rows than
it validates on (the default ``KFold``), or fixed positions (a list of splits, a
``PredefinedSplit``) in a window that grows, choose the candidates by the wrong rows
without any error. These checks say so before any fit.
"""

import copy
import numbers
import warnings

import numpy as np
from sklearn.base import is_classifier
from sklearn.model_selection import check_cv

from ..utils._search import is_search
from ..utils._warnings import caller_stacklevel


def _one_shot(cv):
    """Whether a search's ``cv`` is an iterator of splits (a generator, say), which one
    pass spends: ``None``, an int and a splitter make new splits at every ``split``."""
    if cv is None or isinstance(cv, numbers.Integral) or hasattr(cv, "split"):
        return False
    try:
        return iter(cv) is cv  # iter() of an iterator is itself, and consumes nothing
    except TypeError:  # no iterable: the search's own check refuses it
        return False


def _searches(estimator):
    """``(path, search)`` of every search that ``estimator`` is or holds, in the order
    of ``get_params(deep=True)``: the path is its name there (``"m"``, a step;
    ``"estimator__m"``, a step of the pipeline a search searches over), ``""`` for
    ``estimator`` itself. A search nested in a pipeline or in another search is cloned
    and fitted at every refit as well, on the refit's training rows (or part of them).
    So is one among a search's candidates (an estimator in the lists of its
    ``param_grid`` or ``param_distributions``, which ``get_params`` does not reach):
    its path says where, ``"param_grid['m'][1]"``. A ``cv`` among the candidates of a
    nested search (``{"estimator__cv": [...]}``) comes as a copy of that search with
    that ``cv``; a nested search whose ``cv`` every grid sets is not listed itself."""
    found, listed, overridden = [], set(), set()

    def visit(item, where):
        if isinstance(item, type) or not hasattr(item, "get_params"):
            return
        inner = [(where, item)] if is_search(item) else []
        inner += [(_joined(where, name), value) for name, value
                  in item.get_params(deep=True).items() if is_search(value)]
        for search_path, search in inner:
            if id(search) in listed:  # met before (a candidate in two grids)
                continue
            listed.add(id(search))
            found.append((search_path, search))
            prefix = f"{search_path}: " if search_path else ""
            grids = _grids(search)
            for grid_path, name, value in _candidates(grids):
                owner = _cv_owner(search, name)
                if owner is not None:
                    found.append((prefix + grid_path,
                                  copy.copy(owner).set_params(cv=value)))
                else:
                    visit(value, prefix + grid_path)
            for name in set.intersection(*[set(grid) for _, grid in grids] or [set()]):
                owner = _cv_owner(search, name)
                if owner is not None:  # every candidate replaces its cv
                    overridden.add(id(owner))

    visit(estimator, "")
    return [(where, search) for where, search in found if id(search) not in overridden]


def _joined(where, name):
    return f"{where}__{name}" if where else name


def _grids(search):
    """``[(path, grid), ...]``: the dicts of a search's ``param_grid`` or
    ``param_distributions`` (a dict, or a list of dicts)."""
    params = search.get_params(deep=False)
    found = []
    for key in ("param_grid", "param_distributions"):
        grids = params.get(key)
        if isinstance(grids, dict):
            found.append((key, grids))
        elif isinstance(grids, (list, tuple)):
            found += [(f"{key}[{number}]", grid) for number, grid in enumerate(grids)
                      if isinstance(grid, dict)]
    return found


def _candidates(grids):
    """``(path, name, value)`` of the candidate values in ``grids`` that are estimators
    or splitters (lists of values; a distribution is left out)."""
    for where, grid in grids:
        for name, values in grid.items():
            if isinstance(values, (list, tuple, np.ndarray)):
                for index, value in enumerate(values):
                    if isinstance(value, type):
                        continue
                    if (hasattr(value, "get_params") or hasattr(value, "split")
                            or _is_cv_name(name)):
                        yield f"{where}[{name!r}][{index}]", name, value


def _is_cv_name(name):
    return isinstance(name, str) and (name == "cv" or name.endswith("__cv"))


def _cv_owner(search, name):
    """The nested search whose ``cv`` the grid key ``name`` of ``search`` sets, or None."""
    if not _is_cv_name(name):
        return None
    model = search.get_params(deep=False).get("estimator")
    if name != "cv":
        params = model.get_params(deep=True) if hasattr(model, "get_params") else {}
        model = params.get(name[:-len("__cv")])
    return model if is_search(model) else None


def _named(search, path):
    """``GridSearchCV``, or for a nested one ``GridSearchCV (estimator__m, as set_params
    names it)``, or for a candidate ``GridSearchCV (in param_grid['m'][0])``."""
    if not path:
        return type(search).__name__
    if "[" in path:
        return f"{type(search).__name__} (in {path})"
    return f"{type(search).__name__} ({path}, as set_params names it)"


def check_search_cv(estimator):
    """Refuse a search (``estimator`` or one it holds) whose ``cv`` is a one-shot
    iterator: every refit runs the search on its own window (the first would spend it),
    and ``clone`` cannot copy one (it raised "cannot pickle 'generator' object")."""
    for path, search in _searches(estimator):
        cv = search.get_params(deep=False).get("cv")
        if _one_shot(cv):
            raise TypeError(
                f"The cv of {_named(search, path)} is a one-shot iterator of splits "
                f"({type(cv).__name__}): walk_forward runs the search once per refit, on "
                "windows of their own, and an iterator is spent after one pass. Pass a "
                "splitter, such as sklearn.model_selection.TimeSeriesSplit(n_splits), or "
                "a list of (train, validation) splits.")


def _describe_cv(cv, checked):
    # On one line: a PredefinedSplit's repr holds its array, over several.
    if hasattr(cv, "split"):
        return "cv=" + " ".join(repr(cv).split())
    if cv is None or isinstance(cv, numbers.Integral):
        return f"cv={cv!r} ({checked!r})"
    return f"cv (a list of {checked.get_n_splits()} (train, validation) splits)"


def _positions(rows, n_rows):
    """A split's rows as positions in ``[0, n_rows)``: a boolean mask's, or integer
    positions with negative ones counted from the end (as numpy and pandas' ``iloc``
    index them: ``-1`` is the window's last row)."""
    rows = np.asarray(rows)
    if rows.dtype == bool:
        return np.flatnonzero(rows)
    return np.where(rows < 0, rows + n_rows, rows)


def _first_look_ahead(splits, n_rows):
    """``(split number from 1, a training row, an earlier validation row)`` of the first
    split that trains on a row after one it validates on; None if every split keeps
    time order."""
    for number, (train, test) in enumerate(splits, 1):
        train, test = _positions(train, n_rows), _positions(test, n_rows)
        if train.size and test.size and train.max() > test.min():
            return number, int(train.max()), int(test.min())
    return None


def _last_validated(splits, n_rows):
    """The last row that any split validates on (-1 if none)."""
    tests = [_positions(test, n_rows) for _, test in splits]
    return max((int(test.max()) for test in tests if test.size), default=-1)


def _search_splits(params, X, y, block):
    """The search's splits of the block's training rows, as its fit will make them
    (scikit-learn's ``check_cv``), and the splitter that made them."""
    cv = params["cv"]
    if hasattr(cv, "split"):
        cv = copy.deepcopy(cv)  # a shuffling splitter would advance the user's RNG
    train = slice(block[0], block[1])  # views of the rows: no copy of a long X
    checked = check_cv(cv, y[train], classifier=is_classifier(params["estimator"]))
    window = X.iloc[train] if hasattr(X, "iloc") else X[train]
    return checked, list(checked.split(window, y[train]))


def warn_about_search_cv(estimator, X, y, blocks):
    """Warn (once per search, in the caller's process, before any fit) if the ``cv`` of
    a search that ``estimator`` is or holds (in a pipeline, in another search: any
    reachable through ``get_params(deep=True)``, or among a search's candidates) trains
    on rows after rows it validates on, or validates at every refit of an expanding
    window on the first window's rows alone.

    The first is checked on the splits of the first refit's training rows. Their rows
    are in time order (the dates are strictly increasing), so a split that keeps time
    order validates only on rows after all its training rows, as
    :class:`~sklearn.model_selection.TimeSeriesSplit` does. The second, on the splits
    of the last refit's longer window: a list of splits or a ``PredefinedSplit`` holds
    fixed positions, and validates on the same rows at every refit. A nested search is
    fitted on the whole window too (when the search holding it refits its choice) and
    on parts of it (the outer ``cv``'s training rows): it is checked on the window. A
    cv that cannot split here (a group splitter without groups, a stratified one on a
    continuous ``y``) is left to the search, whose fit raises."""
    for path, search in _searches(estimator):
        _warn_about_cv(search, path, X, y, blocks)


def _warn_about_cv(search, path, X, y, blocks):
    params = search.get_params(deep=False)
    if "cv" not in params or _one_shot(params["cv"]):
        return
    first, last = blocks[0], blocks[-1]
    n_first = first[1] - first[0]
    # ...nor numpy's global RNG (random_state=None): restored, so no later draw changes
    global_rng = np.random.get_state()  # noqa: NPY002
    try:
        checked, splits = _search_splits(params, X, y, first)
        found = _first_look_ahead(splits, n_first)
        reach = None
        if last[1] - last[0] > n_first:
            reach = _last_validated(_search_splits(params, X, y, last)[1], last[1] - last[0])
    except Exception:  # the search's fit raises it, naming the refit
        return
    finally:
        np.random.set_state(global_rng)  # noqa: NPY002
    cv = f"{_describe_cv(params['cv'], checked)} of {_named(search, path)}"
    if found is not None:
        number, after, before = found
        warnings.warn(
            f"The {cv} trains on rows after the ones it validates on: on the first "
            f"refit's training rows [{first[0]}, {first[1]}), its split "
            f"{number}/{len(splits)} trains on row {first[0] + after} and validates on "
            f"the earlier row {first[0] + before}. No forecast row leaks, but within "
            "each training window the candidates are scored on the past after training "
            "on the future; the return-series baselines (GARCH, EWMA, historical "
            "simulation) continue the series from the end of their training rows, so "
            "their validation scores then mean nothing. Use cv=sklearn.model_selection."
            "TimeSeriesSplit(n_splits) (with gap=h - 1 if the target spans h rows).",
            UserWarning, stacklevel=caller_stacklevel())
    if reach is not None and reach < n_first:
        warnings.warn(
            f"The {cv} validates on none of the rows that the expanding window gains "
            f"after the first refit: on the last refit's training rows [{last[0]}, "
            f"{last[1]}), it validates on rows up to {last[0] + reach} alone, within the "
            f"first refit's [{first[0]}, {first[1]}) (a list of splits or a "
            "PredefinedSplit holds fixed positions). Every refit then chooses by the "
            f"same early rows, never by the {last[1] - first[1]} rows after them. Use a "
            "splitter that splits each window anew, such as cv=sklearn.model_selection."
            "TimeSeriesSplit(n_splits).",
            UserWarning, stacklevel=caller_stacklevel())
