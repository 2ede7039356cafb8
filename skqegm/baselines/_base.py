"""The base class of the torch-trained baseline samplers (GAN, VAE, diffusion)."""

import time
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ..metrics import neg_tail_kl_scorer
from ..utils._fitting import EarlyStopping, center_scale, single_torch_thread, validation_split
from ..utils._validation import check_int, check_option, check_real

_INT32 = np.iinfo(np.int32).max


class BaseTorchSampler(BaseEstimator):
    """Fit a torch generative network on standardised data; sample and score it.

    A subclass defines ``_build_network(n_features)`` (the module stored as
    ``network_``), ``_loss(x, generator)`` (the training loss of a standardised batch)
    and ``_draw(n_samples, generator)`` (standardised draws), and may override
    :meth:`_train`. With an ``early_stopping`` parameter set, ``validation_fraction`` of
    the rows is held out and the epoch with the best validation loss is kept.
    """

    _patience = 10

    def fit(self, X, y=None):
        """Train the network on ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, finite.
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        X = validate_data(self, X, dtype=np.float64)
        self._check_params()
        rng = check_random_state(self.random_state)
        torch_seed, split_seed = (int(seed) for seed in rng.randint(_INT32, size=2))
        config = self if getattr(self, "early_stopping", False) else _NoHoldOut
        train, val = validation_split(config, len(X), split_seed, type(self).__name__)
        self._center, self._scale = center_scale(X)
        Xs = torch.as_tensor((X - self._center) / self._scale, dtype=torch.float32)
        with torch.random.fork_rng(devices=[]), single_torch_thread():
            torch.manual_seed(torch_seed)
            self.network_ = self._build_network(X.shape[1])
            generator = torch.Generator().manual_seed(torch_seed)
            self.loss_curve_, self.validation_scores_, self.n_iter_ = self._train(
                Xs[train], Xs[val], generator)
            self.network_.eval()
            self._finish_fit(generator)
        return self

    def sample(self, n_samples=1, random_state=None):
        """Draw samples from the fitted model.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples, >= 1.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws; an int gives the same samples every time.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        n_samples = check_int(n_samples, "n_samples", min_value=1)
        seed = int(check_random_state(random_state).randint(_INT32))
        with torch.no_grad(), single_torch_thread():
            draws = self._draw(n_samples, torch.Generator().manual_seed(seed))
        return draws.double().numpy() * self._scale + self._center

    def score(self, X, y=None):
        """Minus the tail KL divergence of ``X`` from fresh draws (greater is better).

        The model has no tractable density, so it is scored as
        :data:`~skqegm.metrics.neg_tail_kl_scorer` scores it: 5% per side, 10 model
        draws per row of ``X``, drawn with ``random_state=0``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return neg_tail_kl_scorer(self, X)

    # -- training -----------------------------------------------------------------------------
    def _train(self, x_train, x_val, generator):
        """Adam on ``_loss`` over shuffled batches, with early stopping on ``x_val``.

        Returns ``(loss_curve, validation_scores, n_iter)``.
        """
        optimizer = torch.optim.Adam(self.network_.parameters(), lr=self.learning_rate)
        batch = min(self.batch_size, len(x_train))
        # The validation loss reuses one random stream at every epoch, so that it changes
        # only when the model does.
        val_seed = int(torch.randint(_INT32, (1,), generator=generator))
        stopping = EarlyStopping(self._patience)
        loss_curve, validation_scores = [], [] if self.early_stopping else None
        for epoch in range(1, self.max_epochs + 1):
            start = time.perf_counter()
            self.network_.train()
            total = 0.0
            for rows in torch.randperm(len(x_train), generator=generator).split(batch):
                loss = self._loss(x_train[rows], generator)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(rows)
            loss_curve.append(total / len(x_train))
            message = f"Epoch {epoch}/{self.max_epochs}: loss = {loss_curve[-1]:.5f}"
            stop = False
            if self.early_stopping:
                self.network_.eval()
                with torch.no_grad():
                    score = -float(self._loss(x_val, torch.Generator().manual_seed(val_seed)))
                validation_scores.append(score)
                message += f", validation score = {score:.5f}"
                stop = stopping.update(score, self.network_)
            self._report(f"{message} ({time.perf_counter() - start:.2f} s)")
            if stop:
                self._report(f"Validation score did not improve for {self._patience} epochs; "
                             f"keeping epoch {epoch - stopping.stale}.")
                break
        else:
            if self.early_stopping:
                warnings.warn(
                    f"{type(self).__name__} reached max_epochs={self.max_epochs} while the "
                    "validation score was still improving; consider raising max_epochs.",
                    ConvergenceWarning, stacklevel=3,
                )
        stopping.restore(self.network_)
        return loss_curve, validation_scores, epoch

    def _finish_fit(self, generator):
        """Hook run after training, with the training random stream (no-op here)."""

    def _report(self, message):
        if self.verbose:
            print(message, flush=True)

    # -- validation ---------------------------------------------------------------------------
    def _check_params(self):
        """Raise ``ValueError`` naming the first bad shared parameter."""
        sizes = self.hidden_layer_sizes
        if not hasattr(sizes, "__iter__") or isinstance(sizes, str) or len(sizes) == 0:
            raise ValueError("hidden_layer_sizes must be a non-empty tuple of positive ints; "
                             f"got {sizes!r}.")
        for size in sizes:
            check_int(size, "hidden_layer_sizes entries", min_value=1)
        check_int(self.max_epochs, "max_epochs", min_value=1)
        check_int(self.batch_size, "batch_size", min_value=1)
        check_real(self.learning_rate, "learning_rate", low=0, low_open=True)
        if hasattr(self, "early_stopping"):
            check_option(self.early_stopping, "early_stopping", (True, False))
            check_real(self.validation_fraction, "validation_fraction", low=0, high=1,
                       low_open=True, high_open=True)
        check_int(self.verbose, "verbose", min_value=0)


class _NoHoldOut:
    """Settings for :func:`validation_split` of an estimator without early stopping."""

    early_stopping = False
    validation_fraction = 0.0
