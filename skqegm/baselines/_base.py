"""What the deep baselines (GAN, VAE, diffusion) add to the torch fit loop: sampling, and a
score for the models without a density."""

from abc import abstractmethod

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted, validate_data

from ..metrics import neg_tail_kl_scorer
from ..nn import BaseTorchEstimator
from ..utils._memory import check_memory, sample_block
from ..utils._sampling import draw_random_state
from ..utils._validation import check_int

_INT32 = np.iinfo(np.int32).max
# Activations per unit of the widest layer kept by a draw (a diffusion keeps a few steps).
_WORK_PER_UNIT = 8
# Draws that check a fitted model's spread (see BaseTorchEstimator._check_fitted_spread).
_SUPPORT_DRAWS = 256


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
            Seeds the draws; None uses the estimator's ``random_state``, so that an
            estimator built with an int gives the same samples at every call.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        n_samples = check_int(n_samples, "n_samples", min_value=1)
        width = max(self._hidden_sizes(), default=1) + self.n_features_in_
        block = sample_block(8 * width * _WORK_PER_UNIT)
        # float32 draws, float64 twice, and one block's work
        check_memory(20.0 * n_samples * self.n_features_in_ + 8.0 * block * width
                     * _WORK_PER_UNIT, f"sample(n_samples={n_samples})",
                     "draw fewer samples per call.")
        generator = torch.Generator().manual_seed(
            int(draw_random_state(self, random_state).randint(_INT32)))
        draws = np.empty((n_samples, self.n_features_in_))
        with self._inference():
            for start in range(0, n_samples, block):
                rows = slice(start, min(start + block, n_samples))
                draws[rows] = self._draw(rows.stop - rows.start, generator).double().numpy()
        return self._unstandardize_values(draws)

    @abstractmethod
    def _draw(self, n_samples, generator):
        """``n_samples`` standardised draws, a tensor of shape (n_samples, n_features)."""

    def _standardized_support(self, context, generator):
        return self._draw(_SUPPORT_DRAWS, generator).numpy()


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
