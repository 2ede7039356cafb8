"""Tail labelling, financial features, per-domain pipelines and the 70 / 15 / 15 split.

The paper's data preparation: rare events are labelled with a sigma rule (eq. 8) or an
empirical quantile (eq. 9), features are scaled per domain (eq. 10), and data are split
70 / 15 / 15 with the rare rate preserved.
"""

from ..utils._lazy import attach

# Each name is imported from its module on first use (see skqegm.utils._lazy).
__getattr__, __dir__ = attach(__name__, {
    "finance": ["log_returns", "make_lagged_features"],
    "labelers": ["QuantileTailLabeler", "SigmaThresholdLabeler", "make_tail_labels"],
    "pipelines": ["make_tail_pipeline"],
    "splits": ["train_val_test_split"],
})

__all__ = [
    "QuantileTailLabeler",
    "SigmaThresholdLabeler",
    "log_returns",
    "make_lagged_features",
    "make_tail_labels",
    "make_tail_pipeline",
    "train_val_test_split",
]
