"""Parameter validation with errors that name the parameter and its allowed values."""

import numbers
import sys

import numpy as np
from sklearn import utils as _sklearn_utils
from sklearn.utils._param_validation import HasMethods, Interval
from sklearn.utils.validation import check_array

_MAX_SEED = 2**32 - 1


def check_random_state(random_state, name="random_state"):
    """:func:`sklearn.utils.check_random_state`, with a clear error for a bad seed.

    numpy accepts integer seeds in ``[0, 2**32 - 1]`` only and fails deep inside
    otherwise; here the message names the parameter and the range.
    """
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if not 0 <= random_state <= _MAX_SEED:
            raise ValueError(f"{name} must be None, an int in [0, 2**32 - 1] or a "
                             f"RandomState; got {random_state!r}.")
        return np.random.RandomState(int(random_state))
    if random_state is None or isinstance(random_state, np.random.RandomState):
        return _sklearn_utils.check_random_state(random_state)
    raise ValueError(f"{name} must be None, an int in [0, 2**32 - 1] or a RandomState; got "
                     f"{type(random_state).__name__} {random_state!r}.")


def check_option(value, name, options):
    """Return ``value`` if it is one of ``options``, else raise a ``ValueError``.

    Parameters
    ----------
    value : object
        The value given by the user.
    name : str
        The parameter's name, used in the error message.
    options : sequence
        The allowed values.
    """
    if not any(value is opt or (type(value) is type(opt) and value == opt)
               # numpy's strings (a grid of np.array values) are strings; True is not 1
               or (isinstance(value, str) and isinstance(opt, str) and value == opt)
               for opt in options):
        allowed = ", ".join(repr(opt) for opt in options)
        raise ValueError(f"{name} must be one of {allowed}; got {value!r}.")
    return value


def check_int(value, name, *, min_value=None, max_value=None, allow_none=False):
    """Return ``value`` as an ``int`` after checking its type and range."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer; got {value!r}.")
    if min_value is not None and value < min_value:
        raise ValueError(f"{name} must be >= {min_value}; got {value!r}.")
    if max_value is not None and value > max_value:
        raise ValueError(f"{name} must be <= {max_value}; got {value!r}.")
    return int(value)


def count_rows(X, name="X"):
    """The number of rows (samples) of an array-like, without converting it; a
    ``ValueError`` naming ``name`` for a number, a string or a 0-d array."""
    shape = getattr(X, "shape", None)
    if shape is None and hasattr(X, "__len__") and not isinstance(X, (str, bytes)):
        shape = (len(X),)
    if not shape:
        raise ValueError(f"{name} must be an array-like of samples (rows); got "
                         f"{type(X).__name__} {X!r}.")
    return int(shape[0])


#: The most shots a job may ask for: counts are int64 (numpy's multinomial overflows past).
MAX_SHOTS = 2**63 - 1


def check_shots(shots):
    """Validate a shot count: ``None`` (exact where possible) or a positive integer."""
    return check_int(shots, "shots", min_value=1, max_value=MAX_SHOTS, allow_none=True)


def check_readout_mitigation(readout_mitigation, samples_a_device, backend, shots):
    """Refuse ``readout_mitigation=True`` unless the probabilities are sampled on a device
    (there are no readout errors to undo elsewhere)."""
    if readout_mitigation and not samples_a_device:
        raise ValueError("readout_mitigation=True mitigates sampled probabilities on a "
                         "device: set shots and a device backend (e.g. FakeManilaV2()); "
                         f"got backend={backend!r}, shots={shots!r}.")


def check_seed(seed, name="seed"):
    """Validate a seed: ``None`` or an integer in ``[0, 2**32 - 1]``.

    Qiskit's samplers fail deep inside numpy or Aer's bindings on a negative seed or one
    of 64 bits; this names the argument instead.

    Parameters
    ----------
    seed : int or None
        The seed given by the user.
    name : str, default="seed"
        The argument's name, for the error message.

    Returns
    -------
    seed : int or None

    Examples
    --------
    >>> from skqegm.utils._validation import check_seed
    >>> check_seed(7), check_seed(None)
    (7, None)
    >>> check_seed(-1)
    Traceback (most recent call last):
        ...
    ValueError: seed must be None or an integer in [0, 2**32 - 1]; got -1.
    """
    if seed is None:
        return None
    if (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
            or not 0 <= seed <= _MAX_SEED):
        raise ValueError(f"{name} must be None or an integer in [0, 2**32 - 1]; got {seed!r}.")
    return int(seed)


def seed_from_random_state(random_state):
    """Draw one 32-bit integer seed from ``random_state`` (for simulators and transpilers).

    An ``int`` random_state always gives the same seed, so a fitted estimator's
    simulator runs are reproducible; ``None`` gives a fresh seed.
    """
    rng = check_random_state(random_state)
    return int(rng.randint(np.iinfo(np.int32).max))


def check_real(value, name, *, low=None, high=None, low_open=False, high_open=False):
    """Return ``value`` as a ``float`` after checking that it is a finite real in a range.

    Parameters
    ----------
    value : object
        The value given by the user.
    name : str
        The parameter's name, used in the error message.
    low, high : float or None
        Bounds of the allowed range; ``None`` leaves that side unbounded.
    low_open, high_open : bool
        Whether the bound itself is excluded.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite real number; got {value!r}.")
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        left = "(" if low_open or low is None else "["
        right = ")" if high_open or high is None else "]"
        lo = "-inf" if low is None else repr(low)
        hi = "inf" if high is None else repr(high)
        raise ValueError(f"{name} must be in {left}{lo}, {hi}{right}; got {value!r}.")
    return float(value)


def check_confidence_level(level, name="level"):
    """A VaR / ES confidence level: a real number in (0.5, 1), such as 0.99.

    Parameters
    ----------
    level : float
        The value given by the user.
    name : str, default="level"
        The parameter's name, used in error messages.

    Returns
    -------
    level : float

    Raises
    ------
    ValueError
        If ``level`` is not a finite real number in (0.5, 1); the message says that it is
        the confidence level, not the tail probability ``1 - level``, and suggests the value
        probably meant.
    """
    level = check_real(level, name)
    if 0.5 < level < 1:
        return level
    if 0 < level < 0.5:
        hint = f" A tail probability of {level!r} is a confidence level of {1 - level!r}."
    elif 50 < level < 100:
        hint = f" A percentage of {level!r} is a confidence level of {level / 100!r}."
    else:
        hint = ""
    raise ValueError(
        f"{name} is the VaR confidence level, in (0.5, 1): e.g. 0.99 for a 99% VaR, whose "
        f"expected exceedance rate is the tail probability 1 - {name} = 0.01; got "
        f"{level!r}.{hint}"
    )


#: The values of every ``device`` parameter.
DEVICES = ("cpu", "cuda", "auto")


def check_device(device, name="device"):
    """The ``torch.device`` that ``device`` names: ``"cpu"``, ``"cuda"`` or ``"auto"``.

    ``"auto"`` is CUDA when torch sees a GPU, else the CPU. ``"cuda"`` without one is
    refused here, at fit, rather than by the first tensor moved.

    Parameters
    ----------
    device : {"cpu", "cuda", "auto"}
        The value given by the user.
    name : str, default="device"
        The parameter's name, used in the error message.

    Returns
    -------
    device : torch.device

    Examples
    --------
    >>> from skqegm.utils._validation import check_device
    >>> check_device("cpu")
    device(type='cpu')
    """
    import torch  # here: the rest of this module does not need torch

    check_option(device, name, DEVICES)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{name}='cuda' but torch sees no CUDA device "
                         "(torch.cuda.is_available() is False); use "
                         f"{name}='cpu' or {name}='auto'.")
    return torch.device(device)


def is_loaded_instance(obj, module, name):
    """``isinstance(obj, module.name)``, without importing ``module``.

    An object can only be an instance of a class whose module has been imported, so a
    module absent from ``sys.modules`` answers False at once: the exact simulator path
    checks its ``backend`` against qiskit's classes without importing qiskit (~0.5 s).

    Parameters
    ----------
    obj : object
    module : str
        The module that exports the class, e.g. ``"qiskit.providers"``.
    name : str
        The class's name in that module, e.g. ``"BackendV2"``.

    Returns
    -------
    bool

    Examples
    --------
    >>> from skqegm.utils._validation import is_loaded_instance
    >>> is_loaded_instance(None, "qiskit.providers", "BackendV2")
    False
    """
    loaded = sys.modules.get(module)
    cls = getattr(loaded, name, None)
    return isinstance(cls, type) and isinstance(obj, cls)


class LoadedInstanceOf(HasMethods):
    """A ``_parameter_constraints`` entry: an instance of ``module.name``, checked with
    :func:`is_loaded_instance` (so without importing ``module``).

    It subclasses scikit-learn's ``HasMethods`` only because scikit-learn's validation
    takes the instances of its own constraint classes as they are; the methods check is
    replaced by the instance check.

    Parameters
    ----------
    module : str
        The module that exports the class.
    name : str
        The class's name in that module.
    """

    def __init__(self, module, name):
        super().__init__(methods=[])
        self.module, self.name = module, name

    def is_satisfied_by(self, val):
        return is_loaded_instance(val, self.module, self.name)

    def __str__(self):
        return f"an instance of '{self.module}.{self.name}'"


class IntervalNotBool(Interval):
    """A ``_parameter_constraints`` entry: scikit-learn's ``Interval``, booleans refused.

    ``bool`` is a subclass of ``int`` in Python, so ``Interval(Integral, 0, None,
    closed="left")`` takes ``max_retries=True`` as 1 (scikit-learn has no option to
    exclude booleans); this constraint refuses ``True`` / ``False`` (and numpy's
    booleans), as :func:`check_int` does. Same parameters as ``Interval``.

    Examples
    --------
    >>> from numbers import Integral
    >>> from skqegm.utils._validation import IntervalNotBool
    >>> constraint = IntervalNotBool(Integral, 0, None, closed="left")
    >>> constraint.is_satisfied_by(3), constraint.is_satisfied_by(True)
    (True, False)
    >>> str(constraint)
    'an int in the range [0, inf) (not a bool)'
    """

    def is_satisfied_by(self, val):
        return not isinstance(val, (bool, np.bool_)) and super().is_satisfied_by(val)

    def __str__(self):
        return f"{super().__str__()} (not a bool)"


#: ``_parameter_constraints`` of ``random_state``: scikit-learn's ``"random_state"``
#: (None, a seed in [0, 2**32 - 1] or a ``RandomState``), a boolean refused: ``True``
#: seeded as 1.
RANDOM_STATE = [None, IntervalNotBool(numbers.Integral, 0, _MAX_SEED, closed="both"),
                np.random.RandomState]


#: dtype kinds that hold real numbers: booleans, signed and unsigned integers, floats.
REAL_KINDS = "biuf"


def check_not_strings(x, name):
    """Refuse an array of strings (or an object array holding one), or of dates (see
    :func:`check_not_dates`), where numbers are due.

    numpy's ``astype(float)``, and so scikit-learn's ``validate_data`` on a target,
    parses numeric strings silently and fails deep inside on others; a column read as
    text is a user's mistake to show, not to guess at.
    """
    values = np.asarray(x)
    if values.dtype.kind in "USa" or (
            values.dtype.kind == "O" and any(isinstance(v, (str, bytes)) for v in values.flat)):
        raise ValueError(f"{name} must hold real numbers; got strings (dtype {values.dtype}). "
                         f"Convert it first, e.g. {name}.astype(float).")
    check_not_dates(x, name)  # the other values numpy parses silently


def _date_kind(dtype):
    kind = getattr(dtype, "kind", None)
    return {"M": "dates", "m": "durations"}.get(kind)


def check_not_dates(x, name):
    """Refuse dates and durations where real numbers are due.

    numpy and scikit-learn cast ``datetime64`` to float as counts of its unit since 1970
    (and ``timedelta64`` as counts of its unit), silently: ``log_returns`` of a date
    column returned "returns" of 5.1e-5 a day, and a labeler fitted on it a threshold of
    1.7e15; a frame mixing dates and numbers failed deep in numpy. A DataFrame is refused
    when any of its columns holds dates, named.

    Parameters
    ----------
    x : array-like, Series or DataFrame
        The input.
    name : str
        The argument's name, used in the error message.

    Raises
    ------
    ValueError
        If ``x`` (or a column of it) holds dates or durations.
    """
    if not hasattr(x, "dtype") and hasattr(x, "dtypes"):  # a DataFrame: one dtype a column
        for column, dtype in x.dtypes.items():
            what = _date_kind(dtype)
            if what:
                raise ValueError(
                    f"{name} must hold real numbers; its column {column!r} holds {what} "
                    f"(dtype {dtype}), which numpy reads as counts of their time unit. Drop "
                    f"it, or make it the index (.set_index({column!r})).")
        return
    dtype = getattr(x, "dtype", None)
    if dtype is None and isinstance(x, (list, tuple)):
        try:
            dtype = np.asarray(x).dtype
        except ValueError:  # ragged: the caller's validation says so
            return
    what = _date_kind(dtype)
    if what:
        raise ValueError(f"{name} must hold real numbers; got {what} (dtype {dtype}), which "
                         "numpy reads as counts of their time unit.")


def _as_array(x, name):
    """``x`` as an ndarray of its own dtype, any conversion error naming ``name``."""
    try:
        return check_array(x, ensure_2d=False, allow_nd=True, ensure_min_samples=0,
                           dtype=None, ensure_all_finite=False, input_name=name)
    except ValueError as exc:  # complex data, ragged lists, zero features, scalars
        raise ValueError(f"{name} must be an array of real numbers: {exc}") from exc


def check_real_array(x, name, *, allow_inf=False):
    """``x`` as a float64 ndarray of real numbers, without NaN (or infinity, by default).

    Parameters
    ----------
    x : array-like
        The input; booleans, integers, floats, and object arrays of numbers are accepted.
    name : str
        The argument's name, used in error messages.
    allow_inf : bool, default=False
        Whether ``+inf`` and ``-inf`` are valid values.

    Returns
    -------
    values : ndarray of dtype float64

    Raises
    ------
    ValueError
        If ``x`` is None, holds strings, complex numbers, dates or other non-real values,
        NaN, or an infinity that is not allowed.
    """
    if x is None:  # numpy reads it as NaN: "contains NaN" would hide a missing input
        raise ValueError(f"{name} must be an array of real numbers; got None.")
    raw = _as_array(x, name)
    # float64 would silently parse numeric strings and dates; a metric should not guess.
    if raw.dtype.kind not in REAL_KINDS + "O":
        raise ValueError(f"{name} must hold real numbers; got an array of dtype {raw.dtype}.")
    check_not_strings(raw, name)
    try:
        values = raw.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must hold real numbers: {exc}") from exc
    if np.isnan(values).any():
        raise ValueError(f"{name} contains NaN.")
    if not allow_inf and np.isinf(values).any():
        raise ValueError(f"{name} contains infinity; it must be finite.")
    return values


def as_1d(values, name):
    """A checked array as 1-D, a single column ``(n, 1)`` read as 1-D.

    scikit-learn reads a one-column ``y`` (``df[["target"]]``, a ``predict`` that keeps
    two dimensions) as one series; so does skqegm wherever it takes one series. Several
    columns are several series, and are refused.

    Parameters
    ----------
    values : ndarray
        The input, already checked (e.g. by :func:`check_real_array`).
    name : str
        The argument's name, used in error messages.

    Returns
    -------
    values : ndarray of shape (n_samples,)

    Raises
    ------
    ValueError
        If ``values`` is neither 1-D nor of shape ``(n_samples, 1)``.
    """
    if values.ndim == 2 and values.shape[1] == 1:
        return values[:, 0]
    if values.ndim == 1:
        return values
    if values.ndim == 2 and values.shape[0] == 1:
        hint = " It is a single row; pass the series as a 1-D array."
    elif values.ndim == 2:
        hint = f" It has {values.shape[1]} columns, several series; pass one."
    elif values.ndim == 0:
        hint = " It is a single number."
    else:
        hint = ""
    raise ValueError(f"{name} must be 1-D or a single column of shape (n_samples, 1); got "
                     f"shape {values.shape}.{hint}")


def holds_booleans(x):
    """Whether ``x`` is a boolean, or an array, list, Series or DataFrame of booleans.

    numpy and scikit-learn read ``True`` as 1.0: a flag array passed where numbers are
    due would be used silently. A DataFrame counts when any of its columns is boolean.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.utils._validation import holds_booleans
    >>> holds_booleans([True, False]), holds_booleans(np.array([1.0, 0.0]))
    (True, False)
    """
    if isinstance(x, (bool, np.bool_)):
        return True
    if not hasattr(x, "dtype") and hasattr(x, "dtypes"):  # a DataFrame: one dtype a column
        return any(getattr(dtype, "kind", None) == "b" for dtype in x.dtypes)
    if hasattr(x, "dtype"):
        kind = getattr(x.dtype, "kind", None)
        if kind == "O" and getattr(x, "size", 0) > 0:  # an object array of flags
            return all(isinstance(v, (bool, np.bool_)) for v in np.asarray(x).flat)
        return kind == "b"
    return (isinstance(x, (list, tuple)) and len(x) > 0
            and all(isinstance(v, (bool, np.bool_)) for v in x))


def check_not_booleans(x, name):
    """Refuse booleans (see :func:`holds_booleans`) where real numbers are due."""
    if holds_booleans(x):
        raise ValueError(f"{name} must hold real numbers; got booleans (flags, which would "
                         "be read as the values 0 and 1).")

def check_forecast(x, name, n_samples, against="y"):
    """``x`` as a float array of shape ``(n_samples,)``: a number is repeated.

    Parameters
    ----------
    x : float or array-like of shape (n_samples,) or (n_samples, 1)
        One forecast per observation (a single column is read as 1-D), or one for all.
    name : str
        The argument's name, used in error messages.
    n_samples : int
        The number of observations.
    against : str, default="y"
        The name of the observations, for the error message.

    Returns
    -------
    values : ndarray of shape (n_samples,), dtype float64

    Raises
    ------
    ValueError
        If ``x`` holds anything but finite real numbers (booleans included), or is
        neither a number nor of length ``n_samples``.
    """
    if holds_booleans(x):
        # A flag array passed where the forecast goes: True would be read as 1.0.
        raise ValueError(f"{name} must hold forecasts (real numbers); got booleans.")
    values = check_real_array(x, name)
    if values.ndim == 0:
        return np.full(n_samples, float(values))
    shape = values.shape  # as given, for the message
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.shape != (n_samples,):
        raise ValueError(f"{name} must be a number or have the shape of {against} "
                         f"({n_samples},) (or ({n_samples}, 1)); got {shape}.")
    return values


def check_sample_weight(sample_weight, n_samples, against="y"):
    """``sample_weight`` as weights of a mean over ``n_samples`` rows, or None.

    The checks of :func:`sklearn.utils.validation._check_sample_weight` (a number is
    repeated; otherwise one weight per row, finite, non-negative), plus at least one
    weight > 0, without which a weighted mean divides by zero. As in scikit-learn's
    metrics, weights stay 1-D: a column ``(n_samples, 1)`` is refused.

    Parameters
    ----------
    sample_weight : float, array-like of shape (n_samples,) or None
        The weights given by the user; None means equal weights.
    n_samples : int
        The number of rows the weights go with.
    against : str, default="y"
        The name of those rows, for the error message.

    Returns
    -------
    weights : ndarray of shape (n_samples,), dtype float64, or None
        The weights divided by the largest (a mean depends on their ratios alone), or
        None when ``sample_weight`` is None (the unweighted mean).

    Raises
    ------
    ValueError
        If the weights hold NaN, infinity or non-real values, are neither a number nor
        of shape ``(n_samples,)``, are negative somewhere or 0 everywhere.

    Examples
    --------
    >>> from skqegm.utils._validation import check_sample_weight
    >>> check_sample_weight([2, 4, 1], 3)
    array([0.5 , 1.  , 0.25])
    >>> check_sample_weight([1, -1], 2)
    Traceback (most recent call last):
        ...
    ValueError: sample_weight must be >= 0 with at least one weight > 0; got min -1.0, max 1.0.
    """
    if sample_weight is None:
        return None
    weights = check_real_array(sample_weight, "sample_weight")
    if weights.ndim == 0:
        weights = np.full(n_samples, float(weights))
    if weights.shape != (n_samples,):
        raise ValueError(f"sample_weight must be a number or have the shape of {against} "
                         f"({n_samples},); got {weights.shape}.")
    if np.any(weights < 0) or not np.any(weights > 0):
        raise ValueError("sample_weight must be >= 0 with at least one weight > 0; got "
                         f"min {float(weights.min())!r}, max {float(weights.max())!r}.")
    # A mean depends on the ratios of the weights alone: in units of the largest, their
    # sum neither overflows (weights near 1e308) nor loses precision (subnormal ones).
    return weights / weights.max()
