"""Parameter-shift gradients of the variational layer (paper eqs. 6 and 16).

Every weight drives exactly one ``Ry`` or ``Rz`` gate, whose generator has eigenvalues
``+-1/2``, so the two-term rule is exact:
``d<O>/d theta_k = (<O>(theta_k + pi/2) - <O>(theta_k - pi/2)) / 2``.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..utils._memory import check_memory

SHIFT = np.pi / 2


def shifted_weight_sets(weights, shift=SHIFT):
    """The ``2 * n_weights`` shifted copies of ``weights``: all ``+shift``, then all ``-shift``.

    Row ``k`` is ``weights`` with ``shift`` added to entry ``k``, row ``n_weights + k``
    the same with ``shift`` subtracted: the evaluations the parameter-shift rule needs.

    Parameters
    ----------
    weights : array-like of shape (n_weights,)
        The weights to shift.
    shift : float, default=pi/2
        The shift, ``pi / 2`` for the exact two-term rule of ``Ry`` and ``Rz`` gates.

    Returns
    -------
    weight_sets : ndarray of shape (2 * n_weights, n_weights)
        Rows ``0 .. n_weights - 1`` shifted up, rows ``n_weights ..`` shifted down.

    See Also
    --------
    parameter_shift_jacobian : The Jacobian computed from these weight sets.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.quantum.gradients import shifted_weight_sets
    >>> shifted_weight_sets([0.1, 0.2], shift=1.0).tolist()
    [[1.1, 0.2], [0.1, 1.2], [-0.9, 0.2], [0.1, -0.8]]
    >>> sets = shifted_weight_sets([0.4])  # d cos(theta) / d theta by parameter shift
    >>> f = np.cos(sets[:, 0])
    >>> round(float((f[0] - f[1]) / 2), 6), round(float(-np.sin(0.4)), 6)
    (-0.389418, -0.389418)
    """
    weights = np.asarray(weights, dtype=float)
    eye = np.eye(weights.size) * shift
    return np.concatenate([weights + eye, weights - eye])


def parameter_shift_jacobian(transformer, X):
    """Jacobian of a fitted quantum transformer's outputs with respect to its weights.

    All ``2 * n_weights`` shifted weight sets of all rows of ``X`` go to the
    transformer's backend in ONE primitive call (one sweep), so the cost is that of one
    batch of ``2 * n_weights * n_samples`` circuits.

    Parameters
    ----------
    transformer : EstimatorTransformer or SamplerTransformer
        A fitted transformer; its backend, shots and seeds are used.
    X : array-like of shape (n_samples, n_features)
        Inputs at which to differentiate.

    Returns
    -------
    jacobian : ndarray of shape (n_samples, n_outputs, n_weights)
        ``jacobian[i, j, k] = d transform(X)[i, j] / d weights_[k]``; with ``shots``
        each shifted evaluation carries its own shot noise.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.quantum import EstimatorTransformer, parameter_shift_jacobian
    >>> qt = EstimatorTransformer(n_layers=1, weights=[0.3, 0.0]).fit([[0.2]])
    >>> jac = parameter_shift_jacobian(qt, [[0.2]])  # <Z> = cos(x + theta)
    >>> np.round(jac, 6).tolist(), round(float(-np.sin(0.5)), 6)
    ([[[-0.479426, 0.0]]], -0.479426)
    """
    check_is_fitted(transformer)
    n_weights = transformer.weights_.size
    n_rows = np.shape(X)[0] if np.ndim(X) else 0
    # The outputs at the 2 n_weights shifted sets, their difference and its transposed
    # copy: 4 n_weights outputs per row (2**n each for probabilities).
    check_memory(
        32.0 * n_weights * n_rows * transformer.n_outputs_,
        f"parameter_shift_jacobian on {n_rows} rows ({2 * n_weights} shifted weight sets, "
        f"{transformer.n_outputs_:,} outputs each at n_qubits={transformer.n_qubits_})",
        "differentiate fewer rows at a time.",
    )
    outputs = transformer.evaluate(X, shifted_weight_sets(transformer.weights_))
    jacobian = (outputs[:n_weights] - outputs[n_weights:]) / 2.0  # (n_weights, n, n_out)
    return np.ascontiguousarray(jacobian.transpose(1, 2, 0))
