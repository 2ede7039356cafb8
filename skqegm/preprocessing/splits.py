"""The paper's 70 / 15 / 15 train / validation / test split."""

import itertools
import numbers

import numpy as np
from sklearn.model_selection import train_test_split

from ..utils._time_order import check_time_order
from ..utils._validation import check_random_state, count_rows


def _check_sizes(sizes):
    message = f"sizes must be three fractions in (0, 1) that sum to 1; got {sizes!r}."
    try:
        sizes = tuple(sizes)
    except TypeError:
        raise ValueError(message) from None
    valid = len(sizes) == 3 and all(
        isinstance(s, numbers.Real) and not isinstance(s, bool) and 0 < s < 1 for s in sizes
    )
    if not valid or not np.isclose(sum(sizes), 1.0, rtol=0, atol=1e-8):
        raise ValueError(message)
    return sizes


def _split_counts(n_samples, sizes):
    n_val = int(round(n_samples * sizes[1]))
    n_test = int(round(n_samples * sizes[2]))
    n_train = n_samples - n_val - n_test
    if min(n_train, n_val, n_test) < 1:
        raise ValueError(
            f"{n_samples} rows are too few for sizes={sizes!r}: the split would give "
            f"{n_train} / {n_val} / {n_test} rows; every part needs at least one."
        )
    return n_train, n_val, n_test


def _check_stratify(stratify, shuffle):
    if stratify is None:
        return
    if not shuffle:
        raise ValueError("stratify needs shuffle=True: a chronological split cannot stratify.")
    labels = np.asarray(stratify)
    if labels.dtype.kind == "f" and np.isnan(labels).any():
        raise ValueError("stratify contains NaN: every row needs a class label.")
    try:
        _, counts = np.unique(labels, return_counts=True, axis=0)
    except TypeError:  # None or pandas.NA among the labels, or labels of mixed types
        raise ValueError("stratify must hold class labels of one comparable type, with none "
                         "missing (no None or NA among them).") from None
    if counts.min() < 3:
        raise ValueError(
            "stratify: the least populated class has only "
            f"{counts.min()} member(s); a stratified three-way split needs at least 3."
        )


def _classes(labels):
    """The distinct classes of ``labels`` and their counts (rows of a 2-D array are classes)."""
    labels = np.asarray(labels)
    return np.unique(labels, return_counts=True, axis=0 if labels.ndim > 1 else None)


def _check_parts_hold_every_class(stratify, n_val, n_test):
    """Refuse parts too small to hold a member of every class (before splitting)."""
    n_classes = len(_classes(stratify)[0])
    if min(n_val, n_test) < n_classes:
        raise ValueError(
            f"stratify has {n_classes} classes, more than the {min(n_val, n_test)} rows of "
            f"the smallest part ({n_val} validation and {n_test} test rows): a stratified "
            "split needs a member of every class in every part. Pass more rows or larger "
            "validation and test sizes."
        )


# First-split tie-breaks listed by _fewest_per_part before it falls back to bounds.
_MAX_OUTCOMES = 10_000


def _shares(counts, n_draws):
    """scikit-learn's stratified allocation before its tie-break (``_approximate_mode``,
    the same float operations): the floors of the shares, the rows left to add, and the
    remainders that decide which classes get them."""
    continuous = counts / counts.sum() * n_draws
    floored = np.floor(continuous)
    return floored, int(n_draws - floored.sum()), continuous - floored


def _allocation_range(counts, n_draws):
    """The fewest and most rows each class can get of ``n_draws``, over every tie-break.

    scikit-learn (``StratifiedShuffleSplit``, through ``train_test_split``) gives each
    class the floor of its share, then one row more to the classes with the largest
    remainders; only a tie between equal remainders is broken at random.
    """
    low, need, remainder = _shares(counts, n_draws)
    high = low.copy()
    for value in np.sort(np.unique(remainder))[::-1] if need > 0 else ():
        (tied,) = np.where(remainder == value)
        high[tied] += 1
        if len(tied) > need:  # any `need` of them: the random tie-break
            break
        low[tied] += 1
        need -= len(tied)
        if need == 0:
            break
    return low, high


def _allocations(counts, n_draws):
    """Every allocation scikit-learn can make, up to swapping classes of equal counts
    (which the check treats alike), or ``None`` beyond ``_MAX_OUTCOMES``."""
    floored, need, remainder = _shares(counts, n_draws)
    for value in np.sort(np.unique(remainder))[::-1] if need > 0 else ():
        (tied,) = np.where(remainder == value)
        if len(tied) > need:
            # Which of the tied get a row, as how many of each count: the rest is symmetry.
            groups = [tied[counts[tied] == c] for c in np.unique(counts[tied])]
            splits = [m for m in itertools.product(*(range(len(g) + 1) for g in groups))
                      if sum(m) == need]
            if len(splits) > _MAX_OUTCOMES:
                return None
            outcomes = []
            for split in splits:
                outcome = floored.copy()
                for group, m in zip(groups, split, strict=True):
                    outcome[group[:m]] += 1
                outcomes.append(outcome)
            return outcomes
        floored[tied] += 1
        need -= len(tied)
        if need == 0:
            break
    return [floored]


def _fewest_per_part(counts, n_train, n_val, n_test):
    """The fewest rows each class can get in the training, validation and test parts,
    shape ``(3, n_classes)``, over every tie-break of the two stratified splits.

    The first split keeps ``rest`` of each class for training and validation (its test
    part is the others); the second takes ``n_train`` of ``rest``. The second split's
    range is exact for each class given ``rest``; ``rest`` is listed exactly where its
    tie-breaks are few enough, else taken at its bounds for each class (which may refuse
    counts that no seed would leave out).
    """
    n_rest = int(counts.sum()) - n_test
    rests = _allocations(counts, n_rest)
    if rests is None:
        rest_low, rest_high = _allocation_range(counts, n_rest)
        train_low = _allocation_range(rest_low, n_train)[0]
        train_high = _allocation_range(rest_high, n_train)[1]
        return np.stack([train_low, rest_low - train_high, counts - rest_high])
    fewest = []
    for rest in rests:
        train_low, train_high = _allocation_range(rest, n_train)
        fewest.append([train_low, rest - train_high, counts - rest])
    return np.min(np.array(fewest), axis=0)


def _check_every_class_can_fill_every_part(stratify, n_train, n_val, n_test, sizes):
    """Refuse, before splitting and whatever ``random_state``, class counts that some
    shuffle leaves out of a part.

    Each part takes a class's members in proportion to its size, rounded: a class of
    3 rows in 100 has 0.45 expected in a test part of 15% and gets none, although 3
    members pass the check of :func:`_check_stratify`. Which of several classes with
    equal remainders gets the extra row is drawn from ``random_state``, so a split
    was refused for some seeds and not for others; now the counts alone decide.
    """
    classes, counts = _classes(stratify)
    fewest = _fewest_per_part(counts, n_train, n_val, n_test)
    for part, row, size, rows in zip(("training", "validation", "test"), fewest, sizes,
                                     (n_train, n_val, n_test), strict=True):
        empty = np.flatnonzero(row < 1)
        if len(empty):
            k = empty[0]
            raise ValueError(
                f"stratify: class {classes[k].tolist()!r} ({counts[k]} members) can get no "
                f"member in the {part} part ({rows} rows, sizes={sizes!r}): each part "
                f"takes its share of a class, rounded, and {counts[k]} x {size:g} = "
                f"{counts[k] * size:.3g}; where classes tie for a last row, random_state "
                "picks which gets it, so the split is refused for every random_state. A "
                "stratified split needs every class in every part: pass more rows of "
                "that class or larger part sizes."
            )


def _check_every_class_in_every_part(stratify, parts, sizes):
    """Refuse a split that leaves a class out of a part.

    Each part takes a class's members in proportion to its size, rounded: a class of
    3 rows in 100 has 0.45 expected in a test part of 15% and gets none, although 3
    members pass the check of :func:`_check_stratify`.
    """
    classes, counts = _classes(stratify)
    for part, labels, size in zip(("training", "validation", "test"), parts, sizes,
                                  strict=True):
        held = _classes(labels)[0]
        if len(held) == len(classes):  # a part holds a subset of the classes
            continue
        held = {tuple(np.atleast_1d(label).tolist()) for label in held}
        missing = [k for k, label in enumerate(classes)
                   if tuple(np.atleast_1d(label).tolist()) not in held]
        if missing:
            k = missing[0]
            raise ValueError(
                f"stratify: class {classes[k].tolist()!r} ({counts[k]} members) gets no member in "
                f"the {part} part ({len(labels)} rows, sizes={sizes!r}): each part takes "
                f"its share of a class, rounded, and {counts[k]} x {size:g} = "
                f"{counts[k] * size:.3g}. A stratified split needs every class in every "
                "part: pass more rows of that class or larger part sizes."
            )


def train_val_test_split(X, y=None, *, sizes=(0.7, 0.15, 0.15), stratify=None, shuffle=True,
                         random_state=None):
    """Split data into training, validation and test sets (70 / 15 / 15 by default).

    Counts are ``round(n * sizes[1])`` validation and ``round(n * sizes[2])`` test rows,
    the rest for training, with Python's ``round``: a half goes to the even neighbour,
    so 30 rows give 4 validation and 4 test rows (``30 * 0.15 = 4.5``) and 50 rows give
    8 and 8 (``7.5``), where scikit-learn's ``train_test_split(test_size=0.15)`` takes
    the ceiling (5 test rows of 30, 8 of 50). The rule is kept as it is: benchmarks
    and saved results depend on these counts. With ``stratify`` (e.g. the 0/1 rare
    labels) each part keeps the class proportions, so the rare rate is preserved; with
    ``shuffle=False`` the parts are consecutive blocks in the original order (for time
    series: train on the past, validate and test on the future).

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, ...)
        Features.
    y : array-like or Series of shape (n_samples,), default=None
        Targets or labels; ``None`` for unsupervised data.
    sizes : tuple of three floats, default=(0.7, 0.15, 0.15)
        Fractions for train, validation and test; each in (0, 1), summing to 1.
    stratify : array-like of shape (n_samples,), default=None
        Class labels to stratify on; requires ``shuffle=True``. Each part takes its
        share of every class, rounded, and a split that can leave a class out of a part
        is refused: every class needs at least 3 members, and as many as give each part
        about one (a class of 3 in 100 rows has 0.45 expected in a 15% part, and gets
        none). The refusal depends on the class counts and ``sizes`` alone, as
        scikit-learn's own refusals do: where classes tie for a last row and
        ``random_state`` would pick which gets it, counts that some pick leaves
        without a member are refused for every seed (classes of 10, 4 and 7 rows).
    shuffle : bool, default=True
        Shuffle before splitting; ``False`` keeps chronological order: the rows must be
        in time order, and a pandas ``X`` or ``y`` indexed by dates (or ISO date
        strings) whose dates decrease somewhere is refused (repeated dates, as in a
        panel, pass; a MultiIndex panel must be sorted by its date level).
    random_state : int, RandomState instance or None, default=None
        Seed of the shuffles; an int gives reproducible splits.

    Returns
    -------
    X_train, X_val, X_test : same kind as ``X``
        The three parts of ``X``.
    y_train, y_val, y_test : same kind as ``y``, or None
        The matching parts of ``y``; all ``None`` when ``y`` is ``None``.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.preprocessing import train_val_test_split
    >>> X = np.arange(20).reshape(-1, 1)
    >>> y = (np.arange(20) % 5 == 0).astype(int)
    >>> X_tr, X_va, X_te, y_tr, y_va, y_te = train_val_test_split(
    ...     X, y, stratify=y, random_state=0)
    >>> len(X_tr), len(X_va), len(X_te)
    (14, 3, 3)
    >>> int(y_tr.sum()), int(y_va.sum()), int(y_te.sum())
    (2, 1, 1)
    >>> parts = train_val_test_split(X, shuffle=False)
    >>> parts[2].ravel()
    array([17, 18, 19])
    >>> [len(part) for part in train_val_test_split(np.arange(30), shuffle=False)[:3]]
    [22, 4, 4]
    >>> parts[3] is None
    True
    """
    sizes = _check_sizes(sizes)
    for name, value in (("y", y), ("stratify", stratify)):
        # A str is a sequence to scikit-learn (y="label" was 5 samples) and a scalar
        # failed in numpy.
        if value is not None and (isinstance(value, (str, bytes)) or np.ndim(value) == 0):
            raise ValueError(f"{name} must be an array-like with one entry per row of X; got "
                             f"{value!r} (a column name? pass X[{value!r}]).")
    if not isinstance(shuffle, (bool, np.bool_)):
        raise ValueError(f"shuffle must be True or False; got {shuffle!r}.")
    _check_stratify(stratify, shuffle)
    if not shuffle:
        # The parts are consecutive blocks, the last ones the "future": rows newest
        # first would train on the future and test on the past.
        check_time_order(X, "X", strict=False)
        check_time_order(y, "y", strict=False)
    n_train, n_val, n_test = _split_counts(count_rows(X), sizes)
    if stratify is not None:
        _check_parts_hold_every_class(stratify, n_val, n_test)
        _check_every_class_can_fill_every_part(stratify, n_train, n_val, n_test, sizes)
    rng = check_random_state(random_state) if shuffle else None
    arrays = [X] + ([y] if y is not None else []) + ([stratify] if stratify is not None else [])
    parts = train_test_split(*arrays, test_size=n_test, shuffle=shuffle, random_state=rng,
                             stratify=stratify)
    rest, test = parts[0::2], parts[1::2]
    parts = train_test_split(*rest, test_size=n_val, shuffle=shuffle, random_state=rng,
                             stratify=rest[-1] if stratify is not None else None)
    train, val = parts[0::2], parts[1::2]
    if stratify is not None:  # the last array split is stratify
        _check_every_class_in_every_part(stratify, (train[-1], val[-1], test[-1]), sizes)
    if y is None:
        return train[0], val[0], test[0], None, None, None
    return train[0], val[0], test[0], train[1], val[1], test[1]
