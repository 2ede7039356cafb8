"""A scikit-learn pipeline that also samples and forwards the tail-risk API.

:class:`Pipeline` is a drop-in subclass of :class:`sklearn.pipeline.Pipeline`, in the
way of imbalanced-learn's pipeline: everything scikit-learn's pipeline does is kept
(fitting, caching, metadata routing, ``score_samples``, ...), and the methods that
generative models and tail-risk estimators add are exposed when the last step has them.
"""

from sklearn import pipeline as sklearn_pipeline
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from .utils._sampling import call_with_random_state, has_inverse, is_passthrough

__all__ = ["Pipeline", "make_pipeline"]


class _LastStepDefault:
    """Default of an argument the pipeline leaves out of its call to the last step, so
    that the last step's own default applies (``None`` would be passed on, as a value)."""

    def __repr__(self):
        return "<the last step's default>"


_LAST_STEP_DEFAULT = _LastStepDefault()


def _given(*args):
    """The arguments that were given: those left at ``_LAST_STEP_DEFAULT`` are dropped."""
    return tuple(arg for arg in args if arg is not _LAST_STEP_DEFAULT)


def _last_step_has(method):
    """``available_if`` check: the last step has ``method``, so ``hasattr`` tells."""

    def check(pipeline):
        return bool(pipeline.steps) and hasattr(pipeline.steps[-1][1], method)

    return check


class Pipeline(sklearn_pipeline.Pipeline):
    """A :class:`sklearn.pipeline.Pipeline` that samples and forwards the tail-risk API.

    The steps, parameters and every method of scikit-learn's pipeline are unchanged (it
    is a subclass, so ``isinstance(pipe, sklearn.pipeline.Pipeline)`` holds and model
    selection, metadata routing and ``score_samples`` work as there). It adds these
    methods, each present only when the last step has it (``hasattr`` is ``False``
    otherwise, so duck-typing code such as the scorers of :mod:`skqegm.metrics` sees
    what the last step can do):

    - :meth:`sample`: the last step's draws, mapped back to the units of the data
      through the ``inverse_transform`` of the steps before it;
    - :meth:`sample_y`, :meth:`predict_interval`, :meth:`predict_quantiles`,
      :meth:`predict_var`, :meth:`predict_es`, :meth:`predict_rare`,
      :meth:`predict_tail_proba`: ``X`` goes through the ``transform`` of the steps
      before the last one, and the other arguments are passed on unchanged (one not
      given is left out, so that the last step's own default applies);
    - :meth:`rare_events`: ``y`` is passed straight to the last step (targets are
      never transformed).

    Steps set to ``"passthrough"`` or ``None`` are skipped. The added methods call the
    intermediate ``transform`` and ``inverse_transform`` without metadata.

    ``score_samples`` and ``score`` are scikit-learn's: the last step's log-density of the
    *transformed* ``X``, which differs from the density of ``X`` by the log-Jacobian of
    the transforms (a constant for a scaler, varying from row to row for a log or power
    transform). Compare them only between pipelines with the same preprocessing: one
    kernel density of 1% returns (bandwidth 0.0027 in their units) scored -1.38 nats a
    row behind a ``StandardScaler`` and 1.02 behind a ``MinMaxScaler``, 2.94 in the
    units of the returns both ways.

    Parameters
    ----------
    steps : list of tuple
        ``(name, estimator)`` pairs chained in order, as in
        :class:`sklearn.pipeline.Pipeline`: every step but the last is a transformer.
    transform_input : list of str, default=None
        Metadata of ``fit`` transformed by the steps before the one consuming it
        (needs metadata routing), as in :class:`sklearn.pipeline.Pipeline`.
    memory : str or object with the joblib.Memory interface, default=None
        Caches the fitted transformers, as in :class:`sklearn.pipeline.Pipeline`.
    verbose : bool, default=False
        Print the time taken to fit each step.

    Attributes
    ----------
    named_steps : Bunch
        The steps by name.
    n_features_in_ : int
        Number of features seen by the first step during ``fit``.
    feature_names_in_ : ndarray of shape (n_features,)
        Names of the features seen during ``fit``, when the first step records them.

    See Also
    --------
    make_pipeline : Build a Pipeline with steps named after their classes.
    sklearn.pipeline.Pipeline : The parent class.
    skqegm.preprocessing.make_tail_pipeline : The paper's preprocessing before a model.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neighbors import KernelDensity
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skqegm.pipeline import Pipeline
    >>> X = np.random.default_rng(0).normal(100.0, 5.0, size=(500, 1))
    >>> pipe = Pipeline([("scale", StandardScaler()),
    ...                  ("kde", KernelDensity(bandwidth=0.2))]).fit(X)
    >>> draws = pipe.sample(2000, random_state=0)  # in the units of X
    >>> bool(95 < draws.mean() < 105)
    True
    >>> hasattr(pipe, "predict_var")  # KernelDensity has no predict_var
    False
    """

    def _transform_before_last(self, X):
        """``X`` through the ``transform`` of every step but the last."""
        check_is_fitted(self)
        for _, step in self.steps[:-1]:
            if not is_passthrough(step):
                X = step.transform(X)
        return X

    def _last_step(self):
        return self.steps[-1][1]

    @available_if(_last_step_has("sample"))
    def sample(self, n_samples=1, random_state=None):
        """Draw from the last step and map the draws back to the units of the data.

        The draws of the last step's ``sample`` go through the ``inverse_transform`` of
        the steps before it, the step just before the last one first.

        Parameters
        ----------
        n_samples : int, default=1
            Number of draws, passed on to the last step's ``sample``.
        random_state : int, RandomState instance or None, default=None
            Passed on to the last step's ``sample`` when its signature has a
            ``random_state`` parameter (skqegm's samplers, whose ``None`` means the
            sampler's own ``random_state``; :class:`~sklearn.neighbors.KernelDensity`,
            whose ``None`` draws afresh). Otherwise it is ignored and the draws are as
            reproducible as the last step makes them:
            :meth:`sklearn.mixture.GaussianMixture.sample` draws from the mixture's own
            ``random_state``, so it repeats the same draws at every call when that is an
            int.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features) or tuple
            The draws in the units of the data the pipeline was fitted on. When the last
            step returns a tuple (``GaussianMixture`` returns ``(X, labels)``), the same
            tuple with its first element mapped back.

        Raises
        ------
        TypeError
            If a step before the last one has no ``inverse_transform`` (checked before
            drawing), is a :class:`~sklearn.preprocessing.FunctionTransformer` with a
            ``func`` but no ``inverse_func`` (whose inverse is the identity), or a feature
            selector that dropped columns (whose inverse fills them with zeros).
        """
        check_is_fitted(self)
        inverse_steps = []
        for name, step in reversed(self.steps[:-1]):
            if is_passthrough(step):
                continue
            if not has_inverse(step):
                # See has_inverse: some inverse_transform methods are no inverse.
                raise TypeError(
                    f"Pipeline.sample maps the draws of the last step back to the units of "
                    f"the data through the inverse_transform of every step before it, but "
                    f"step {name!r} ({type(step).__name__}) has no inverse_transform (a "
                    f"FunctionTransformer needs an inverse_func; a feature selector that "
                    f"dropped columns fills them with zeros). Draw from the last step on "
                    f"its own to get draws on the transformed scale."
                )
            inverse_steps.append(step)
        draws = call_with_random_state(self._last_step().sample, n_samples,
                                       random_state=random_state)
        X, others = (draws[0], draws[1:]) if isinstance(draws, tuple) else (draws, None)
        for step in inverse_steps:
            X = step.inverse_transform(X)
        return X if others is None else (X, *others)

    @available_if(_last_step_has("sample_y"))
    def sample_y(self, X, n_draws=_LAST_STEP_DEFAULT, random_state=None):
        """Draws of ``y`` given each row of ``X``, from the last step.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features, transformed by the steps before the last one.
        n_draws : int, optional
            Draws per row, passed on unchanged (``None`` too: the last step says what
            it means); when it is not given, the last step is called without it, so
            that its own default applies.
        random_state : int, RandomState instance or None, default=None
            Passed on when the last step's ``sample_y`` accepts a ``random_state``,
            ignored otherwise (skqegm's estimators read ``None`` as their own
            ``random_state``).

        Returns
        -------
        draws : ndarray of shape (n_samples, n_draws)
            The last step's ``sample_y`` on the transformed ``X``.
        """
        return call_with_random_state(self._last_step().sample_y,
                                      self._transform_before_last(X), *_given(n_draws),
                                      random_state=random_state)

    @available_if(_last_step_has("predict_interval"))
    def predict_interval(self, X, coverage=_LAST_STEP_DEFAULT):
        """Prediction intervals of the last step, on the transformed ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features, transformed by the steps before the last one.
        coverage : float, optional
            Nominal coverage, passed on unchanged (``None`` too: the last step says what
            it means); when it is not given, the last step is called without it, so
            that its own default applies.

        Returns
        -------
        intervals : ndarray of shape (n_samples, 2)
            Lower and upper bounds.
        """
        return self._last_step().predict_interval(self._transform_before_last(X),
                                                  *_given(coverage))

    @available_if(_last_step_has("predict_quantiles"))
    def predict_quantiles(self, X, quantiles):
        """Conditional quantiles of the last step, on the transformed ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features, transformed by the steps before the last one.
        quantiles : float or sequence of float
            Probabilities, passed on unchanged.

        Returns
        -------
        values : ndarray of shape (n_samples, n_quantiles)
            The last step's ``predict_quantiles`` on the transformed ``X``.
        """
        return self._last_step().predict_quantiles(self._transform_before_last(X), quantiles)

    @available_if(_last_step_has("predict_var"))
    def predict_var(self, X, level=_LAST_STEP_DEFAULT):
        """Value-at-risk of the last step, on the transformed ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features, transformed by the steps before the last one.
        level : float, optional
            Confidence level, passed on unchanged; when it is not given, the last step
            is called without it, so that its own default applies (0.99 for the
            estimators of skqegm).

        Returns
        -------
        var : ndarray of shape (n_samples,)
            The last step's ``predict_var`` on the transformed ``X``.
        """
        return self._last_step().predict_var(self._transform_before_last(X), *_given(level))

    @available_if(_last_step_has("predict_es"))
    def predict_es(self, X, level=_LAST_STEP_DEFAULT):
        """Expected shortfall of the last step, on the transformed ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features, transformed by the steps before the last one.
        level : float, optional
            Confidence level, passed on unchanged; when it is not given, the last step
            is called without it, so that its own default applies (0.99 for the
            estimators of skqegm).

        Returns
        -------
        es : ndarray of shape (n_samples,)
            The last step's ``predict_es`` on the transformed ``X``.
        """
        return self._last_step().predict_es(self._transform_before_last(X), *_given(level))

    @available_if(_last_step_has("predict_rare"))
    def predict_rare(self, X):
        """Rare-event flags of the last step, on the transformed ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features, transformed by the steps before the last one.

        Returns
        -------
        flags : ndarray of shape (n_samples,)
            The last step's ``predict_rare`` on the transformed ``X`` (1 = rare).
        """
        return self._last_step().predict_rare(self._transform_before_last(X))

    @available_if(_last_step_has("predict_tail_proba"))
    def predict_tail_proba(self, X):
        """Tail probabilities of the last step, on the transformed ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features, transformed by the steps before the last one.

        Returns
        -------
        proba : ndarray of shape (n_samples,)
            The last step's ``predict_tail_proba`` on the transformed ``X``.
        """
        return self._last_step().predict_tail_proba(self._transform_before_last(X))

    @available_if(_last_step_has("rare_events"))
    def rare_events(self, y):
        """Flags of the observed targets that the last step calls rare.

        Parameters
        ----------
        y : array-like of shape (n_samples,)
            Observed targets, passed straight to the last step: the steps before it
            transform features, never targets.

        Returns
        -------
        flags : ndarray of shape (n_samples,)
            The last step's ``rare_events(y)`` (1 = rare).
        """
        check_is_fitted(self)
        return self._last_step().rare_events(y)


def make_pipeline(*steps, memory=None, transform_input=None, verbose=False):
    """Build a :class:`Pipeline` from estimators, naming each step after its class.

    The counterpart of :func:`sklearn.pipeline.make_pipeline` (same signature and step
    names) returning skqegm's :class:`Pipeline`, which adds ``sample`` and the tail-risk
    API of its last step.

    Parameters
    ----------
    *steps : list of estimators
        The estimators to chain; every one but the last is a transformer.
    memory : str or object with the joblib.Memory interface, default=None
        Caches the fitted transformers; see :class:`Pipeline`.
    transform_input : list of str, default=None
        Metadata of ``fit`` transformed by the steps before the one consuming it; see
        :class:`Pipeline`.
    verbose : bool, default=False
        Print the time taken to fit each step.

    Returns
    -------
    pipeline : Pipeline
        The unfitted pipeline, its steps named by the lowercase class names (numbered
        when a class repeats).

    See Also
    --------
    Pipeline : The pipeline class, with explicit step names.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.mixture import GaussianMixture
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skqegm.pipeline import make_pipeline
    >>> X = np.random.default_rng(0).normal(50.0, 2.0, size=(300, 2))
    >>> pipe = make_pipeline(StandardScaler(), GaussianMixture(2, random_state=0))
    >>> [name for name, _ in pipe.steps]
    ['standardscaler', 'gaussianmixture']
    >>> draws, labels = pipe.fit(X).sample(100)  # GaussianMixture also returns labels
    >>> draws.shape, labels.shape
    ((100, 2), (100,))
    """
    # scikit-learn's function names the steps; re-wrapping its steps keeps the names
    # identical without reaching into its private helpers.
    named = sklearn_pipeline.make_pipeline(*steps, memory=memory,
                                           transform_input=transform_input, verbose=verbose)
    return Pipeline(named.steps, memory=memory, transform_input=transform_input,
                    verbose=verbose)
