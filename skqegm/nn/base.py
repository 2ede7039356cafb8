"""The one fit loop of every torch-trained estimator of skqegm.

:class:`BaseTorchEstimator` owns what each torch model would otherwise write again:
parameter validation (scikit-learn's ``_parameter_constraints``), the independent random
streams drawn from ``random_state``, standardisation of the data, the hold-out rows of
early stopping, the epoch loop with its callbacks, and persistence of the trained
network as plain arrays. A subclass says only what is particular to its model, through
small hooks, as scikit-learn's ``BaseMixture`` and skorch's ``NeuralNet`` do. Read
:meth:`BaseTorchEstimator.fit` top to bottom for the whole path::

    fit(X, y)
      _validate_fit_data(X, y)        -> values (what is modelled), context (features or None)
      _check_parameters()             rules that span several parameters
      _check_network_memory(device)   hidden layers too large for memory, refused
      _draw_seeds()                   one seed per random stream, from random_state
      _holdout_rows(...)              training and validation rows
      _prepare_fit(...)               what the data fix before training (e.g. thresholds)
      standardise values and context  (refusing columns too large for float64)
      network_ = _make_network()      the architecture (also rebuilt when unpickling,
                                      from the fit's parameters whatever set_params
                                      changed since), its weights drawn from the fit's
                                      own generator
      _check_training_memory(device)  its weights' training state too large, refused
      _initialize_network(...)        data-dependent initialisation
      _make_datasets(...)             training set and validation batch
      _fit_loop                       for each epoch:
          _iter_batches -> _train_step -> _get_loss       (training)
          a non-finite loss stops the fit                 (divergence)
          _get_loss on the validation batch               (early stopping)
          callbacks: EpochLogger, EarlyStopping, then the user's
      _finish_fit(...)                what is derived from the trained network
      _standardized_support(...)      where the model puts its mass: far beyond the
                                      data warns of divergence
      callbacks' on_fit_end           the fit is over (a Checkpoint's files move in)
    a fit that raises or is interrupted leaves the estimator, its callbacks included,
    as it was before it
"""

import contextlib
import copy
import functools
import inspect
import math
import threading
import warnings
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import validate_data

from ..exceptions import DivergenceWarning
from ..utils._fit_params import fit_params, record_fit_params
from ..utils._memory import UNCHECKED_BYTES, check_memory
from ..utils._scaling import center_scale
from ..utils._state import restored_on_failure
from ..utils._threads import single_torch_thread
from ..utils._validation import DEVICES, RANDOM_STATE, IntervalNotBool, check_device
from ..utils._warnings import caller_stacklevel
from .callbacks import (
    Callback,
    EarlyStopping,
    EpochLogger,
    replaces_its_state,
)
from .modules import reset_parameters
from .optim import Adam

_INT32 = np.iinfo(np.int32).max
#: The largest learning rate accepted.
MAX_LEARNING_RATE = 1e3
# Fewest rows left to train on after the hold-out rows.
_MIN_TRAIN_ROWS = 2
# A final training loss this many times |first loss| (at least 1) above the first: diverged.
_DIVERGENCE_RISE = 10.0
# A fitted model reaching this many times beyond the data (standardised, plus one): diverged.
_SPREAD_FACTOR = 100.0
# Training rows of the features whose predictive distributions are checked after a fit.
_SUPPORT_ROWS = 64
# Bytes per float32 network weight in training: the weight, its gradient, Adam's two
# moments and denominator (skqegm.nn.optim), the step's flat gradient, and early
# stopping's copy of the best epoch. Measured peaks: 31-38 per weight (activations).
_TRAINING_BYTES_PER_WEIGHT = 28


def _fit_named_after_class(fit):
    """``fit`` whose argument errors name the estimator, not this base class.

    Python names the function's defining class ("BaseTorchEstimator.fit() got an
    unexpected keyword argument 'sample_weight'"), which every subclass shares.
    """
    signature = inspect.signature(fit)

    @functools.wraps(fit)
    def checked_fit(self, *args, **kwargs):
        try:
            signature.bind(self, *args, **kwargs)
        except TypeError as exc:
            name = type(self).__name__
            why = (f": {name} does not support sample_weight" if "sample_weight" in kwargs
                   else "")
            raise TypeError(f"{name}.fit() {exc}{why}.") from None
        return fit(self, *args, **kwargs)

    return checked_fit


class BaseTorchEstimator(BaseEstimator, metaclass=ABCMeta):
    """Base class of the estimators trained with torch: one fit loop, small hooks.

    A subclass declares its own parameters in ``__init__`` and
    ``_parameter_constraints`` (adding to this class's) and implements
    :meth:`_make_network` and :meth:`_get_loss`; the other hooks have defaults that
    suit an unsupervised model of ``X`` trained by minibatch Adam.

    Shared parameters (every subclass has them, except where noted):

    - ``hidden_layer_sizes``, ``max_epochs``, ``batch_size``, ``learning_rate``;
    - ``early_stopping``, ``validation_fraction``, ``n_iter_no_change``, ``tol``: hold
      out ``validation_fraction`` of the rows, stop when their loss has not improved by
      ``tol`` for ``n_iter_no_change`` epochs, and keep the best epoch's network (a
      model without a held-out loss, such as a GAN, has none of them);
    - ``callbacks``: a list of :class:`~skqegm.nn.Callback`, run after the built-in
      progress report and early stopping;
    - ``random_state``: seeds every random stream of a fit (see ``_seed_names``), so
      that a fit depends only on its inputs and ``random_state``;
    - ``verbose``: ``>= 1`` prints every epoch;
    - ``device``: ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when available): where the
      epochs run. Only the training loop runs there: each batch is moved to the device
      as it is used, and the network comes back to the CPU before the fitted
      attributes are derived, so a fitted model predicts, samples and pickles on the
      CPU whatever device trained it. A subclass without the parameter trains on the CPU.

    Fitted attributes set here: ``network_`` (the trained ``torch.nn.Module``, in eval
    mode), ``loss_curve_`` (mean training loss per epoch), ``validation_scores_`` (minus
    the validation loss per epoch, or ``None`` without early stopping), ``n_iter_``
    (epochs run), ``n_features_in_`` and ``feature_names_in_``. During the epochs only,
    for the callbacks, ``optimizer_`` is the optimizer of :meth:`_make_optimizer`
    (:class:`~skqegm.nn.LRScheduler` sets its learning rate); it is deleted before
    ``fit`` returns.

    Training runs on one torch thread and draws only from its own generators, so a fit
    depends on its inputs and ``random_state`` alone, in any thread or process, and
    leaves torch's thread setting and global random stream as it found them. Pickling, joblib
    and ``skops.io`` store ``network_`` as its ``state_dict`` of numpy arrays, and
    rebuild the module with :meth:`_make_network` when loaded.

    Examples
    --------
    A minimal subclass: a diagonal Gaussian with learned mean and scale.

    >>> import numpy as np
    >>> import torch
    >>> from skqegm.nn import BaseTorchEstimator
    >>> class GaussianFit(BaseTorchEstimator):
    ...     def __init__(self, hidden_layer_sizes=(), max_epochs=50, batch_size=256,
    ...                  learning_rate=0.1, early_stopping=False, validation_fraction=0.1,
    ...                  n_iter_no_change=10, tol=1e-4, callbacks=None, random_state=None,
    ...                  verbose=0):
    ...         params = dict(locals())
    ...         del params["self"]
    ...         vars(self).update(params)  # store every parameter unchanged
    ...     def _make_network(self):
    ...         return torch.nn.ParameterDict({
    ...             "mean": torch.zeros(self.n_features_in_),
    ...             "log_scale": torch.zeros(self.n_features_in_)})
    ...     def _get_loss(self, x, generator):
    ...         z = (x - self.network_["mean"]) * torch.exp(-self.network_["log_scale"])
    ...         return (0.5 * z**2 + self.network_["log_scale"]).sum(1).mean()
    >>> X = np.random.default_rng(0).normal(3.0, 2.0, size=(500, 1))
    >>> model = GaussianFit(random_state=0).fit(X)
    >>> len(model.loss_curve_), bool(model.loss_curve_[-1] < model.loss_curve_[0])
    (50, True)
    """

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", IntervalNotBool(Integral, 1, None, closed="left")],
        "max_epochs": [IntervalNotBool(Integral, 1, None, closed="left")],
        "batch_size": [IntervalNotBool(Integral, 1, None, closed="left")],
        # Above MAX_LEARNING_RATE every fit diverges, and float32 weights overflow.
        "learning_rate": [IntervalNotBool(Real, 0, MAX_LEARNING_RATE, closed="right")],
        "early_stopping": ["boolean"],
        "validation_fraction": [IntervalNotBool(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [IntervalNotBool(Integral, 1, None, closed="left")],
        "tol": [IntervalNotBool(Real, 0, None, closed="left")],
        "callbacks": [list, None],
        "random_state": RANDOM_STATE,
        "verbose": ["verbose"],
        "device": [StrOptions(set(DEVICES))],
    }

    #: The random streams of a fit, one seed each, drawn from ``random_state`` in this
    #: order: "torch" initialises the network and drives training, "split" picks the
    #: hold-out rows. Subclasses append their own.
    _seed_names = ("torch", "split")
    #: The argument that holds the modelled values, for messages ("y" for a regressor).
    _values_name = "X"

    # -- the fit path ---------------------------------------------------------------------------
    @_fit_named_after_class
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the network on ``X`` (and ``y`` for a supervised model).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, finite.
        y : array-like of shape (n_samples,) or None
            The target of a supervised model; ignored by the samplers.

        Returns
        -------
        self : object
            The fitted estimator.

        Notes
        -----
        A fit that raises, or is interrupted (``KeyboardInterrupt``), leaves the
        estimator as it was before the fit: the last fit's model (or none), not this
        fit's data beside the last fit's network. Its callbacks are part of it: their
        attributes are put back too, and a :class:`~skqegm.nn.Checkpoint`'s directory
        keeps the files of the last fit that succeeded. So a refit holds the last model
        until it succeeds: the network's weights once more, beside the fit's own working
        memory (measured for ``hidden_layer_sizes=(4096, 4096)``: 128 MiB beside the
        fit's 769 MiB).
        """
        # Resources a fit holds (a quantum device's Batch), released however it ends.
        with restored_on_failure(self), _callbacks_kept_on_failure(self), self._fit_scope():
            self._fitting = True  # until the fitted attributes are all derived
            values, context = self._validate_fit_data(X, y)
            self._check_parameters()
            device = self._fit_device()
            self._check_network_memory(device)
            seeds = self._draw_seeds()
            train, val = self._holdout_rows(len(values), seeds["split"])
            self._prepare_fit(values, context, seeds)
            self._value_scaling = center_scale(values, self._values_name, self._value_names())
            self._warn_constant_values(values)
            self._context_scaling = None if context is None else center_scale(
                context, "X", getattr(self, "feature_names_in_", None))
            values = self._standardize_values(values)
            context = None if context is None else self._standardize_context(context)

            # Every random draw of training comes from this generator, never from torch's
            # global one, so that fits in several threads at once stay reproducible.
            generator = torch.Generator().manual_seed(seeds["torch"])
            with single_torch_thread():
                self.network_ = self._build_network(generator)
                self._check_training_memory(device)
                self._initialize_network(values[train], _rows(context, train), generator)
                # The validation loss reuses one random stream at every epoch, so that it
                # changes only when the model does.
                validation_seed = int(torch.randint(_INT32, (1,), generator=generator))
                train_set, val_set = self._make_datasets(
                    (values[train], _rows(context, train)),
                    (values[val], _rows(context, val)) if len(val) else None,
                    seeds, generator,
                )
                # The epochs on the device; the fitted state is derived and kept on the CPU.
                self.network_.to(device)
                self._fit_loop(train_set, val_set, generator, validation_seed, device)
                self.network_.to("cpu")
                self.network_.eval()
                self._finish_fit(train_set, seeds, generator)
                self._check_fitted_spread(values[train], _rows(context, train), generator)
            del self._fitting
        return self

    def _fit_loop(self, train_set, val_set, generator, validation_seed, device=None):
        """Run the epochs; record ``loss_curve_``, ``validation_scores_`` and ``n_iter_``."""
        optimizer = self._make_optimizer()
        callbacks = self._make_callbacks()
        self.loss_curve_ = []
        self.validation_scores_ = [] if val_set is not None else None
        val_set = _to_device(val_set, device)
        # The callbacks' way to the running optimizer (an LRScheduler sets its rate).
        # Deleted after the last epoch: a fitted estimator holds no optimizer state.
        self.optimizer_ = optimizer
        for callback in callbacks:
            callback.on_train_begin(self)
        stopped = False
        for epoch in range(1, self.max_epochs + 1):
            for callback in callbacks:
                callback.on_epoch_begin(self, epoch)
            self.network_.train()
            total, n_rows = 0.0, 0
            for batch in self._iter_batches(train_set, generator):
                batch = _to_device(batch, device)
                size = _batch_rows(batch)
                total += self._train_step(batch, optimizer, generator) * size
                n_rows += size
            self.loss_curve_.append(total / n_rows)
            self._check_divergence(epoch)
            if val_set is not None:
                self.network_.eval()
                with torch.no_grad():
                    loss = self._validation_loss(
                        val_set, torch.Generator().manual_seed(validation_seed))
                self.validation_scores_.append(-float(loss))
            self.n_iter_ = epoch
            # Every callback sees every epoch, even after one of them asked to stop.
            stops = [bool(callback.on_epoch_end(self, epoch)) for callback in callbacks]
            if any(stops):
                stopped = True
                break
        for callback in callbacks:
            callback.on_train_end(self)
        del self.optimizer_
        # The last step's gradients are no part of the model: kept, they doubled a fitted
        # network's memory (and a refit's, which holds the last model until it succeeds).
        self.network_.zero_grad(set_to_none=True)
        self._warn_if_diverged()
        if val_set is not None and not stopped:
            warnings.warn(
                f"{type(self).__name__} reached max_epochs={self.max_epochs} while the "
                "validation score was still improving; consider raising max_epochs.",
                ConvergenceWarning, stacklevel=caller_stacklevel(),
            )

    # -- hooks ------------------------------------------------------------------------------------
    def _validate_fit_data(self, X, y):
        """``(values, context)``: the rows modelled and the features they are conditioned on.

        The default is an unsupervised model of ``X`` (``y`` is ignored, no context).
        """
        return validate_data(self, X, dtype=np.float64), None

    def _check_parameters(self):
        """Raise ``ValueError`` for what ``_parameter_constraints`` cannot express."""
        # dtype=object keeps booleans, which an integer array would read as 1 and 0.
        sizes = np.atleast_1d(np.asarray(self.hidden_layer_sizes, dtype=object))
        if sizes.ndim != 1 or not all(isinstance(s, Integral) and not isinstance(s, bool)
                                      and s >= 1 for s in sizes):
            raise ValueError("hidden_layer_sizes must be an int >= 1 or a sequence of them; "
                             f"got {self.hidden_layer_sizes!r}.")
        for callback in self.callbacks or []:
            if not isinstance(callback, Callback):
                raise TypeError("callbacks must be a list of skqegm.nn.Callback instances; "
                                f"got {type(callback).__name__}.")

    def _check_network_memory(self, device):
        """Refuse ``hidden_layer_sizes`` whose weights cannot fit, before torch allocates.

        A lower bound: one MLP through the hidden layers (each layer's weights from the
        one before, at least one input and one output), with each weight's training
        state (28 bytes: see ``_TRAINING_BYTES_PER_WEIGHT``). The built network is
        counted whole by :meth:`_check_training_memory`.
        """
        sizes = self._hidden_sizes()
        weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:])) + 2 * sum(sizes)
        if _TRAINING_BYTES_PER_WEIGHT * weights < UNCHECKED_BYTES:
            return
        check_memory(_TRAINING_BYTES_PER_WEIGHT * weights,
                     f"training with hidden_layer_sizes={self.hidden_layer_sizes!r}",
                     "use fewer or narrower hidden layers.", device=device)

    def _check_training_memory(self, device):
        """Refuse to train a built network whose training state cannot fit.

        :meth:`_check_network_memory` counted one MLP before the network was built; the
        network holds all of the model's (an encoder and a decoder, a generator and a
        critic): estimated from that alone, a VAE with ``hidden_layer_sizes=(2048,
        2048)`` was 64 MiB, where its fit peaked at 251 MiB. On the CPU, the weights are
        already allocated, and counted out.
        """
        n_bytes = sum(param.numel() * param.element_size()
                      for param in self.network_.parameters())
        per_weight = _TRAINING_BYTES_PER_WEIGHT / 4  # per float32 byte
        held = 0 if getattr(device, "type", "cpu") == "cuda" else 1
        if n_bytes * per_weight < UNCHECKED_BYTES:
            return
        check_memory(n_bytes * (per_weight - held),
                     f"training {type(self).__name__}'s network ({n_bytes // 4:,} float32 "
                     f"weights, hidden_layer_sizes={self.hidden_layer_sizes!r})",
                     "use fewer or narrower hidden layers.", device=device)

    def _fit_device(self):
        """Where the epochs run: the ``device`` parameter resolved (the CPU without one)."""
        return check_device(getattr(self, "device", "cpu"))

    def _fit_scope(self):
        """A context manager around the whole fit (default: nothing to hold)."""
        return contextlib.nullcontext()

    def _prepare_fit(self, values, context, seeds):
        """Learn what the data fix before training, in data units (default: nothing)."""

    @abstractmethod
    def _make_network(self):
        """The untrained ``torch.nn.Module``, from the parameters and fitted attributes.

        Also called when a pickled or skops file is loaded, so it must depend only on
        the parameters and on attributes set before training (such as
        ``n_features_in_``).
        """

    def _initialize_network(self, values, context, generator):
        """Initialise ``network_`` from the (standardised) training rows (default: nothing).

        Random draws must come from ``generator``.
        """

    def _make_datasets(self, train, val, seeds, generator):
        """The training set and the validation batch (or ``None``).

        ``train`` and ``val`` are ``(values, context)`` pairs of standardised arrays. The
        default turns the values into float32 tensors.
        """
        return _tensor(train[0]), None if val is None else _tensor(val[0])

    def _iter_batches(self, train_set, generator):
        """The batches of one epoch: shuffled rows, ``batch_size`` at a time."""
        batch = int(min(self.batch_size, len(train_set)))  # torch wants a Python int
        for rows in torch.randperm(len(train_set), generator=generator).split(batch):
            yield train_set[rows]

    def _make_optimizer(self):
        """Adam over every parameter of ``network_`` (torch's arithmetic: :mod:`.optim`)."""
        return Adam(self.network_.parameters(), lr=self.learning_rate)

    def _train_step(self, batch, optimizer, generator):
        """One optimisation step on ``batch``; return the loss to record."""
        loss = self._get_loss(batch, generator)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    @abstractmethod
    def _get_loss(self, batch, generator):
        """The loss of a batch, a differentiable scalar tensor.

        ``generator`` is the only source of randomness allowed, so that the validation
        loss is reproducible.
        """

    def _validation_loss(self, val_set, generator):
        """The loss of the held-out rows, under ``torch.no_grad`` (default: one batch)."""
        return self._get_loss(val_set, generator)

    def _finish_fit(self, train_set, seeds, generator):
        """Derive fitted attributes from the trained network (default: nothing)."""

    def _standardized_support(self, context, generator):
        """Points where the fitted model puts its mass, in standardised units.

        Draws, or components' means plus three scales; ``context`` holds a few training
        rows of a conditional model's features (standardised), else ``None``. Return
        ``None`` to skip the check of :meth:`_check_fitted_spread` (the default).
        """
        return None

    # -- shared machinery -----------------------------------------------------------------------
    def _hidden_sizes(self):
        """``hidden_layer_sizes`` as a tuple of ints (a single int is one layer)."""
        return tuple(int(size) for size in np.atleast_1d(self.hidden_layer_sizes))

    def _warn_constant_values(self, values):
        """Warn of modelled columns constant in the training data.

        Their spread is 0, so they are standardised by 1 (as ``StandardScaler`` does) and
        the model's draws vary there by the spread it learns, in the data's units: a
        column constant at 1e-9 was sampled with a standard deviation of about 0.5.
        """
        constant = np.flatnonzero(np.all(values == values[:1], axis=0))
        if constant.size == 0:
            return
        names = self._value_names()
        labels = [repr(names[j]) if names is not None else str(j) for j in constant[:5]]
        more = f" and {constant.size - 5} more" if constant.size > 5 else ""
        warnings.warn(
            f"{self._values_name} column(s) {', '.join(labels)}{more} are constant in the "
            f"training data: {type(self).__name__} models their deviations in units of 1 "
            "(their spread is 0), so its draws vary there, by the spread it learns. Where "
            "draws should hold them constant, drop them before fitting "
            "(sklearn.feature_selection.VarianceThreshold).",
            UserWarning, stacklevel=caller_stacklevel())

    def _value_names(self):
        """Column names of the modelled values, for messages (``None``: use indices)."""
        return getattr(self, "feature_names_in_", None)

    def _build_network(self, generator):
        """``_make_network()``, its parameters then drawn from ``generator``.

        Constructing torch layers draws from torch's global generator: the draws are
        replaced, and the global state is restored (under a lock, as threads share it).
        """
        # The parameters the network is built from, for rebuilding it when the model is
        # loaded: set_params (or a list changed in place) may change them before it is saved.
        record_fit_params(self, {name: copy.deepcopy(value) for name, value
                                 in self.get_params(deep=False).items() if _plain(value)})
        network = self._make_fitted_network()
        reset_parameters(network, generator)
        return network

    def _make_fitted_network(self):
        """:meth:`_make_network` from the parameters of the fit (``set_params`` since
        then changes nothing), torch's global random state left as it was."""
        shadow = object.__new__(type(self))
        vars(shadow).update(vars(self))
        vars(shadow).update(fit_params(self))
        with _GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=[]):
            return shadow._make_network()

    def _check_divergence(self, epoch):
        """Stop a fit whose loss is no longer finite; the learning rate is the first suspect."""
        loss = self.loss_curve_[-1]
        if not math.isfinite(loss):
            raise ValueError(
                f"{type(self).__name__} diverged: the training loss is {loss} at epoch "
                f"{epoch}. Lower learning_rate (got {self.learning_rate!r}), or check the "
                "data's scale."
            )

    def _check_fitted_spread(self, values, context, generator):
        """Refuse a model whose draws are not finite; warn when they reach far beyond the
        data, the mark of a diverged fit whose loss may still look finite."""
        if context is not None:
            context = context[:_SUPPORT_ROWS]
        with torch.no_grad():
            support = self._standardized_support(context, generator)
        if support is None:
            return
        support = np.asarray(support, dtype=np.float64)
        if not np.all(np.isfinite(support)):
            raise ValueError(
                f"{type(self).__name__} diverged: the fitted model's draws are not finite. "
                f"Lower learning_rate (got {self.learning_rate!r}), or check the data's scale."
            )
        reach, data_reach = np.abs(support).max(), np.abs(values).max()
        if reach > _SPREAD_FACTOR * (data_reach + 1):
            warnings.warn(
                f"{type(self).__name__}'s fitted model reaches {reach:.3g} standard "
                f"deviations from the data's mean, where the training data reach "
                f"{data_reach:.3g}: its draws are far off the data, the mark of a diverged "
                f"or unconverged fit. Lower learning_rate (got {self.learning_rate!r}) or "
                "train longer.",
                DivergenceWarning, stacklevel=caller_stacklevel(),
            )

    def _warn_if_diverged(self):
        """Warn when the last epoch's loss ended far above the first's."""
        first, last = self.loss_curve_[0], self.loss_curve_[-1]
        if last > first + _DIVERGENCE_RISE * max(1.0, abs(first)):
            warnings.warn(
                f"{type(self).__name__}'s training loss rose from {first:.4g} to {last:.4g} "
                f"over {len(self.loss_curve_)} epochs: training diverged. Lower "
                f"learning_rate (got {self.learning_rate!r}).",
                DivergenceWarning, stacklevel=caller_stacklevel(),
            )

    def _uses_early_stopping(self):
        return self.early_stopping

    def _make_callbacks(self):
        callbacks = [EpochLogger(self.verbose)]
        if self._uses_early_stopping():
            callbacks.append(EarlyStopping(self.n_iter_no_change, self.tol))
        return callbacks + list(self.callbacks or [])

    def _draw_seeds(self):
        rng = check_random_state(self.random_state)
        return {name: int(rng.randint(_INT32)) for name in self._seed_names}

    def _holdout_rows(self, n_rows, seed):
        """Training and validation row indices; no validation rows without early stopping."""
        early_stopping = self._uses_early_stopping()
        n_val = math.ceil(self.validation_fraction * n_rows) if early_stopping else 0
        if n_rows - n_val < _MIN_TRAIN_ROWS:
            needed = _MIN_TRAIN_ROWS
            if early_stopping:  # n - ceil(f n) >= 2 from about 2 / (1 - f) rows
                fraction = self.validation_fraction
                needed = max(needed, math.floor(_MIN_TRAIN_ROWS / (1 - fraction)) - 1)
                while needed - math.ceil(fraction * needed) < _MIN_TRAIN_ROWS:
                    needed += 1
            detail = (f" (early_stopping=True, validation_fraction={self.validation_fraction})"
                      if early_stopping else "")
            raise ValueError(f"{type(self).__name__} needs at least {needed} samples to "
                             f"train{detail}; got {n_rows} sample{'s' * (n_rows != 1)}.")
        perm = np.random.default_rng(seed).permutation(n_rows)
        return perm[n_val:], perm[:n_val]

    @contextlib.contextmanager
    def _inference(self):
        """No gradients, one torch thread: the context of predictions and draws."""
        with torch.no_grad(), single_torch_thread():
            yield

    def _standardize_values(self, values):
        center, scale = self._value_scaling
        return (values - center) / scale

    def _unstandardize_values(self, values):
        center, scale = self._value_scaling
        return values * scale + center

    def _standardize_context(self, context):
        center, scale = self._context_scaling
        return (context - center) / scale

    # -- persistence ----------------------------------------------------------------------------
    def __getstate__(self):
        if getattr(self, "_fitting", False):
            # Half the fitted attributes are not derived yet: such a copy loaded as a
            # model that failed at its first prediction.
            raise RuntimeError(
                f"{type(self).__name__} cannot be saved or copied during its fit (from a "
                "callback): its fitted attributes are derived after the last epoch. To "
                "keep an epoch's weights, use skqegm.nn.Checkpoint or copy "
                "estimator.network_.state_dict(); save the estimator once fit returns.")
        # A copy: object.__getstate__ returns the instance's own __dict__.
        state = dict(super().__getstate__())
        network = state.get("network_")
        if isinstance(network, torch.nn.Module):
            # Plain arrays: readable by skops.io, and free of torch's pickled classes.
            state["network_"] = {name: tensor.detach().cpu().numpy().copy()
                                 for name, tensor in network.state_dict().items()}
        return state

    def __setstate__(self, state):
        weights = state.get("network_")
        if "device" in self._get_param_names():  # saved before the parameter existed
            state = {"device": "cpu", **state}
        # The parameters of the fit, under their former name in a model saved before.
        legacy = state.get("_network_params")
        if legacy is not None:
            state = {name: value for name, value in state.items() if name != "_network_params"}
        super().__setstate__(state)
        if legacy is not None:
            record_fit_params(self, legacy)
        if isinstance(weights, dict):
            network = self._make_fitted_network()
            network.load_state_dict({name: torch.from_numpy(np.array(value))
                                     for name, value in weights.items()})
            self.network_ = network.eval()


@contextlib.contextmanager
def _callbacks_kept_on_failure(estimator):
    """Tell the callbacks given to ``estimator`` how its fit ended; put them back as
    they were before it if it raised.

    A callback's state is part of the estimator's: a refit that raised left the model
    as it was but its ``LRScheduler``'s rates and ``Checkpoint``'s epochs from the
    failed fit. Each callback's attributes are saved as ``restored_on_failure`` saves
    the estimator's (the objects, which a callback replaces in ``on_train_begin``);
    :meth:`Callback.on_fit_end` is called with the outcome once the fit is over, after
    every fitted attribute is derived, so that a ``Checkpoint`` moves its files into
    place only then.
    """
    callbacks = []
    for callback in estimator.callbacks or []:
        if isinstance(callback, Callback) and all(callback is not c for c in callbacks):
            callbacks.append(callback)
    # Objects a callback holds are kept by reference; the contents of its own lists,
    # dicts, sets and arrays are copied too, as it may edit them in place.
    memo = {id(item): item for item in (estimator, *callbacks)}
    saved = [(callback, *_saved_state(callback, memo)) for callback in callbacks
             if hasattr(callback, "__dict__")]
    done = []  # the callbacks told of a fit that succeeded: their state is this fit's
    try:
        yield
        for callback in callbacks:
            callback.on_fit_end(estimator, True)
            done.append(callback)
    except BaseException:
        for callback in callbacks:
            if all(callback is not c for c in done):
                # Every callback is told, even after one of them failed to clean up.
                with contextlib.suppress(Exception):
                    callback.on_fit_end(estimator, False)
        for callback, state, contents in saved:
            if all(callback is not c for c in done):
                vars(callback).clear()
                vars(callback).update(state)
                for name, content in contents.items():
                    _refill(state[name], content)
        raise


#: What a callback may edit in place, whose contents are copied before a fit.
_EDITABLE = (list, dict, set, bytearray, np.ndarray, torch.Tensor)


def _saved_state(callback, memo):
    """``(attributes, contents)``: a callback's attributes (the objects) and deep copies
    of those it may edit in place, to put back if the fit fails."""
    state = dict(vars(callback))
    if replaces_its_state(callback):
        return state, {}
    contents = {}
    for name, value in state.items():
        if isinstance(value, _EDITABLE):
            # Something that cannot be copied (a lock in a list) stays as it is.
            with contextlib.suppress(Exception):
                contents[name] = copy.deepcopy(value, memo)
    return state, contents


def _refill(target, content):
    """Give ``target`` (a list, dict, set, array or tensor) ``content``'s contents, in
    place: the callback and whoever else holds ``target`` see it as before the fit."""
    if isinstance(target, (list, bytearray)):
        target[:] = content
    elif isinstance(target, (dict, set)):
        target.clear()
        target.update(content)
    elif target.shape == content.shape:  # an array or tensor resized is left as it is
        if isinstance(target, torch.Tensor):
            with torch.no_grad():
                target.copy_(content)
        elif target.flags.writeable:
            np.copyto(target, content)


def _plain(value):
    """Whether a parameter's value is plain data (numbers, strings, None, sequences of
    them), which pickle and ``skops.io`` store without trusting any type."""
    if value is None or isinstance(value, (str, Real)):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "biuf"
    return isinstance(value, (tuple, list)) and all(_plain(item) for item in value)


def _rows(array, rows):
    return None if array is None else array[rows]


def _tensor(array):
    return torch.as_tensor(array, dtype=torch.float32)


def _to_device(batch, device):
    """``batch`` (a tensor, or a tuple or named tuple of tensors and ``None``) on ``device``.

    Nothing is copied on the device the tensors are already on (the CPU by default).
    """
    if device is None or batch is None:
        return batch
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, tuple):
        moved = [_to_device(item, device) for item in batch]
        return type(batch)(*moved) if hasattr(batch, "_fields") else type(batch)(moved)
    return batch


def _batch_rows(batch):
    return len(batch[0]) if isinstance(batch, tuple) else len(batch)


# Held while torch's global generator is forked, so that threads do not interleave.
_GLOBAL_RNG_LOCK = threading.Lock()
