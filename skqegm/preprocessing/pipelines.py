"""The paper's per-domain preprocessing, chained before an estimator."""

from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

from skqegm.pipeline import Pipeline
from skqegm.utils._validation import check_option

KINDS = ("finance", "climate", "intrusion")


def _intrusion_preprocessor(categorical_features):
    if categorical_features is None:
        # Without explicit columns, the non-numeric columns of a DataFrame are categorical.
        categorical_features = make_column_selector(dtype_exclude="number")
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
