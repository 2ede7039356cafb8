"""Tail labelling, financial features, per-domain pipelines and the 70 / 15 / 15 split.

The paper's data preparation: rare events are labelled with a sigma rule (eq. 8) or an
empirical quantile (eq. 9), features are scaled per domain (eq. 10), and data are split
70 / 15 / 15 with the rare rate preserved.
"""

from skqegm.preprocessing.finance import log_returns, make_lagged_features
from skqegm.preprocessing.labelers import (
    QuantileTailLabeler,
    SigmaThresholdLabeler,
    make_tail_labels,
)
from skqegm.preprocessing.pipelines import make_tail_pipeline
from skqegm.preprocessing.splits import train_val_test_split

__all__ = [
    "QuantileTailLabeler",
    "SigmaThresholdLabeler",
    "log_returns",
    "make_lagged_features",
    "make_tail_labels",
    "make_tail_pipeline",
    "train_val_test_split",
]
