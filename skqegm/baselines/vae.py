"""VAESampler: the standard Gaussian-latent variational autoencoder baseline."""

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils._mixins import LogDensityScoreMixin
from ..utils._nn import GaussianHead, gaussian_kl, gaussian_mixture_logpdf
from ..utils._validation import check_int
from ._base import BaseTorchSampler


class VAESampler(LogDensityScoreMixin, BaseTorchSampler):
    """Variational autoencoder (Kingma and Welling) with a Gaussian latent and decoder.

    The paper's VAE baseline: an encoder ``q(z | x) = N(mu(x), diag s(x)^2)``, a prior
    ``z ~ N(0, I)`` and a decoder ``p(x | z) = N(m(z), diag sigma(z)^2)``, trained by
    maximising the evidence lower bound with Adam on standardised data. Unlike
    :class:`~skqegm.QEGMSampler`'s classical twin it has no tail loss, no eq. 7 noise and
    a standard initialisation: it is the baseline a practitioner would reach for.

    Parameters
    ----------
    latent_dim : int, default=4
        Dimension of ``z`` (4 matches the default QEGM's 4 qubits).
    hidden_layer_sizes : tuple of int, default=(64, 64)
        Hidden layers of the encoder and of the decoder (ReLU MLPs).
    n_density_draws : int, default=4096
        Prior draws that define :meth:`score_samples` (see there).
    max_epochs : int, default=200
    batch_size : int, default=256
    learning_rate : float, default=1e-3
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the rows, stop when their negative ELBO has
        not improved by 1e-4 for 10 epochs, and keep the best epoch.
    validation_fraction : float, default=0.15
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, training and the density's prior draws.
    verbose : int, default=0
        ``>= 1`` prints the loss of every epoch.

    Attributes
    ----------
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features,)
        Defined when ``X`` has string column names.
    network_ : torch.nn.ModuleDict
        The trained ``encoder`` and ``decoder``.
    loss_curve_ : list of float
        Mean negative ELBO per epoch (per row, standardised units).
    validation_scores_ : list of float or None
        Minus the validation negative ELBO per epoch; ``None`` without early stopping.
    n_iter_ : int
        Epochs run.

    Examples
    --------
    >>> from skqegm.baselines import VAESampler
    >>> from skqegm.datasets import make_tail_mixture
    >>> X, _ = make_tail_mixture(1000, random_state=0)
    >>> vae = VAESampler(max_epochs=5, random_state=0).fit(X)
    >>> vae.sample(4, random_state=0).shape
    (4, 1)
    >>> bool(vae.score(X) > -3)
    True
    """

    def __init__(self, latent_dim=4, hidden_layer_sizes=(64, 64), n_density_draws=4096,
                 max_epochs=200, batch_size=256, learning_rate=1e-3, early_stopping=True,
                 validation_fraction=0.15, random_state=None, verbose=0):
        self.latent_dim = latent_dim
        self.hidden_layer_sizes = hidden_layer_sizes
        self.n_density_draws = n_density_draws
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.verbose = verbose

    def score_samples(self, X):
        """Log-density of the fitted model at each row of ``X``.

        The VAE's density ``p(x) = E_z p(x | z)`` has no closed form; it is estimated by
        the decoder's Gaussians averaged over ``n_density_draws`` prior draws fixed at fit
        time, exactly as for QEGM's classical twin. That finite mixture is a normalised
        density and converges to the density :meth:`sample` draws from as the draws grow.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        Xs = (X - self._center) / self._scale
        return gaussian_mixture_logpdf(Xs, *self._components) - np.log(self._scale).sum()

    def _build_network(self, n_features):
        return torch.nn.ModuleDict({
            "encoder": GaussianHead(n_features, self.hidden_layer_sizes, self.latent_dim),
            "decoder": GaussianHead(self.latent_dim, self.hidden_layer_sizes, n_features),
        })

    def _loss(self, x, generator):
        mean_z, scale_z = self.network_["encoder"](x)
        z = mean_z + scale_z * torch.randn(mean_z.shape, generator=generator)
        mean, scale = self.network_["decoder"](z)
        nll = (0.5 * ((x - mean) / scale) ** 2 + torch.log(scale)).sum(-1)
        nll = nll + 0.5 * x.shape[1] * np.log(2 * np.pi)
        return (nll + gaussian_kl(mean_z, scale_z)).mean()

    @torch.no_grad()
    def _finish_fit(self, generator):
        # Fix the prior draws that define score_samples.
        z = torch.randn(self.n_density_draws, self.latent_dim, generator=generator)
        mean, scale = self.network_["decoder"](z)
        self._components = (np.full(len(z), -np.log(len(z))), mean.double().numpy(),
                            scale.double().numpy())

    def _draw(self, n_samples, generator):
        z = torch.randn(n_samples, self.latent_dim, generator=generator)
        mean, scale = self.network_["decoder"](z)
        return mean + scale * torch.randn(mean.shape, generator=generator)

    def _check_params(self):
        super()._check_params()
        check_int(self.latent_dim, "latent_dim", min_value=1)
        check_int(self.n_density_draws, "n_density_draws", min_value=1)
