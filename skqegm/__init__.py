"""skqegm: quantum-enhanced generative models for rare events and tail risk.

Its subpackages:

quantum
    Circuits, an exact batched torch simulator, Qiskit primitive adapters,
    scikit-learn transformers, parameter-shift gradients and a quantum random source.
preprocessing, datasets, metrics
    Tail labelling and splits, the paper's data (finance, climate, intrusions), tail
    scores for any number of features, VaR and ES scoring functions and backtests.
model_selection
    Walk-forward backtests: refit on the past, forecast VaR and ES of the next rows.
extremes
    Return levels and return periods of any fitted sampler, with confidence intervals.
baselines
    Classical samplers with the same API: GAN, VAE, diffusion, Student-t, GPD tails;
    tail-risk baselines: GARCH-family models (with ``arch``) and historical simulation.
nn
    The one fit loop of every torch-trained estimator, and its callbacks.
pipeline
    A scikit-learn Pipeline that also samples and forwards the tail-risk API.
models
    :class:`QEGMSampler`, the hybrid quantum-latent generative model and its classical
    twin; :class:`TailRiskEstimator`, conditional tail risk (rare-event probabilities,
    intervals, VaR, ES) with the same architecture; :class:`FilteredRiskEstimator`, the
    same on returns standardised by a GARCH volatility filter.
"""

import logging
from typing import TYPE_CHECKING

__version__ = "0.2.0.dev0"

# Events (jobs on quantum backends, fits' costs) go to the "skqegm" logger; the
# application decides whether and where they are shown.
logging.getLogger(__name__).addHandler(logging.NullHandler())

from .utils._lazy import attach  # noqa: E402

# Names and subpackages are imported on first use: ``import skqegm`` alone loads neither
# torch nor scikit-learn nor qiskit, which every worker process of a parallel search
# would otherwise pay for again.
__getattr__, __dir__ = attach(__name__, {"models": ["FilteredRiskEstimator", "QEGMSampler",
                                                    "TailRiskEstimator"]})
if TYPE_CHECKING:  # what static tools and IDEs read
    from .models import FilteredRiskEstimator, QEGMSampler, TailRiskEstimator

__all__ = ["FilteredRiskEstimator", "QEGMSampler", "TailRiskEstimator", "__version__"]
