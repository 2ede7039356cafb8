"""Callbacks of the fit loop of :class:`~skqegm.nn.BaseTorchEstimator`.

A callback hooks into training without changing the loop: it is told when training
begins, when each epoch begins and ends (with the estimator, whose ``loss_curve_`` and
``validation_scores_`` hold the history so far, and whose ``optimizer_`` is the running
optimizer), and when training ends. Returning ``True`` from
:meth:`Callback.on_epoch_end` stops training after that epoch.

Every estimator builds its own :class:`EpochLogger` (from ``verbose``) and
:class:`EarlyStopping` (from ``early_stopping``, ``n_iter_no_change`` and ``tol``) and
runs them before the callbacks given in its ``callbacks`` parameter.
:class:`LRScheduler` (a learning-rate schedule) and :class:`Checkpoint` (the best
epoch's network, or every k-th) are given there.
"""

import contextlib
import copy
import hashlib
import inspect
import io
import logging
import math
import numbers
import os
import re
import shutil
import socket
import tempfile
import time

import numpy as np

logger = logging.getLogger("skqegm")


def replaces_its_state(callback):
    """Whether ``callback`` gives its attributes new objects at each fit and never edits
    the objects of a fit before, so that they need no copy to be put back when a fit
    fails.

    True for the package's callbacks, whose classes say so (``_replaces_its_state``);
    not for a subclass of them, which may edit in place.

    Parameters
    ----------
    callback : Callback
        A callback given to a fit.

    Returns
    -------
    replaced : bool

    Examples
    --------
    >>> from skqegm.nn.callbacks import EarlyStopping, replaces_its_state
    >>> class Patient(EarlyStopping):
    ...     pass
    >>> replaces_its_state(EarlyStopping()), replaces_its_state(Patient())
    (True, False)
    """
    return bool(vars(type(callback)).get("_replaces_its_state", False))


class Callback:
    """Base class of the callbacks: every hook does nothing.

    Subclass it and override the hooks you need. The same instance may serve several
    fits, so reset its state in :meth:`on_train_begin`, by assigning new objects to its
    attributes: a callback is part of the estimator's state, so when a fit raises or is
    interrupted, its attributes are put back as they were before the fit: the objects
    they held, and the contents of those that are lists, dicts, sets, numpy arrays or
    tensors, which are copied before each fit (other objects edited in place stay
    edited; the package's own callbacks need no copy). The estimator is complete only
    once ``fit`` returns: a hook cannot pickle or copy it (a ``RuntimeError``); to keep
    an epoch's weights, use :class:`Checkpoint` (or copy
    ``estimator.network_.state_dict()``). Parameters are not meant to change during a
    fit: the optimizer reads ``learning_rate`` once, before the first epoch, so setting
    ``estimator.learning_rate`` from a hook changes nothing in the running fit. A
    schedule sets the running optimizer's rate instead, ``estimator.optimizer_`` (set
    only during the fit), as :class:`LRScheduler` does.

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

    #: The attributes a fit sets: reading one of them on a callback never fitted says
    #: so (and where a meta-estimator's fitted copies are).
    _fitted_attributes = ()

    def __getattr__(self, name):
        # Called only for attributes the instance lacks.
        if name in type(self)._fitted_attributes:
            # Imported here: importing the callbacks loads no scikit-learn.
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(_never_fitted(self, f"{name} is set"))
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

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

    def on_fit_end(self, estimator, succeeded):
        """Called once the fit is over, whether it succeeded or not.

        ``succeeded`` is ``True`` after ``fit`` has derived every fitted attribute (the
        model is complete) and ``False`` when the fit raised or was interrupted, before
        the callback's attributes are put back as they were before the fit; then
        ``on_train_begin`` may not have run (a fit refused before its first epoch).
        What only a successful fit should leave behind (files) is made final here, as
        :class:`Checkpoint` moves its files into place.
        """

    def __repr__(self):
        # The constructor's arguments, as scikit-learn shows an estimator's (in a search's
        # cv_results_["params"] too); a subclass that stores them under other names
        # keeps object's repr.
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        try:
            names = [param.name for param in
                     inspect.signature(type(self).__init__).parameters.values()
                     if param.name != "self" and param.kind in kinds]
            args = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        except (AttributeError, TypeError, ValueError):
            return object.__repr__(self)
        return f"{type(self).__name__}({args})"


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

    _replaces_its_state = True  # see replaces_its_state

    _fitted_attributes = ("best_score_", "best_epoch_", "stopped_epoch_")

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

    _replaces_its_state = True  # see replaces_its_state

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


def _never_fitted(callback, what):
    """Why a callback holds no result: it has not been through a fit that succeeded,
    and meta-estimators fit copies of it."""
    name = type(callback).__name__
    return (
        f"This {name} has kept nothing: it has not been through a fit that succeeded "
        f"({what} when an estimator given it in callbacks is fitted; a fit that raises "
        f"leaves it as it was). clone, GridSearchCV, cross_validate and walk_forward fit "
        f"copies of the callbacks, leaving this {name} unfitted: read the fitted "
        "estimator's own, e.g. search.best_estimator_.callbacks or cross_validate(..., "
        "return_estimator=True)['estimator'][i].callbacks or walk_forward(..., "
        "return_estimator=True).estimators[k].callbacks.")


#: The built-in schedules of :class:`LRScheduler` and the parameters each one uses.
_SCHEDULES = {"step": ("step_size", "gamma"), "exponential": ("gamma",), "cosine": ("T_max",)}


class LRScheduler(Callback):
    """Change the learning rate at every epoch: the starting rate times a factor.

    Before each epoch the running optimizer's learning rate is set to the rate it started
    with (the estimator's ``learning_rate``) times ``schedule(n)``, where ``n`` is the
    number of epochs already run (0 for the first): torch's ``LambdaLR`` stepped once
    per epoch. The parameter ``learning_rate`` itself is not changed. Where the fit has
    several optimizers (the critic and generator of a GAN), every one is scaled.

    Parameters
    ----------
    schedule : callable or {"step", "exponential", "cosine"}
        A function of ``n`` returning the factor, a finite float >= 0 (a named function
        rather than a lambda, if the fitted estimator is to be pickled), or a built-in
        schedule, each equal to a scheduler of ``torch.optim.lr_scheduler``:

        - ``"step"``: ``gamma ** (n // step_size)`` (``StepLR``);
        - ``"exponential"``: ``gamma ** n`` (``ExponentialLR``);
        - ``"cosine"``: ``(1 + cos(pi * n / T_max)) / 2`` (``CosineAnnealingLR`` with
          ``eta_min=0``): from the starting rate down to 0 after ``T_max`` epochs.
    step_size : int or None, default=None
        Epochs between two decays of ``"step"``, >= 1 (required there, refused elsewhere).
    gamma : float or None, default=None
        The decay factor of ``"step"`` (default 0.1, as torch's) and ``"exponential"``
        (required), > 0; refused elsewhere.
    T_max : int or None, default=None
        The epochs of ``"cosine"``'s half period, >= 1 (required there, refused elsewhere).

    Attributes
    ----------
    learning_rates_ : list of float
        The learning rate of each epoch of the last fit.

    Examples
    --------
    >>> from skqegm.baselines import VAESampler
    >>> from skqegm.datasets import make_tail_mixture
    >>> from skqegm.nn import LRScheduler
    >>> X, _ = make_tail_mixture(500, random_state=0)
    >>> schedule = LRScheduler("step", step_size=2, gamma=0.5)
    >>> vae = VAESampler(learning_rate=0.01, max_epochs=5, early_stopping=False,
    ...                  callbacks=[schedule], random_state=0).fit(X)
    >>> [round(rate, 6) for rate in schedule.learning_rates_]
    [0.01, 0.01, 0.005, 0.005, 0.0025]
    >>> vae.learning_rate
    0.01
    """

    _replaces_its_state = True  # see replaces_its_state

    _fitted_attributes = ("learning_rates_",)

    def __init__(self, schedule, *, step_size=None, gamma=None, T_max=None):
        self.schedule = schedule
        self.step_size = step_size
        self.gamma = gamma
        self.T_max = T_max

    def on_train_begin(self, estimator):
        self._check_parameters()
        self._base_rates = [_get_rate(slot) for slot in _rate_slots(estimator)]
        self.learning_rates_ = []

    def on_epoch_begin(self, estimator, epoch):
        factor = self._factor(epoch - 1)
        # Imported here: importing the callbacks loads no torch.
        from .base import MAX_LEARNING_RATE

        slots = _rate_slots(estimator)
        rates = [base * factor for base in self._base_rates]
        if max(rates) > MAX_LEARNING_RATE:
            raise ValueError(
                f"LRScheduler's schedule gives a learning rate of {max(rates):.6g} at epoch "
                f"{epoch}, above the largest accepted ({MAX_LEARNING_RATE:g}).")
        for slot, rate in zip(slots, rates):
            _set_rate(slot, rate)
        self.learning_rates_.append(rates[0])
        logger.debug("%s epoch %d: learning rate %.6g", type(estimator).__name__, epoch,
                     rates[0])

    def _check_parameters(self):
        # Imported here: importing the callbacks loads no scikit-learn.
        from ..utils._validation import check_int, check_real

        named = isinstance(self.schedule, str) and self.schedule in _SCHEDULES
        if not (named or callable(self.schedule)):
            raise ValueError(
                "LRScheduler's schedule must be a callable (epochs run -> factor) or one "
                f"of {sorted(_SCHEDULES)}; got {self.schedule!r}.")
        used = _SCHEDULES[self.schedule] if named else ()
        for name in ("step_size", "gamma", "T_max"):
            value = getattr(self, name)
            if value is not None and name not in used:
                uses = " or ".join(repr(key) for key, names in _SCHEDULES.items()
                                   if name in names)
                raise ValueError(
                    f"LRScheduler's {name} is used only by schedule={uses}; got "
                    f"{name}={value!r} with schedule={self.schedule!r}.")
            if value is None and name in used and not (name == "gamma"
                                                       and self.schedule == "step"):
                raise ValueError(f"LRScheduler(schedule={self.schedule!r}) needs {name}.")
        if self.step_size is not None:
            check_int(self.step_size, "LRScheduler's step_size", min_value=1)
        if self.gamma is not None:
            check_real(self.gamma, "LRScheduler's gamma", low=0, low_open=True)
        if self.T_max is not None:
            check_int(self.T_max, "LRScheduler's T_max", min_value=1)

    def _factor(self, n):
        """The factor of the epoch after ``n`` epochs run."""
        named = self.schedule if isinstance(self.schedule, str) else None
        if named == "step":
            factor = (0.1 if self.gamma is None else self.gamma) ** (n // self.step_size)
        elif named == "exponential":
            factor = self.gamma ** n
        elif named == "cosine":
            factor = (1 + math.cos(math.pi * n / self.T_max)) / 2
        else:
            factor = self.schedule(n)
            if (isinstance(factor, bool) or not isinstance(factor, numbers.Real)
                    or not math.isfinite(factor) or factor < 0):
                raise ValueError(
                    f"LRScheduler's schedule must return a finite real factor >= 0; "
                    f"schedule({n}) returned {factor!r}.")
        return float(factor)


def _rate_slots(estimator):
    """Where the running optimizer keeps its learning rates: skqegm's ``Adam`` (an ``lr``
    attribute), each of a torch optimizer's ``param_groups``, or those of the optimizers
    among the public attributes of a namespace (a GAN's critic and generator)."""
    optimizer = getattr(estimator, "optimizer_", None)
    slots = _slots_of(optimizer)
    if not slots:
        for name, value in vars(optimizer).items() if hasattr(optimizer, "__dict__") else ():
            if not name.startswith("_"):
                slots += _slots_of(value)
    if not slots:
        raise TypeError(
            f"LRScheduler cannot set the learning rate of {type(estimator).__name__}'s "
            f"optimizer ({type(optimizer).__name__}): it needs estimator.optimizer_ (set "
            "during fit by skqegm.nn.BaseTorchEstimator) to be an optimizer with an 'lr' "
            "attribute or 'param_groups', or a namespace of them.")
    return slots


def _slots_of(optimizer):
    groups = getattr(optimizer, "param_groups", None)
    if isinstance(groups, list) and all(isinstance(group, dict) for group in groups):
        return list(groups)
    rate = getattr(optimizer, "lr", None)
    if isinstance(rate, numbers.Real) and not isinstance(rate, bool):
        return [optimizer]
    return []


def _get_rate(slot):
    return float(slot["lr"] if isinstance(slot, dict) else slot.lr)


def _set_rate(slot, rate):
    if isinstance(slot, dict):
        slot["lr"] = rate
    else:
        slot.lr = rate


class Checkpoint(Callback):
    """Keep the network of the best epoch, or of every ``every`` epochs.

    Without ``every``, the network kept is that of the best epoch so far: the highest
    validation score when the fit holds rows out (``early_stopping=True``), else the
    lowest training loss (the mean over the epoch's batches, as in ``loss_curve_``);
    ``monitor_`` says which. A later epoch replaces it only when strictly better. With
    ``every=k``, the networks of epochs k, 2k, 3k... are all kept. A
    :class:`~skqegm.baselines.GANSampler` accepts only ``every``: its training loss, the
    critic's estimate, does not rank the quality of its draws.

    A network is kept as its ``state_dict`` (on the CPU, whatever device trains): in
    memory (as numpy arrays, which pickle and ``skops.io`` store as they store a fitted
    network) or, given a ``directory``, in files that ``torch.load(path,
    weights_only=True)`` reads back: ``best.pt`` or ``epoch_0005.pt`` and so on.
    :meth:`state_dict` returns a kept network either way, as a dict of CPU tensors.

    The directory holds the files of one fit, the last that succeeded. A fit writes
    into a hidden folder of it and moves its files into place only once it has
    succeeded, removing the last fit's ``best.pt`` and ``epoch_*.pt`` that it did not
    rewrite; a fit that raises or is interrupted leaves the directory as it was (and
    the Checkpoint's attributes, as every callback's). The move is all or nothing: one
    that fails half-way (a disk full) is undone, and the fit raises; if the undoing
    fails too, the last fit's files wait in a hidden folder of the directory, which the
    error names (move them back by hand). One fit at a time writes to a
    directory: a second, in another thread or process, or a second Checkpoint of the
    same fit, is refused. The lock (a file ``.checkpoint.lock``) is released however
    the fit ends, by the system if its process dies.

    Loading a state into a fitted estimator's ``network_`` changes the network only,
    not what ``fit`` derived from it after the last epoch (a sampler's fitted density,
    a QEGM model's ``quantum_layer_``): its predictions would mix two epochs. To make
    the best epoch the fitted model, set ``load_best=True``: its network replaces the
    last epoch's before those are derived. To look at an epoch, load it into a copy:
    ``net = copy.deepcopy(model.network_); net.load_state_dict(checkpoint.state_dict(5))``.

    Parameters
    ----------
    directory : str, path-like or None, default=None
        Where the files are written (created if missing); ``None`` keeps the networks in
        memory. A directory that cannot be written to is refused before the first epoch.
        Fits one after another replace each other's files (a Checkpoint whose files a
        later fit replaced refuses to read them: :meth:`state_dict` raises); fits at
        the same time (a search's candidates with ``n_jobs > 1``) are refused: keep the
        networks in memory there.
    every : int or None, default=None
        Keep the network of every ``every``-th epoch, >= 1; ``None`` keeps the best one.
        In memory, the copies needed for ``max_epochs`` are estimated first and refused
        if they cannot fit.
    load_best : bool, default=False
        Whether the best epoch's network becomes the fitted one (without ``every``
        only). It runs after early stopping, whose own restored network it replaces
        (early stopping keeps the last epoch that improved by more than ``tol``, this
        the best score).

    Attributes
    ----------
    monitor_ : {"validation_score", "training_loss"} or None
        What chose the best epoch (``None`` with ``every``).
    best_epoch_ : int or None
        The best epoch (from 1); ``None`` with ``every``.
    best_score_ : float
        Its validation score, or minus its training loss (greater is better, as
        ``validation_scores_``); ``-inf`` with ``every``.
    epochs_ : list of int
        The epochs whose networks are kept.
    paths_ : list of str or None
        Their files (absolute paths), in the order of ``epochs_``; ``None`` in memory.
        The files are there once the fit has succeeded.

    Examples
    --------
    >>> from skqegm.baselines import VAESampler
    >>> from skqegm.datasets import make_tail_mixture
    >>> from skqegm.nn import Checkpoint
    >>> X, _ = make_tail_mixture(500, random_state=0)
    >>> checkpoint = Checkpoint(every=2)
    >>> vae = VAESampler(max_epochs=5, early_stopping=False, callbacks=[checkpoint],
    ...                  random_state=0).fit(X)
    >>> checkpoint.epochs_
    [2, 4]
    >>> sorted(checkpoint.state_dict(4)) == sorted(vae.network_.state_dict())
    True
    """

    _replaces_its_state = True  # see replaces_its_state

    _fitted_attributes = ("monitor_", "best_epoch_", "best_score_", "epochs_", "paths_")

    def __init__(self, directory=None, every=None, load_best=False):
        self.directory = directory
        self.every = every
        self.load_best = load_best

    def on_train_begin(self, estimator):
        # Imported here: importing the callbacks loads no scikit-learn.
        from ..utils._validation import check_int

        check_int(self.every, "Checkpoint's every", min_value=1, allow_none=True)
        if not isinstance(self.load_best, (bool, np.bool_)):
            raise ValueError(f"Checkpoint's load_best must be True or False; got "
                             f"{self.load_best!r}.")
        if self.load_best and self.every is not None:
            raise ValueError("Checkpoint's load_best=True keeps the best epoch, which "
                             f"every={self.every!r} does not choose: set every=None.")
        if self.directory is not None:
            directory = _check_writable(self.directory)
        elif self.every is not None:
            _check_copies_fit(estimator, self.every)
        best = self.every is None
        held_out = getattr(estimator, "validation_scores_", None) is not None
        self.monitor_ = None if not best else ("validation_score" if held_out
                                               else "training_loss")
        self.best_score_, self.best_epoch_ = -np.inf, None
        self.epochs_ = []
        self.paths_ = None if self.directory is None else []
        # The SHA-256 of each file written, by name: a later fit may write over it.
        self._states, self._n_epochs, self._digests = {}, 0, {}
        if self.directory is not None:
            # Taken last: nothing above raises once the directory is held. The files of
            # the fit wait in a hidden folder until on_fit_end moves them in.
            self._lock = _lock_directory(directory)
            self._staging = tempfile.mkdtemp(dir=directory, prefix=_STAGING_PREFIX)

    def on_epoch_end(self, estimator, epoch):
        self._n_epochs = epoch
        if self.every is not None:
            if epoch % self.every == 0:
                self._keep(estimator, epoch, f"epoch_{epoch:04d}.pt")
            return False
        score = (estimator.validation_scores_[-1] if self.monitor_ == "validation_score"
                 else -estimator.loss_curve_[-1])
        if score > self.best_score_:
            self.best_score_, self.best_epoch_ = float(score), epoch
            self.epochs_, self._states = [], {}
            if self.paths_ is not None:
                self.paths_ = []
            self._keep(estimator, epoch, "best.pt")
        return False

    def on_train_end(self, estimator):
        if self.load_best and self.best_epoch_ is not None:
            estimator.network_.load_state_dict(self.state_dict())

    def on_fit_end(self, estimator, succeeded):
        staging, lock = getattr(self, "_staging", None), getattr(self, "_lock", None)
        try:
            if staging is not None and succeeded:
                _move_in(staging, [os.path.basename(path) for path in self.paths_])
        finally:
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
            self._staging = self._lock = None
            if lock is not None:
                _unlock_directory(lock)

    def state_dict(self, epoch=None):
        """The ``state_dict`` of a kept network.

        Parameters
        ----------
        epoch : int or None, default=None
            One of ``epochs_``; ``None`` gives the best epoch's (the last kept with
            ``every``).

        Returns
        -------
        state : dict of str to torch.Tensor
            CPU tensors, for ``load_state_dict`` of a network of the fitted architecture.

        Examples
        --------
        >>> from skqegm.baselines import VAESampler
        >>> from skqegm.datasets import make_tail_mixture
        >>> from skqegm.nn import Checkpoint
        >>> X, _ = make_tail_mixture(500, random_state=0)
        >>> checkpoint = Checkpoint(load_best=True)
        >>> vae = VAESampler(max_epochs=40, n_iter_no_change=2, callbacks=[checkpoint],
        ...                  random_state=0).fit(X)
        >>> checkpoint.monitor_, checkpoint.best_epoch_, vae.n_iter_
        ('validation_score', 10, 12)
        >>> state = checkpoint.state_dict()
        >>> all(state[k].equal(v) for k, v in vae.network_.state_dict().items())
        True
        """
        import torch

        kept = vars(self).get("epochs_")
        if kept is None:
            raise ValueError(_never_fitted(self, "it keeps networks"))
        if not kept:  # fitted, but no epoch kept
            why = (f"every={self.every!r} is more than the {self._n_epochs} epochs of its "
                   "last fit" if self.every is not None else
                   f"no epoch of its last fit had a finite {self.monitor_}")
            raise ValueError(f"This Checkpoint kept no network: {why}.")
        if epoch is None:
            epoch = kept[-1]
        if epoch not in kept:
            raise ValueError(f"This Checkpoint kept the networks of epochs {kept}; got "
                             f"epoch={epoch!r}.")
        if self.paths_ is not None:
            path = self._file(self.paths_[kept.index(epoch)])
            with open(path, "rb") as handle:
                data = handle.read()
            self._check_digest(path, data)
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        return {name: torch.from_numpy(array.copy())
                for name, array in self._states[epoch].items()}

    def _keep(self, estimator, epoch, filename):
        import torch

        state = {name: tensor.detach().to("cpu", copy=True)
                 for name, tensor in estimator.network_.state_dict().items()}
        self.epochs_.append(epoch)
        if self.paths_ is None:
            # Plain arrays, as a pickled estimator keeps its network.
            self._states[epoch] = {name: tensor.numpy() for name, tensor in state.items()}
            return
        # Into the fit's hidden folder (the directory keeps the last fit's files until
        # this one succeeds), written beside and renamed: never half a file.
        partial = os.path.join(self._staging, filename + ".part")
        torch.save(state, partial)
        with open(partial, "rb") as handle:
            self._digests[filename] = hashlib.sha256(handle.read()).hexdigest()
        os.replace(partial, os.path.join(self._staging, filename))
        self.paths_.append(os.path.join(os.path.dirname(self._staging), filename))

    def _check_digest(self, path, data):
        """Refuse a file that no longer holds the network this Checkpoint wrote there.

        Fits one after another replace the files of a directory: the Checkpoints of
        ``cross_validate(..., return_estimator=True)``'s folds (copies of one, sharing
        its directory) all returned the last fold's networks. A Checkpoint saved before
        its files had digests reads them unchecked."""
        digest = vars(self).get("_digests", {}).get(os.path.basename(path))
        if digest is not None and hashlib.sha256(data).hexdigest() != digest:
            raise ValueError(
                f"{path!r} no longer holds the network this Checkpoint kept: a later fit "
                "wrote over it (another fit given this directory, or a copy of this "
                "Checkpoint: clone, GridSearchCV, cross_validate and walk_forward fit "
                "copies, which share its directory). Give each fit its own directory, "
                "or directory=None to keep the networks in memory.")

    def _file(self, path):
        """Where the file of ``path`` (one of ``paths_``) is now: in the fit's hidden
        folder until the fit succeeds."""
        staging = getattr(self, "_staging", None)
        return path if staging is None else os.path.join(staging, os.path.basename(path))


def _directory(directory):
    # Absolute: the kept paths stay valid when the working directory changes.
    return os.path.abspath(os.path.expanduser(os.fspath(directory)))


def _check_writable(directory):
    """Create ``directory`` if missing; refuse it unless a file can be written there."""
    if not isinstance(directory, (str, os.PathLike)):
        raise ValueError("Checkpoint's directory must be a path (str or os.PathLike) or "
                         f"None; got {type(directory).__name__}.")
    path = _directory(directory)
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise ValueError(
            f"Checkpoint's directory {path!r} cannot be written to "
            f"({error.strerror or error}): give a writable directory, or directory=None "
            "to keep the networks in memory.") from None
    return path


#: The files a Checkpoint writes: a successful fit removes those it did not rewrite.
_CHECKPOINT_FILE = re.compile(r"best\.pt|epoch_\d+\.pt")
#: The hidden folder a fit writes into until it succeeds.
_STAGING_PREFIX = ".pending-"
#: The hidden folder the last fit's files are moved into while a fit's move in.
_ASIDE_PREFIX = ".previous-"
_LOCK_NAME = ".checkpoint.lock"


def _move_in(staging, filenames):
    """Replace the files of the last fit in ``staging``'s directory by the fit's, in
    ``staging``: all of them or none (the directory's lock is held).

    The last fit's files are moved aside into a hidden folder, the fit's moved in, then
    the folder is removed. A move that fails (a disk full, a file held open on Windows)
    undoes those before it and raises: a move half-way left the failed fit's files
    beside the last fit's, which its Checkpoint, put back, then read as its own. If the
    undoing fails too, the error says where the last fit's files wait (the
    Checkpoint's digests refuse the files left in their place).
    """
    directory = os.path.dirname(staging)
    aside = tempfile.mkdtemp(dir=directory, prefix=_ASIDE_PREFIX)
    moved_in = []
    try:
        for name in os.listdir(directory):
            if _CHECKPOINT_FILE.fullmatch(name):
                os.replace(os.path.join(directory, name), os.path.join(aside, name))
        for name in filenames:
            os.replace(os.path.join(staging, name), os.path.join(directory, name))
            moved_in.append(name)
    except BaseException as error:
        note = f"Checkpoint could not move the fit's files into {directory!r}; "
        try:
            for name in reversed(moved_in):
                os.replace(os.path.join(directory, name), os.path.join(staging, name))
            _put_back(aside)
        except BaseException as undoing:
            undoing.add_note(note + "the files of the last fit that succeeded wait in "
                             f"{aside!r}: move them back into the directory to use them.")
            raise
        error.add_note(note + "the directory keeps the files of the last fit that "
                       "succeeded.")
        raise
    shutil.rmtree(aside, ignore_errors=True)
    for name in os.listdir(directory):
        if name.startswith(_STAGING_PREFIX) and os.path.join(directory, name) != staging:
            # Left by a fit whose process died: no live fit holds the directory but this.
            shutil.rmtree(os.path.join(directory, name), ignore_errors=True)


def _put_back(aside):
    """Move the last fit's files from ``aside`` back into its directory, and remove it."""
    directory = os.path.dirname(aside)
    for name in os.listdir(aside):
        os.replace(os.path.join(aside, name), os.path.join(directory, name))
    os.rmdir(aside)


def _lock_directory(directory):
    """Hold ``directory`` for one fit: ``(descriptor, path)`` of its locked lock file.

    An advisory lock of the operating system (``flock``; ``msvcrt.locking`` on Windows),
    which it releases when the holding process dies: a crashed fit never locks the
    directory for good. Refused, naming the directory and the holder, while held.
    """
    path = os.path.join(directory, _LOCK_NAME)
    for _ in range(5):
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _lock_file(descriptor)
        except OSError:
            holder = _read_holder(descriptor)
            os.close(descriptor)
            raise ValueError(
                f"Checkpoint's directory {directory!r} is in use by another fit "
                f"({holder}): fits at the same time (a search or cross-validation with "
                "n_jobs > 1, walk_forward's refits in parallel, or two Checkpoints of one "
                "fit) would overwrite each other's files. Give each its own directory, or "
                "directory=None to keep the networks in memory.") from None
        # The holder before may have removed the file after this one opened it: a lock
        # on a removed file holds nothing, so open the path again.
        with contextlib.suppress(OSError):
            if os.path.samestat(os.fstat(descriptor), os.stat(path)):
                os.ftruncate(descriptor, 0)
                os.write(descriptor, f"process {os.getpid()} on {socket.gethostname()}"
                                     .encode())
                return descriptor, path
        os.close(descriptor)
    raise ValueError(f"Checkpoint could not lock its directory {directory!r}: its lock "
                     f"file {path!r} kept changing.")


def _unlock_directory(lock):
    descriptor, path = lock
    # Removed while still locked, so that no fit takes a file about to disappear. On
    # Windows an open file cannot be removed, and removed after closing it could be the
    # next holder's: it stays (empty of any lock).
    if os.name != "nt":
        with contextlib.suppress(OSError):
            os.remove(path)
    os.close(descriptor)  # releases the lock


def _lock_file(descriptor):
    """Lock an open file without waiting; ``OSError`` when another holds it."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)
    else:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _read_holder(descriptor):
    with contextlib.suppress(OSError):
        os.lseek(descriptor, 0, os.SEEK_SET)
        holder = os.read(descriptor, 200).decode(errors="replace").strip()
        if holder:
            return holder
    return "its holder unknown"


def _check_copies_fit(estimator, every):
    """Refuse the in-memory copies of ``every``-th epochs that memory cannot hold."""
    from ..utils._memory import check_memory

    max_epochs = getattr(estimator, "max_epochs", 1)
    size = sum(tensor.numel() * tensor.element_size()
               for tensor in estimator.network_.state_dict().values())
    check_memory(float(size) * (max_epochs // every),
                 f"Checkpoint(every={every}) in memory over max_epochs={max_epochs}",
                 "give Checkpoint a directory, or keep fewer epochs (a larger every).")
