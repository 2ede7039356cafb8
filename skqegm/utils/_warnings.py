"""Where a warning points: the user's line, past skqegm's and scikit-learn's frames."""

import os
import sys

import joblib
import sklearn

#: Frames skipped by caller_stacklevel: skqegm's, scikit-learn's (its fit wrapper,
#: pipelines and model selection lie between a user's call and the estimator) and
#: joblib's (the Parallel of walk_forward and of scikit-learn's searches, even with one
#: job).
_SKIPPED_DIRS = tuple(path + os.sep for path in (
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),  # skqegm/utils/..
    os.path.dirname(os.path.abspath(sklearn.__file__)),
    os.path.dirname(os.path.abspath(joblib.__file__))))


def caller_stacklevel():
    """The ``stacklevel`` that points a warning, issued by this function's caller, at the
    first frame outside skqegm, scikit-learn and joblib: the user's call, however many methods
    lie between (``predict_rare`` -> ``predict_tail_proba`` -> ..., a pipeline, the
    ``fit`` wrapper); ``skip_file_prefixes`` does this from Python 3.12."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_SKIPPED_DIRS):
        frame, level = frame.f_back, level + 1
    return level
