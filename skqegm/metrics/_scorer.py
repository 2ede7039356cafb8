"""Scorers that pickle and route ``sample_weight`` as scikit-learn's own scorers do.

A closure cannot be pickled by the standard library, so a fitted ``GridSearchCV`` that
holds one as its ``scoring`` could not be saved with ``joblib.dump`` or ``pickle``. A
:class:`BoundScorer` holds the function by reference and its parameters by value: it
pickles whenever its parameters do (a ``rarity`` lambda, for instance, does not).

Metadata routing (``sklearn.set_config(enable_metadata_routing=True)``) asks each scorer
for ``get_metadata_routing()``; a scorer answers with its request for ``sample_weight``,
which ``set_score_request`` sets. As for scikit-learn's scorers, the default request is
``None``: weights passed to a search or to ``cross_validate`` but not requested raise
``UnsetMetadataPassedError`` rather than being dropped. Without routing, scikit-learn
asks a scorer ``_accept_sample_weight()`` before it forwards the ``sample_weight`` of a
search's ``fit``; a scorer that cannot weight rows answers False, and scikit-learn warns.
"""

import copy

from sklearn import get_config
from sklearn.utils.metadata_routing import UNCHANGED, UNUSED, WARN, MetadataRequest

from ..utils._search import searched_model


class BoundScorer:
    """``scorer(estimator, X, y=None, *, sample_weight=None)``: ``function(estimator, X, y,
    sample_weight=sample_weight, **params)``.

    Parameters
    ----------
    function : callable
        A module-level function ``function(estimator, X, y, **params) -> float``, which
        takes ``sample_weight`` too unless ``unweighted`` says why it cannot.
    name : str
        The scorer's name, shown in its ``repr`` and in error messages.
    doc : str
        Its docstring.
    unweighted : str or None, default=None
        Why the scorer's quantity cannot be weighted by rows; ``None`` if it can. A scorer
        with a reason refuses a ``sample_weight`` (and a request for one) with a
        ``ValueError`` that gives it.
    **params
        The parameters bound to ``function``.
    """

    # Class-level defaults: a scorer pickled before routing existed still loads.
    unweighted = None
    _shared = False
    _sample_weight_request = None  # scikit-learn's default: an error if passed unrequested

    def __init__(self, function, name, doc, unweighted=None, /, **params):
        self.function = function
        self.params = params
        self.unweighted = unweighted
        self.__name__ = self.__qualname__ = name
        self.__doc__ = doc

    def __call__(self, estimator, X, y=None, *, sample_weight=None):
        if isinstance(estimator, type):  # forgotten parentheses
            raise TypeError(f"{self.__name__} scores a fitted estimator; "
                            f"{estimator.__name__} is a class, not an instance.")
        # A fitted search (nested cross-validation) scores with the model it chose: its
        # best_estimator_, which it does not expose the tail API of.
        estimator = searched_model(estimator, fitted=True, caller=self.__name__)
        if self.unweighted is None:
            return self.function(estimator, X, y, sample_weight=sample_weight, **self.params)
        if sample_weight is not None:
            raise ValueError(self._refusal())
        return self.function(estimator, X, y, **self.params)

    def _refusal(self):
        return (f"{self.__name__} cannot weight rows, so it takes no sample_weight: "
                f"{self.unweighted}")

    def __repr__(self):
        params = ", ".join(f"{key}={getattr(value, '__name__', None) or value!r}"
                           for key, value in self.params.items())
        return f"{self.__name__}({params})"

    def _routing_repr(self):
        # scikit-learn names the scorer this way in its routing errors.
        return repr(self)

    def _accept_sample_weight(self):
        # scikit-learn (without routing) forwards a search's sample_weight to a scorer that
        # says yes here, and warns for one that says no.
        return self.unweighted is None

    def set_score_request(self, *, sample_weight=UNCHANGED):
        """Request (or not) ``sample_weight`` for ``score`` under metadata routing.

        As scikit-learn's scorers: only with ``sklearn.set_config(enable_metadata_routing=
        True)``; a scorer made by a ``make_*_scorer`` function is changed and returned. A
        prebuilt module-level scorer (``neg_fz0_loss_scorer``, the values of ``SCORERS``
        and ``RISK_SCORERS``...) is shared by every user of the module, so it is left as it
        is and a copy with the request is returned (as ``sklearn.metrics.get_scorer``
        returns copies): use the returned scorer.

        Parameters
        ----------
        sample_weight : bool, None or str, default=sklearn.utils.metadata_routing.UNCHANGED
            ``True``: the scorer takes the ``sample_weight`` passed to the search or to
            ``cross_validate`` (each fold's rows); ``False``: it does not, and scores
            unweighted; ``None`` (the default request): passing weights raises; a string:
            the name under which the weights are passed (an alias). A scorer that cannot
            weight rows refuses ``True`` and an alias.

        Returns
        -------
        scorer : BoundScorer
            This scorer, or for a prebuilt one a copy, with the request set.

        Raises
        ------
        RuntimeError
            If metadata routing is not enabled.
        ValueError
            If ``sample_weight`` is not a valid request, or requests weights of a scorer
            that cannot weight rows.

        Examples
        --------
        >>> import sklearn
        >>> from skqegm.metrics import make_pinball_scorer
        >>> with sklearn.config_context(enable_metadata_routing=True):
        ...     scorer = make_pinball_scorer(0.99).set_score_request(sample_weight=True)
        ...     scorer.get_metadata_routing().score.requests
        {'sample_weight': True}
        """
        if not get_config()["enable_metadata_routing"]:
            raise RuntimeError("This method is only available when metadata routing is "
                               "enabled. You can enable it using "
                               "sklearn.set_config(enable_metadata_routing=True).")
        scorer = copy.copy(self) if self._shared else self
        scorer._shared = False
        if isinstance(sample_weight, str) and sample_weight == UNCHANGED:
            return scorer
        if isinstance(sample_weight, str) and sample_weight in (UNUSED, WARN):
            raise ValueError(f"sample_weight must be True, False, None or an alias (a "
                             f"string); got {sample_weight!r}.")
        if self.unweighted is not None and (sample_weight is True
                                            or isinstance(sample_weight, str)):
            raise ValueError(self._refusal() + " Request sample_weight=False to score it "
                             "unweighted beside weighted scorers.")
        # scikit-learn's own check of the value (True, False, None or an identifier).
        request = MetadataRequest(owner=scorer)
        request.score.add_request(param="sample_weight", alias=sample_weight)
        scorer._sample_weight_request = request.score.requests["sample_weight"]
        return scorer

    def get_metadata_routing(self):
        """The scorer's metadata request: ``sample_weight`` for ``score``.

        Returns
        -------
        request : sklearn.utils.metadata_routing.MetadataRequest
            ``score`` requests ``sample_weight`` as set by :meth:`set_score_request`
            (``None`` by default: an error if weights are passed).

        Examples
        --------
        >>> from skqegm.metrics import make_fz0_scorer
        >>> make_fz0_scorer().get_metadata_routing().score.requests
        {'sample_weight': None}
        """
        request = MetadataRequest(owner=self)
        request.score.add_request(param="sample_weight", alias=self._sample_weight_request)
        return request


def shared(scorer):
    """Mark ``scorer`` as a module-level one: its ``set_score_request`` returns a copy.

    Parameters
    ----------
    scorer : BoundScorer

    Returns
    -------
    scorer : BoundScorer
        The same scorer.
    """
    scorer._shared = True
    return scorer


def prebuilt(function, scorer):
    """Give the module-level scorer ``function`` the routing methods of ``scorer``.

    ``function`` calls ``scorer``, its twin built with the same defaults; a function
    pickles by reference, holds no request of its own and is shared by every user, so
    ``function.set_score_request`` returns a new scorer with the request (a copy of
    ``scorer``) and leaves ``function`` as it is, and ``function.get_metadata_routing``
    answers the default request (``None``: weights passed unrequested raise).

    Parameters
    ----------
    function : callable
        The prebuilt scorer, ``function(estimator, X, y=None, *, sample_weight=None)``.
    scorer : BoundScorer
        The scorer it calls.

    Returns
    -------
    function : callable
        The same function, with ``set_score_request``, ``get_metadata_routing`` and
        ``_accept_sample_weight``.
    """
    scorer = shared(scorer)
    function.set_score_request = scorer.set_score_request
    function.get_metadata_routing = scorer.get_metadata_routing
    function._accept_sample_weight = scorer._accept_sample_weight
    return function
