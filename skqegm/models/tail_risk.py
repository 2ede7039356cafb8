"""TailRiskEstimator: conditional tail risk with the QEGM architecture."""

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from ..utils._fitting import center_scale, single_torch_thread, validation_split
from ..utils._nn import MIN_SCALE
from ..utils._validation import check_int, check_option, check_real
from ._mixture1d import (
    mixture_cdf,
    mixture_logpdf,
    mixture_quantiles,
    mixture_tail_mean,
    sample_mixture,
)
from .sampler import QEGMSampler
from ._training import (
    DENSITY_DRAWS,
    NoiseSource,
    build_network,
    draw_seeds,
    mixture_codes,
    provenance,
    train_network,
)

TAILS = ("quantile", "sigma")
SIDES = ("lower", "upper")
#: Fewest training rare events from which the base rate (the default decision
#: threshold) is estimated.
MIN_RARE_EVENTS = 5
#: Latent draws that make the classical twin's conditional mixture (each is one
#: component per row, evaluated at every prediction; the quantum latent has ``2**n``).
TWIN_DENSITY_DRAWS = 256
# Early stopping waits twice as long as QEGMSampler's: the conditional fit keeps improving
# after plateaus of 10 epochs (measured on y = sigma(x) t_4: stopping after 10 left the
# intervals too wide, 0.83 coverage at a nominal 0.80; after 20 they were within 0.02).
_PATIENCE = 20
# Rows x components per block when the decoder evaluates the mixtures.
_DECODER_BLOCK = 2**17


class TailRiskEstimator(BaseEstimator):
    """Conditional distribution of a target ``y`` given features ``X``, for tail risk.

    A conditional version of the :class:`~skqegm.QEGMSampler` architecture (a
    conditional VAE): the encoder reads ``(y, X)``, the latent (the measured variational
    quantum layer, or the twin's Gaussian) is unchanged, and the decoder maps
    ``(code, X)`` to a Gaussian over ``y``. The predictive distribution of a row is thus a
    finite mixture ``p(y | x) = sum_k w_k N(y; m_k(x), s_k(x)^2)``: for the quantum latent
    the ``2**n_qubits`` outcome codes weighted by their Born probabilities averaged over
    4096 prior draws (fixed at fit time), for the twin 256 prior draws equally weighted.
    The weights are shared by all rows; the means and scales follow ``x``, so intervals
    widen where the data are more volatile. It is trained with the sampler's hybrid loss
    (eq. 5), whose tail term matches the model's tail mass, averaged over the training
    features, with the training frequency; early stopping waits 20 epochs without
    improvement (twice the sampler's patience: the conditional fit improves after
    longer plateaus).

    Every prediction (probabilities, quantiles, intervals, VaR, ES, log-likelihood) is
    computed exactly from that mixture, so predictions are deterministic and
    :meth:`sample_y` draws from the same distribution.

    Rare events are the ``y`` strictly beyond ``tail_threshold_`` on ``side``.

    Parameters
    ----------
    sampler : QEGMSampler or None, default=None
        The architecture and training settings (qubits, layers, latent, backend, networks,
        loss weights, epochs, ...); ``None`` means ``QEGMSampler()``. It is cloned, never
        fitted. Pass ``QEGMSampler(latent="gaussian")`` for the classical twin.
    tail : {"quantile", "sigma"}, default="quantile"
        How the rare-event threshold is set from the training ``y``: its ``tail_level``
        quantile on ``side`` (the paper's eq. 9), or its mean -/+ ``tail_level`` standard
        deviations (eq. 8).
    tail_level : float, default=0.025
        The tail fraction, in (0, 0.5), for ``tail="quantile"``; the number of standard
        deviations, > 0, for ``tail="sigma"`` (e.g. 2.5).
    side : {"lower", "upper"}, default="lower"
        The tail at risk: "lower" for losses of a long position (crashes), "upper" for
        exceedances of a high level (floods, a short position).
    coverage : float, default=0.9
        Default nominal coverage of :meth:`predict_interval`, in (0, 1).
    n_draws : int, default=1000
        Default number of draws per row of :meth:`sample_y`, >= 1.
    decision_threshold : float or None, default=None
        :meth:`predict` flags a row when its tail probability is above this value, in
        [0, 1]; ``None`` uses the training base rate ``base_rate_`` (flag the rows whose
        risk is above the usual).
    random_state : int, RandomState instance or None, default=None
        Seeds network initialisation, training, circuit weights, simulators, noise and the
        draws of :meth:`sample_y`. ``None`` falls back on ``sampler.random_state``.

    Attributes
    ----------
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features,)
        Defined when ``X`` has string column names.
    tail_threshold_ : float
        The rare-event threshold on ``y``.
    base_rate_ : float
        Fraction of the training ``y`` beyond ``tail_threshold_``.
    network_ : GenerativeNetwork
        The trained torch modules.
    quantum_layer_ : SamplerTransformer or None
        The trained variational layer; ``None`` for the twin.
    loss_curve_, validation_scores_, n_iter_ : list, list or None, int
        Training history, as in :class:`~skqegm.QEGMSampler`.
    provenance_ : dict
        Backend, shots, seeds and package versions of the run.

    Notes
    -----
    Sign conventions of :meth:`predict_var` and :meth:`predict_es` follow
    :func:`skqegm.metrics.var_exceedances`: for ``side="lower"`` they are positive
    losses (a 99% VaR of 0.03 means ``P(y < -0.03 | x) = 1%``); for ``side="upper"`` they
    are levels of ``y`` itself (``P(y > VaR | x) = 1%``).

    In a :class:`~sklearn.pipeline.Pipeline` the scorers of :mod:`skqegm.metrics` reach
    this estimator through the preceding transformers; call the other methods on
    ``pipeline[-1]`` with ``pipeline[:-1].transform(X)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm import QEGMSampler, TailRiskEstimator
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, size=(2000, 1))
    >>> y = (1 + X[:, 0] ** 2) * rng.standard_t(4, size=2000)
    >>> sampler = QEGMSampler(max_epochs=5, early_stopping=False)
    >>> model = TailRiskEstimator(sampler, random_state=0).fit(X, y)
    >>> model.predict_interval(X[:2]).shape
    (2, 2)
    >>> bool(np.all(model.predict_es(X[:5], 0.99) > model.predict_var(X[:5], 0.99)))
    True
    """

    def __init__(self, sampler=None, tail="quantile", tail_level=0.025, side="lower",
                 coverage=0.9, n_draws=1000, decision_threshold=None, random_state=None):
        self.sampler = sampler
        self.tail = tail
        self.tail_level = tail_level
        self.side = side
        self.coverage = coverage
        self.n_draws = n_draws
        self.decision_threshold = decision_threshold
        self.random_state = random_state

    # -- fitting ----------------------------------------------------------------------------
    def fit(self, X, y):
        """Learn the conditional distribution of ``y`` given ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features, finite.
        y : array-like of shape (n_samples,)
            Target, finite and not constant, with at least ``MIN_RARE_EVENTS`` (5) values
            beyond the tail threshold.

        Returns
        -------
        self : object
        """
        config = self._check_params()
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        seeds = draw_seeds(config.random_state)
        train, val = validation_split(config, len(X), seeds["split"], type(self).__name__)
        self.tail_threshold_, self.base_rate_ = self._rare_event_threshold(y)

        self._x_center, self._x_scale = center_scale(X)
        self._y_center, self._y_scale = center_scale(y)
        Xs = (X - self._x_center) / self._x_scale
        ys = ((y - self._y_center) / self._y_scale)[:, None]
        quantile = config.tail_quantile
        thresholds = np.quantile(ys[train], [quantile, 1 - quantile], axis=0)
        tail_freq = np.stack([(ys[train] <= thresholds[0]).mean(0),
                              (ys[train] >= thresholds[1]).mean(0)])

        with torch.random.fork_rng(devices=[]), single_torch_thread():
            torch.manual_seed(seeds["torch"])
            context = torch.as_tensor(Xs[train], dtype=torch.float32)
            self.network_ = build_network(config, 1, seeds["circuit"], context=context)
            noise = NoiseSource(config, seeds["noise"])
            self.loss_curve_, self.validation_scores_, self.n_iter_ = train_network(
                config, self.network_, (ys[train], Xs[train]), (ys[val], Xs[val]),
                thresholds, tail_freq, noise, seeds["torch"], type(self).__name__,
                patience=_PATIENCE,
            )
            n_draws = DENSITY_DRAWS if config.latent == "quantum" else TWIN_DENSITY_DRAWS
            log_weights, codes = mixture_codes(self.network_, noise, seeds["density"], n_draws)
        self._decoder = _ConditionalDecoder(self.network_.decoder, log_weights, codes)
        layer = getattr(self.network_.latent, "layer", None)
        self.quantum_layer_ = None if layer is None else layer.to_transformer()
        self.provenance_ = provenance(config, seeds, self.quantum_layer_)
        return self

    def _check_params(self):
        """Validate the parameters; return the sampler configuration to train."""
        if self.sampler is not None and not isinstance(self.sampler, QEGMSampler):
            raise ValueError("sampler must be None or a QEGMSampler (whose architecture is "
                             f"trained conditionally); got {type(self.sampler).__name__}.")
        check_option(self.tail, "tail", TAILS)
        check_option(self.side, "side", SIDES)
        if self.tail == "quantile":
            check_real(self.tail_level, "tail_level (tail='quantile')", low=0, high=0.5,
                       low_open=True, high_open=True)
        else:
            check_real(self.tail_level, "tail_level (tail='sigma')", low=0, low_open=True)
        _check_fraction(self.coverage, "coverage")
        check_int(self.n_draws, "n_draws", min_value=1)
        if self.decision_threshold is not None:
            check_real(self.decision_threshold, "decision_threshold", low=0, high=1)
        config = QEGMSampler() if self.sampler is None else clone(self.sampler)
        if self.random_state is not None:
            config.set_params(random_state=self.random_state)
        config._check_params()
        return config

    def _rare_event_threshold(self, y):
        if np.ptp(y) == 0:
            raise ValueError(f"y is constant (every value is {y[0]!r}); a tail model needs a "
                             "target that varies.")
        if self.tail == "quantile":
            level = self.tail_level if self.side == "lower" else 1 - self.tail_level
            threshold = float(np.quantile(y, level))
        else:
            sign = -1 if self.side == "lower" else 1
            threshold = float(y.mean() + sign * self.tail_level * y.std())
        n_rare = int(self._beyond(y, threshold).sum())
        if n_rare < MIN_RARE_EVENTS:
            raise ValueError(
                f"y has {n_rare} rare event{'s' if n_rare != 1 else ''} beyond the tail "
                f"threshold {threshold:.4g} (tail={self.tail!r}, tail_level="
                f"{self.tail_level!r}, side={self.side!r}); TailRiskEstimator needs at least "
                f"{MIN_RARE_EVENTS}. Use more rows or a less extreme tail_level."
            )
        return threshold, n_rare / len(y)

    def _beyond(self, y, threshold):
        return y < threshold if self.side == "lower" else y > threshold

    # -- predictions --------------------------------------------------------------------------
    def _mixture(self, X):
        """Every row's predictive mixture ``(log_weights, mean, scale)`` in units of y."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        mean, scale = self._decoder((X - self._x_center) / self._x_scale)
        return (self._decoder.log_weights, mean * self._y_scale + self._y_center,
                scale * self._y_scale)

    def predict_proba(self, X):
        """Probability that ``y`` falls in the tail region, given each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, 2)
            Column 1 is ``P(y beyond tail_threshold_ | x)``, column 0 its complement.
        """
        mixture = self._mixture(X)
        threshold = np.full((len(mixture[1]), 1), self.tail_threshold_)
        p = mixture_cdf(threshold, *mixture, upper=self.side == "upper")[:, 0]
        return np.column_stack([1 - p, p])

    def predict(self, X):
        """Rare-event flags: 1 where the tail probability is above the decision threshold.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        flags : ndarray of shape (n_samples,), dtype int
        """
        proba = self.predict_proba(X)[:, 1]
        cutoff = self.base_rate_ if self.decision_threshold is None else self.decision_threshold
        return (proba > cutoff).astype(int)

    def predict_quantiles(self, X, quantiles):
        """Conditional quantiles of ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        quantiles : float or sequence of float
            Probabilities, each in (0, 1).

        Returns
        -------
        values : ndarray of shape (n_samples, n_quantiles)
        """
        quantiles = np.atleast_1d(np.asarray(quantiles, dtype=np.float64))
        if quantiles.ndim != 1 or quantiles.size == 0:
            raise ValueError(f"quantiles must be a number or a 1-D sequence; got {quantiles!r}.")
        for q in quantiles:
            _check_fraction(float(q), "quantiles")
        return mixture_quantiles(quantiles, *self._mixture(X))

    def predict_interval(self, X, coverage=None):
        """Central prediction interval: the ``(1 -/+ coverage) / 2`` conditional quantiles.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        coverage : float or None, default=None
            Nominal coverage in (0, 1); ``None`` uses the estimator's ``coverage``.

        Returns
        -------
        intervals : ndarray of shape (n_samples, 2)
            Lower and upper bounds.
        """
        coverage = self.coverage if coverage is None else coverage
        coverage = _check_fraction(coverage, "coverage")
        return self.predict_quantiles(X, [(1 - coverage) / 2, (1 + coverage) / 2])

    def predict_var(self, X, level=0.99):
        """Value-at-risk at ``level`` (a positive loss for ``side="lower"``; see Notes).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        level : float, default=0.99
            Confidence level in (0, 1); the tail probability is ``1 - level``.

        Returns
        -------
        var : ndarray of shape (n_samples,)
        """
        return self._var(self._mixture(X), _check_fraction(level, "level"))

    def predict_es(self, X, level=0.99):
        """Expected shortfall at ``level``: the mean of ``y`` beyond the VaR (see Notes).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        level : float, default=0.99
            Confidence level in (0, 1).

        Returns
        -------
        es : ndarray of shape (n_samples,)
        """
        level = _check_fraction(level, "level")
        mixture = self._mixture(X)
        var = self._var(mixture, level)
        upper = self.side == "upper"
        quantile = var if upper else -var
        tail_mean = mixture_tail_mean(quantile, *mixture, upper=upper) / (1 - level)
        return tail_mean if upper else -tail_mean

    def _var(self, mixture, level):
        if self.side == "upper":
            return mixture_quantiles([level], *mixture)[:, 0]
        return -mixture_quantiles([1 - level], *mixture)[:, 0]

    def sample_y(self, X, n_draws=None, random_state=None):
        """Draws of ``y`` from each row's conditional distribution.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        n_draws : int or None, default=None
            Draws per row, >= 1; ``None`` uses the estimator's ``n_draws``.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws; ``None`` uses the estimator's ``random_state``.

        Returns
        -------
        draws : ndarray of shape (n_samples, n_draws)
        """
        n_draws = check_int(self.n_draws if n_draws is None else n_draws, "n_draws",
                            min_value=1)
        mixture = self._mixture(X)
        rng = check_random_state(self.random_state if random_state is None else random_state)
        return sample_mixture(n_draws, *mixture, rng)

    def score(self, X, y):
        """Mean conditional log-likelihood ``mean_i log p(y_i | x_i)`` (greater is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        score : float
        """
        mixture = self._mixture(X)
        y = column_or_1d(check_array(y, ensure_2d=False, dtype=np.float64, input_name="y"))
        check_consistent_length(mixture[1], y)
        return float(mixture_logpdf(y, *mixture).mean())

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags


def _check_fraction(value, name):
    return check_real(value, name, low=0, high=1, low_open=True, high_open=True)


class _ConditionalDecoder:
    """The trained decoder in float64 numpy, for mixtures over fixed codes.

    The first layer's code part is evaluated once per code at fit time; a prediction
    adds each row's context part, so a row costs the remaining layers only. float64
    keeps a row's prediction independent of the rows predicted with it.
    """

    def __init__(self, head, log_weights, codes):
        linear = [m for m in head.net if isinstance(m, torch.nn.Linear)]
        params = [(m.weight.detach().double().numpy(), m.bias.detach().double().numpy())
                  for m in linear]
        weight, bias = params[0]
        n_code = codes.shape[1]
        self.log_weights = log_weights
        self._code_part = codes.double().numpy() @ weight[:, :n_code].T + bias  # (K, h)
        self._context_weight = weight[:, n_code:]
        self._layers = params[1:]

    def __call__(self, context):
        """``mean, scale`` of shape (n_rows, K) in standardised units of y."""
        n_codes = len(self._code_part)
        mean = np.empty((len(context), n_codes))
        scale = np.empty_like(mean)
        step = max(1, _DECODER_BLOCK // n_codes)
        for start in range(0, len(context), step):
            rows = slice(start, start + step)
            hidden = context[rows] @ self._context_weight.T
            h = np.maximum(hidden[:, None, :] + self._code_part, 0.0)
            for i, (weight, bias) in enumerate(self._layers):
                h = h @ weight.T + bias
                if i < len(self._layers) - 1:
                    h = np.maximum(h, 0.0)
            mean[rows] = h[..., 0]
            scale[rows] = np.logaddexp(0.0, h[..., 1]) + MIN_SCALE
        return mean, scale
