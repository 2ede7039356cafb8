"""Torch training shared by every torch-trained estimator of skqegm.

:class:`BaseTorchEstimator` owns validation, seeding, standardisation, the hold-out
rows of early stopping and one fit loop with small overridable steps; the callbacks
(:class:`Callback`, and the built-in :class:`EarlyStopping`, :class:`EpochLogger`,
:class:`LRScheduler` and :class:`Checkpoint`) hook into that loop.
:class:`~skqegm.QEGMSampler`, :class:`~skqegm.TailRiskEstimator` and the deep baselines
of :mod:`skqegm.baselines` are built on it.
"""

from ..utils._lazy import attach

# Each name is imported from its module on first use (see skqegm.utils._lazy).
__getattr__, __dir__ = attach(__name__, {
    "base": ["BaseTorchEstimator"],
    "callbacks": ["Callback", "Checkpoint", "EarlyStopping", "EpochLogger", "LRScheduler"],
})

__all__ = ["BaseTorchEstimator", "Callback", "Checkpoint", "EarlyStopping", "EpochLogger",
           "LRScheduler"]
