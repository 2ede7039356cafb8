"""Helpers shared by every torch-trained estimator: scaling, hold-out rows, threads, early
stopping. They know no model."""

import contextlib
import copy
import math

import numpy as np
import torch

_MIN_TRAIN_SAMPLES = 2


def center_scale(values):
    """Column means and standard deviations (1 for constant columns), to standardise."""
    std = values.std(axis=0)
    return values.mean(axis=0), np.where(std > 0, std, 1.0)


def validation_split(config, n_rows, seed, owner):
    """Training and validation row indices (no validation rows without early stopping).

    ``config`` has ``early_stopping`` and ``validation_fraction``; ``owner`` names the
    estimator in the error raised when too few rows are left to train on.
    """
    n_val = math.ceil(config.validation_fraction * n_rows) if config.early_stopping else 0
    if n_rows - n_val < _MIN_TRAIN_SAMPLES:
        needed = _MIN_TRAIN_SAMPLES + (1 if config.early_stopping else 0)
        raise ValueError(
            f"{owner} needs at least {needed} samples to train (early_stopping="
            f"{config.early_stopping}, validation_fraction={config.validation_fraction}); "
            f"got {n_rows} sample{'s' if n_rows != 1 else ''}."
        )
    perm = np.random.default_rng(seed).permutation(n_rows)
    return perm[n_val:], perm[:n_val]


@contextlib.contextmanager
def single_torch_thread():
    """Train on one torch thread, then restore the setting.

    The networks are small, so a second intra-op thread gains nothing (measured), while
    two processes that each spin two threads on two cores, as in ``GridSearchCV(n_jobs=2)``,
    ran 20x slower than one alone.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class EarlyStopping:
    """Remember a module's best validation state; say when to stop.

    Parameters
    ----------
    patience : int
        Epochs without an improvement of more than ``tol`` before training stops.
    tol : float, default=1e-4
    """

    def __init__(self, patience, tol=1e-4):
        self.patience, self.tol = patience, tol
        self.best_score, self.best_state, self.stale = -np.inf, None, 0

    def update(self, score, module):
        """Record an epoch's validation score (greater is better); True means stop."""
        if score > self.best_score + self.tol:
            self.best_score, self.stale = score, 0
            self.best_state = copy.deepcopy(module.state_dict())
        else:
            self.stale += 1
        return self.stale >= self.patience

    def restore(self, module):
        """Load the best state seen into ``module`` (no-op if none was recorded)."""
        if self.best_state is not None:
            module.load_state_dict(self.best_state)
