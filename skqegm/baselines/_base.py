"""What the deep baselines (GAN, VAE, diffusion) add to the torch fit loop: sampling, and a
score for the models without a density."""

from abc import abstractmethod

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from ..metrics import neg_tail_kl_scorer
from ..nn import BaseTorchEstimator
from ..utils._validation import check_int

_INT32 = np.iinfo(np.int32).max


class BaseDeepSampler(BaseTorchEstimator):
    """A torch generative model of ``X`` whose draws come from :meth:`_draw`.

    A subclass implements ``_draw(n_samples, generator)``, returning standardised draws
    as a tensor; :meth:`sample` maps them back to the data's units.
    """

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
        with self._inference():
            draws = self._draw(n_samples, torch.Generator().manual_seed(seed))
        return self._unstandardize_values(draws.double().numpy())

    @abstractmethod
    def _draw(self, n_samples, generator):
        """``n_samples`` standardised draws, a tensor of shape (n_samples, n_features)."""


class TailKLScoreMixin:
    """``score`` for a sampler without a tractable density: minus the tail KL divergence."""

    def score(self, X, y=None):
        """Minus the tail KL divergence of ``X`` from fresh draws (greater is better).

        The model has no tractable density, so its score is not a log-likelihood: it is
        what :data:`~skqegm.metrics.neg_tail_kl_scorer` gives, with 5% per side, 10 model
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
