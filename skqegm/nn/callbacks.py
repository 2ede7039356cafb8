"""Callbacks of the fit loop of :class:`~skqegm.nn.BaseTorchEstimator`.

A callback hooks into training without changing the loop: it is told when training
begins, when each epoch begins and ends (with the estimator, whose ``loss_curve_`` and
``validation_scores_`` hold the history so far), and when training ends. Returning
``True`` from :meth:`Callback.on_epoch_end` stops training after that epoch.

Every estimator builds its own :class:`EpochLogger` (from ``verbose``) and
:class:`EarlyStopping` (from ``early_stopping``, ``n_iter_no_change`` and ``tol``) and
runs them before the callbacks given in its ``callbacks`` parameter.
"""

import copy
import logging
import time

import numpy as np

logger = logging.getLogger("skqegm")


class Callback:
    """Base class of the callbacks: every hook does nothing.

    Subclass it and override the hooks you need. The same instance may serve several
    fits, so reset its state in :meth:`on_train_begin`. The estimator is complete only
    once ``fit`` returns: a hook cannot pickle or copy it (a ``RuntimeError``); to keep
    an epoch's weights, copy ``estimator.network_.state_dict()``. Parameters are not
    meant to change during a fit: the optimizer reads ``learning_rate`` once, before the
    first epoch, so a schedule that sets ``estimator.learning_rate`` from a hook changes
    nothing in the running fit and leaves its last value for the next one.

    Examples
    --------
    >>> from skqegm.baselines import VAESampler
    >>> from skqegm.datasets import make_tail_mixture
    >>> from skqegm.nn import Callback
    >>> class StopAtLoss(Callback):
    ...     def __init__(self, loss):
    ...         self.loss = loss
    ...     def on_epoch_end(self, estimator, epoch):
    ...         return estimator.loss_curve_[-1] < self.loss
    >>> X, _ = make_tail_mixture(1000, random_state=0)
    >>> vae = VAESampler(callbacks=[StopAtLoss(1.5)], random_state=0).fit(X)
    >>> vae.n_iter_, bool(vae.loss_curve_[-1] < 1.5 <= min(vae.loss_curve_[:-1]))
    (5, True)
    """

    def on_train_begin(self, estimator):
        """Called once before the first epoch, after the network is built."""

    def on_epoch_begin(self, estimator, epoch):
        """Called before each epoch (``epoch`` counts from 1)."""

    def on_epoch_end(self, estimator, epoch):
        """Called after each epoch; return ``True`` to stop training.

        ``estimator.loss_curve_[-1]`` is the epoch's training loss and, with early
        stopping, ``estimator.validation_scores_[-1]`` its validation score.
        """
        return False

    def on_train_end(self, estimator):
        """Called once after the last epoch."""


class EarlyStopping(Callback):
    """Stop when the validation score stops improving, and keep the best epoch.

    An epoch improves when its validation score beats the kept one by more than ``tol``;
    its network is then kept. Scores that beat it by less do not count, so the network
    kept is that of the last improvement (within ``tol`` of the best score seen).

    Parameters
    ----------
    n_iter_no_change : int, default=10
        Epochs without an improvement of more than ``tol`` before training stops, >= 1.
    tol : float, default=1e-4
        The smallest increase of the validation score that counts as an improvement,
        >= 0.

    Attributes
    ----------
    best_score_ : float
        The validation score of the kept epoch.
    best_epoch_ : int or None
        The epoch (from 1) whose network is kept; ``None`` before training.
    stopped_epoch_ : int or None
        The epoch after which training stopped early; ``None`` if it did not.

    Examples
    --------
    Driven by hand on a stand-in estimator (the loop of
    :class:`~skqegm.nn.BaseTorchEstimator` does this every epoch):

    >>> from types import SimpleNamespace
    >>> from skqegm.nn import EarlyStopping
    >>> estimator = SimpleNamespace(validation_scores_=[], network_=None)
    >>> stopping = EarlyStopping(n_iter_no_change=2)
    >>> stopping.on_train_begin(estimator)
    >>> stops = []
    >>> for epoch, score in enumerate([1.0, 2.0, 2.00001, 1.5], start=1):
    ...     estimator.validation_scores_.append(score)
    ...     stops.append(stopping.on_epoch_end(estimator, epoch))
    >>> stops, stopping.best_epoch_, stopping.stopped_epoch_
    ([False, False, False, True], 2, 4)
    """

    def __init__(self, n_iter_no_change=10, tol=1e-4):
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol

    def on_train_begin(self, estimator):
        if getattr(estimator, "validation_scores_", None) is None:
            # A fit without held-out rows records no validation score to wait on.
            how = ("set early_stopping=True (and tune n_iter_no_change and tol)"
                   if "early_stopping" in estimator.get_params() else
                   "it has no held-out loss; stop it with a callback of your own")
            raise ValueError(
                f"EarlyStopping in callbacks needs a validation score per epoch, which "
                f"{type(estimator).__name__} records only with held-out rows: {how}."
            )
        # Imported here: importing the callbacks loads no scikit-learn.
        from ..utils._validation import check_int, check_real

        check_int(self.n_iter_no_change, "EarlyStopping's n_iter_no_change", min_value=1)
        check_real(self.tol, "EarlyStopping's tol", low=0)
        self.best_score_, self.best_epoch_, self.stopped_epoch_ = -np.inf, None, None
        self._best_state, self._stale = None, 0

    def on_epoch_end(self, estimator, epoch):
        score = estimator.validation_scores_[-1]
        if score > self.best_score_ + self.tol:
            self.best_score_, self.best_epoch_, self._stale = score, epoch, 0
            if estimator.network_ is not None:
                self._best_state = copy.deepcopy(estimator.network_.state_dict())
        else:
            self._stale += 1
        if self._stale >= self.n_iter_no_change:
            self.stopped_epoch_ = epoch
            message = (f"Validation score did not improve by more than tol={self.tol} for "
                       f"{self._stale} epochs; stopping, with the weights of epoch "
                       f"{self.best_epoch_}.")
            logger.info("%s: %s", type(estimator).__name__, message)
            if getattr(estimator, "verbose", 0):  # printed as the epochs are
                print(message, flush=True)
            return True
        return False

    def on_train_end(self, estimator):
        if self._best_state is not None:
            estimator.network_.load_state_dict(self._best_state)
        self._best_state = None


class EpochLogger(Callback):
    """Report each epoch's loss, validation score and time.

    Every epoch goes to the ``skqegm`` logger at DEBUG level; with ``verbose >= 1`` it is
    also printed, as scikit-learn's estimators do.

    Parameters
    ----------
    verbose : int, default=0
        ``>= 1`` prints a line per epoch.

    Examples
    --------
    >>> from skqegm.baselines import VAESampler
    >>> from skqegm.datasets import make_tail_mixture
    >>> X, _ = make_tail_mixture(500, random_state=0)
    >>> _ = VAESampler(max_epochs=2, early_stopping=False, verbose=1,
    ...                random_state=0).fit(X)  # doctest: +ELLIPSIS
    Epoch 1/2: loss = ... (... s)
    Epoch 2/2: loss = ... (... s)
    """

    def __init__(self, verbose=0):
        self.verbose = verbose

    def on_epoch_begin(self, estimator, epoch):
        self._start = time.perf_counter()

    def on_epoch_end(self, estimator, epoch):
        message = f"Epoch {epoch}/{estimator.max_epochs}: loss = {estimator.loss_curve_[-1]:.5f}"
        if estimator.validation_scores_:
            message += f", validation score = {estimator.validation_scores_[-1]:.5f}"
        message += f" ({time.perf_counter() - self._start:.2f} s)"
        logger.debug("%s %s", type(estimator).__name__, message)
        if self.verbose:
            print(message, flush=True)
        return False
