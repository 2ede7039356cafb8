"""The paper's per-domain preprocessing, chained before an estimator."""

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


def _intrusion_preprocessor(categorical_features):
    if categorical_features is None:
        # Without explicit columns, the non-numeric columns of a DataFrame are categorical.
        categorical_features = _non_numeric_columns
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
        non-numeric columns of a DataFrame. Must be ``None`` for the other kinds.

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
