"""The paper's per-domain preprocessing, chained before an estimator."""

import numbers

import numpy as np
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

from ..pipeline import Pipeline
from ..utils._validation import check_option

KINDS = ("finance", "climate", "intrusion")


_NON_NUMERIC = make_column_selector(dtype_exclude="number")


def _non_numeric_columns(X):
    """The non-numeric columns of a DataFrame: the categorical columns, found by dtype."""
    if not hasattr(X, "select_dtypes"):  # scikit-learn's selector fails without the name
        raise ValueError(
            "make_tail_pipeline(kind='intrusion') without categorical_features finds the "
            f"categorical columns by their dtype, which needs a pandas DataFrame; got "
            f"{type(X).__name__}. Pass categorical_features (the categorical columns' "
            "indices, e.g. [1, 2, 3] for load_intrusion's numpy output)."
        )
    return _NON_NUMERIC(X)


def _check_categorical_features(columns):
    """Refuse a ``categorical_features`` that no ``X`` can match (checked before any fit)."""
    if isinstance(columns, (str, bytes, numbers.Number)):
        raise ValueError(f"categorical_features must be a list of column names or indices; "
                         f"got {columns!r} (one column: pass [{columns!r}]).")
    try:
        values = list(columns)
    except TypeError:
        raise ValueError("categorical_features must be a list of column names (str) or "
                         "indices (int), a boolean mask, a callable or None; got "
                         f"{type(columns).__name__}.") from None
    masks = all(isinstance(v, (bool, np.bool_)) for v in values)
    names = all(isinstance(v, str) for v in values)
    indices = all(isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))
                  for v in values)
    if not (masks or names or indices):
        raise ValueError("categorical_features must hold column names (str), column indices "
                         f"(int) or a boolean mask, one kind only; got {values!r}.")
    if not masks and len(set(values)) != len(values):
        raise ValueError(f"categorical_features must not repeat a column; got {values!r}.")


class _CategoricalColumns(list):
    """``categorical_features`` as a list, checked against ``X`` when it is fitted.

    A callable column selection of :class:`~sklearn.compose.ColumnTransformer`, called
    once in ``fit``: a name or index that is not a column of ``X`` gets a message naming
    the parameter and the columns ``X`` has, where scikit-learn's came from deep inside
    ("all features must be in [0, 1] or [-2, 0]"). A list, so that ``get_params`` shows
    (and compares equal to, and serialises as) the list of columns given.
    """

    def __call__(self, X):
        values = list(self)
        names = list(X.columns) if hasattr(X, "columns") else None
        n_columns = np.shape(X)[1]
        if values and all(isinstance(v, (bool, np.bool_)) for v in values):
            if len(values) != n_columns:
                raise ValueError(f"categorical_features is a boolean mask of {len(values)} "
                                 f"columns; X has {n_columns}.")
            return values
        for value in values:
            if isinstance(value, str) and names is None:
                raise ValueError(f"categorical_features names the column {value!r}, but X "
                                 f"has no column names ({type(X).__name__} of {n_columns} "
                                 "columns); pass the categorical columns' indices, e.g. "
                                 "[1, 2, 3] for load_intrusion's numpy output.")
            if isinstance(value, str) and value not in names:
                raise ValueError(f"categorical_features holds {value!r}, which is not a "
                                 f"column of X; its columns are: "
                                 f"{', '.join(map(str, names))}.")
            if not isinstance(value, str) and not -n_columns <= value < n_columns:
                raise ValueError(f"categorical_features holds {value}, which is not a "
                                 f"column index of X: X has {n_columns} columns (0 to "
                                 f"{n_columns - 1}, or negative from the end).")
        _check_no_text_left(X, values, names, n_columns)
        return values


def _check_no_text_left(X, values, names, n_columns):
    """Refuse a column of text left out of ``categorical_features``: it would be scaled."""
    chosen = {names.index(v) if isinstance(v, str) else v % n_columns for v in values}
    for j in sorted(set(range(n_columns)) - chosen):
        if names is not None:  # a DataFrame: pandas is there
            from pandas.api.types import is_numeric_dtype

            text = not is_numeric_dtype(X.iloc[:, j])  # object, string, category
        else:  # an object array such as load_intrusion's: its first row says
            text = len(X) > 0 and isinstance(np.asarray(X[:1], dtype=object)[0, j], str)
        if text:
            name = repr(names[j]) if names is not None else f"index {j}"
            raise ValueError(f"the column {name} of X holds text but is not in "
                             f"categorical_features; every other column is standardised, "
                             "which needs numbers: add it to categorical_features.")


def _intrusion_preprocessor(categorical_features):
    if categorical_features is None:
        # Without explicit columns, the non-numeric columns of a DataFrame are categorical.
        categorical_features = _non_numeric_columns
    elif not callable(categorical_features):
        _check_categorical_features(categorical_features)
        categorical_features = _CategoricalColumns(categorical_features)
    encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    return ColumnTransformer(
        [("categorical", encoder, categorical_features)],
        remainder=StandardScaler(),
        verbose_feature_names_out=False,
    )


def make_tail_pipeline(estimator, kind="finance", categorical_features=None):
    """Chain the paper's preprocessing for a data domain before ``estimator``.

    - ``"finance"``: z-scoring with :class:`~sklearn.preprocessing.StandardScaler` (eq. 10);
    - ``"climate"``: min-max scaling to [0, 1] with :class:`~sklearn.preprocessing.MinMaxScaler`;
    - ``"intrusion"``: one-hot encoding of the categorical columns (categories unseen in
      ``fit`` are encoded as all zeros) and standardisation of every other column.

    The steps are named ``"preprocess"`` and ``"estimator"``, so a grid over the model's
    parameters reads ``{"estimator__bandwidth": [...]}``. The result is a
    :class:`skqegm.pipeline.Pipeline`, so it has the methods of ``estimator``: its
    ``sample`` returns draws in the units of the data (mapped back through the
    ``inverse_transform`` of the ``"preprocess"`` step, which "finance" and "climate"
    have; with "intrusion" it raises ``TypeError``, one-hot encoding being one-way), and
    the tail API of a :class:`~skqegm.TailRiskEstimator` (``predict_var``,
    ``predict_interval``, ``predict_rare``, ...) preprocesses ``X`` first. The scorers of
    :mod:`skqegm.metrics` therefore score the pipeline as a whole.

    Parameters
    ----------
    estimator : estimator object
        The model to fit on the preprocessed data (anything with ``fit``).
    kind : {"finance", "climate", "intrusion"}, default="finance"
        The data domain.
    categorical_features : list of str or int, array-like of bool, callable or None, \
default=None
        Categorical columns for ``kind="intrusion"``, in any form that
        :class:`~sklearn.compose.ColumnTransformer` accepts. ``None`` selects the
        non-numeric columns of a DataFrame. A single name or index (not in a list), or a
        list mixing names and indices, is refused here; a name or index that is not a
        column of ``X``, or names for an ``X`` without column names, is refused in
        ``fit`` with the columns ``X`` has. Must be ``None`` for the other kinds.

    Returns
    -------
    pipeline : skqegm.pipeline.Pipeline
        Unfitted pipeline ``[("preprocess", ...), ("estimator", estimator)]``.

    Notes
    -----
    With the data of :mod:`skqegm.datasets`: for ``"climate"``, a sampler takes the
    rainfall column ``load_daily_rainfall(return_X_y=True)[0]``, and a conditional model of
    the next day's rain takes the previous day's, ``make_lagged_features(rain, lags=(1,),
    vol_windows=())``. On this series the previous day lowers the pinball loss of a 99%
    quantile forecast by about 8% (chronological 70/30 split, both with a quantile
    gradient boosting and a :class:`~skqegm.TailRiskEstimator`); more lags, rolling sums
    and a seasonal sin / cos of the day did not lower it further, so none is built here.
    Score a rainfall sampler on the wet tail, ``make_tail_kl_scorer(side="upper")``: the
    default ``side="both"`` of ``neg_tail_kl_scorer`` fails on the dry days (47% are 0 mm).

    For ``"intrusion"``, the categorical columns of ``load_intrusion(as_frame=True)`` are
    found by their dtype, and its numpy output needs ``categorical_features=[1, 2, 3]``.
    Columns constant in the training data (KDD has three, all zero) are kept: a held-out
    value there has a very low density, which is the anomaly one looks for. Select the
    model by its held-out log-likelihood (the estimator's own ``score``, the default of
    :class:`~sklearn.model_selection.GridSearchCV`): the tail KL scorer of
    :mod:`skqegm.metrics` compares draws with the held-out ``X`` in the units of the data,
    which hold strings and to which the draws cannot be mapped back.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neighbors import KernelDensity
    >>> from skqegm.preprocessing import make_tail_pipeline
    >>> pipe = make_tail_pipeline(KernelDensity(bandwidth=0.5), kind="finance")
    >>> [name for name, _ in pipe.steps]
    ['preprocess', 'estimator']
    >>> X = np.array([[0.01], [-0.02], [0.005], [0.0], [-0.01]])
    >>> pipe.fit(X).score_samples(X).shape
    (5,)
    >>> draws = pipe.sample(1000, random_state=0)  # in the units of X, not z-scores
    >>> bool(abs(draws.mean()) < 0.01)
    True

    Attacks are rare and far from normal traffic (KDD Cup 1999, 1.5% attacks):

    >>> from sklearn.mixture import GaussianMixture
    >>> from skqegm.datasets import load_intrusion
    >>> X, y = load_intrusion(as_frame=True)
    >>> gmm = GaussianMixture(covariance_type="diag", random_state=0)
    >>> pipe = make_tail_pipeline(gmm, kind="intrusion").fit(X[y == 0])
    >>> density = pipe.score_samples(X)
    >>> bool(density[y == 1].mean() < density[y == 0].mean())
    True
    """
    check_option(kind, "kind", KINDS)
    if not hasattr(estimator, "fit"):
        raise TypeError(f"estimator must have a fit method; got {type(estimator).__name__}.")
    if kind != "intrusion" and categorical_features is not None:
        raise ValueError(
            f"categorical_features is only used with kind='intrusion'; got kind={kind!r}."
        )
    if kind == "finance":
        preprocess = StandardScaler()
    elif kind == "climate":
        preprocess = MinMaxScaler()
    else:
        preprocess = _intrusion_preprocessor(categorical_features)
    return Pipeline([("preprocess", preprocess), ("estimator", estimator)])
