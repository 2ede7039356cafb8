"""Real network-intrusion data that works offline: a KDD Cup 1999 subsample with rare attacks.

The shipped file ``data/kddcup99_intrusion_subsample.csv.gz`` is rebuilt from the 10%
KDD Cup 1999 file by ``benchmarks/data/build_intrusion_subsample.py``, which runs::

    frame = make_intrusion_subsample("kddcup.data_10_percent.gz")  # the defaults
    text = frame.to_csv(index=False, lineterminator="\\n")
    # written with gzip, mtime=0
"""

import gzip
import io
import os
from importlib import resources

import numpy as np

from ..utils._memory import check_memory, format_bytes
from ..utils._validation import check_int, check_option, check_random_state, check_real
from ._lines import count_lines

_SUBSAMPLE_FILE = "kddcup99_intrusion_subsample.csv.gz"
_NORMAL = "normal."
_LABEL = "labels"

# The 41 features in file order, named and typed as in scikit-learn's fetch_kddcup99
# (sklearn/datasets/_kddcup99.py); ``str`` marks the 3 categorical columns.
_FEATURES = (
    ("duration", int), ("protocol_type", str), ("service", str), ("flag", str),
    ("src_bytes", int), ("dst_bytes", int), ("land", int), ("wrong_fragment", int),
    ("urgent", int), ("hot", int), ("num_failed_logins", int), ("logged_in", int),
    ("num_compromised", int), ("root_shell", int), ("su_attempted", int),
    ("num_root", int), ("num_file_creations", int), ("num_shells", int),
    ("num_access_files", int), ("num_outbound_cmds", int), ("is_host_login", int),
    ("is_guest_login", int), ("count", int), ("srv_count", int), ("serror_rate", float),
    ("srv_serror_rate", float), ("rerror_rate", float), ("srv_rerror_rate", float),
    ("same_srv_rate", float), ("diff_srv_rate", float), ("srv_diff_host_rate", float),
    ("dst_host_count", int), ("dst_host_srv_count", int),
    ("dst_host_same_srv_rate", float), ("dst_host_diff_srv_rate", float),
    ("dst_host_same_src_port_rate", float), ("dst_host_srv_diff_host_rate", float),
    ("dst_host_serror_rate", float), ("dst_host_srv_serror_rate", float),
    ("dst_host_rerror_rate", float), ("dst_host_srv_rerror_rate", float),
)
_DTYPES = {int: np.int64, float: np.float64}
# Reading a KDD file as text holds 42 cells a record, each at most a str object of its own
# (49 bytes and its text, rounded up to 8 by the allocator) and two pointers to it (in
# pandas' column and in the array it is copied into): at most RECORD_BYTES = 42 * 72 bytes
# a record and the text itself. pandas shares repeated cells, so files of repeated values
# take less: 695 bytes a record for the 10% file, 4.6 times less than the bound (tracemalloc;
# records of distinct 16-digit cells: 1.15 times less). Counting
# the records is exact (the lines of the text): a mean line length sampled from the
# start of a file undercounted one whose first lines are long.
RECORD_BYTES = 42 * 72


def _pandas(what):
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError(f"{what} needs pandas: pip install skqegm[data]  "
                          "(or: pip install pandas)") from exc
    return pd


def _as_text(values):
    # fetch_kddcup99 gives bytes (b"tcp"); the file read as text gives str.
    return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values],
                    dtype=object)


def _typed_columns(raw, rows):
    """Each of the 41 columns of ``raw`` (rows of str or of sklearn's values), typed.

    ``rows`` are the records' positions in the file, for the line of a bad cell.
    """
    columns = {}
    for j, (name, kind) in enumerate(_FEATURES):
        if kind is str:
            columns[name] = _as_text(raw[:, j])
            continue
        try:
            # numpy converts str with Python's int / float: the same values as sklearn's.
            columns[name] = raw[:, j].astype(_DTYPES[kind])
        except (TypeError, ValueError):
            i = next(i for i, cell in enumerate(raw[:, j]) if not _is_number(cell, kind))
            raise ValueError(_bad_cell(rows[i] + 1, raw[i, j], name)) from None
    return columns


def _is_number(cell, kind):
    try:
        kind(cell)
    except (TypeError, ValueError):
        return False
    return True


def _bad_cell(line, cell, name):
    return f"line {line} of data holds {cell!r} in column {name!r}, not a number"


def _text_size(path):
    """``(bytes of text, lines)`` of a plain or gzipped file, counted in one pass.

    ``\n``, ``\r`` and ``\r\n`` end a line, as pandas reads them (``count_lines``).
    """
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as text:
        return count_lines(iter(lambda: text.read(2**20), b""))


def _check_read_memory(path):
    """Refuse a file whose records would not fit in memory, before reading it."""
    if not os.path.isfile(path):
        return  # read_csv names what is missing
    size, n_records = _text_size(path)
    check_memory(n_records * RECORD_BYTES + size,  # an upper bound of the peak
                 f"make_intrusion_subsample reading {os.fspath(path)} ({n_records:,} "
                 f"records, {format_bytes(size)} of text)",
                 "use the 10% file, kddcup.data_10_percent.gz (494,021 records), or a part "
                 "of the file.")


def _read_full(data):
    """The 41 raw feature columns and the labels of the full 10% file."""
    if data is None:
        from sklearn.datasets import fetch_kddcup99

        bunch = fetch_kddcup99(percent10=True)
        return np.asarray(bunch.data, dtype=object), _as_text(bunch.target)
    if not isinstance(data, (str, os.PathLike)) and not hasattr(data, "read"):
        raise ValueError("data must be None (download with sklearn.datasets.fetch_kddcup99), "
                         "the path to kddcup.data_10_percent.gz or a file object; got "
                         f"{type(data).__name__}.")
    pd = _pandas("make_intrusion_subsample")
    if not hasattr(data, "read"):
        _check_read_memory(data)
    # Read as text: only the selected rows are converted, as fetch_kddcup99 converts them.
    raw = pd.read_csv(data, header=None, dtype=str, keep_default_na=False).to_numpy(object)
    if raw.shape[1] != len(_FEATURES) + 1:
        raise ValueError(f"data must have {len(_FEATURES) + 1} comma-separated columns (41 "
                         f"features and the label); {data!r} has {raw.shape[1]}.")
    # A header row would be one more "attack" record (its label is not "normal."),
    # changing the draw or failing when drawn.
    if raw.shape[0] and not _is_number(raw[0, 0], int):
        raise ValueError(f"{_bad_cell(1, raw[0, 0], _FEATURES[0][0])}: a header row? The "
                         "KDD Cup file has none; remove it.")
    return raw[:, :-1], raw[:, -1]


def _draw(pool, size, name, kind, rng):
    if size > pool.shape[0]:
        raise ValueError(f"{name} asks for {size} {kind} records; the file has "
                         f"{pool.shape[0]}.")
    return rng.choice(pool, size, replace=False)


def make_intrusion_subsample(data=None, *, n_normal=19_700, attack_rate=0.015, random_state=0):
    """Rebuild the KDD Cup 1999 subsample that :func:`load_intrusion` ships.

    From the 10% KDD Cup 1999 file (494,021 connection records, 80% of them attacks),
    draw ``n_normal`` normal records and ``round(n_normal * attack_rate / (1 -
    attack_rate))`` attack records, each uniformly at random without replacement from
    its own pool (a plain random draw: the attack types keep their shares of the file, so
    smurf and neptune dominate), and keep the drawn records in file order. Attacks then
    make up ``attack_rate`` of the rows, the paper's rare class (< 2%); scikit-learn's
    ``fetch_kddcup99(subset="SA")`` builds the same kind of subset (every normal record
    and 3,377 attacks drawn with replacement). With the defaults the result is 20,000
    records with 300 attacks (1.5%): written with
    ``frame.to_csv(index=False, lineterminator="\\n")`` and gzipped it is the shipped
    file, byte for byte once decompressed.

    Parameters
    ----------
    data : None, str, path-like or file object, default=None
        ``None`` downloads the file with ``sklearn.datasets.fetch_kddcup99(percent10=True)``
        (or reads its cache); a path reads a local copy of ``kddcup.data_10_percent.gz``
        (comma separated, no header, gzipped or not), which gives the same result; a file
        object is read as that text. A path is refused with a ``MemoryLimitError`` when
        its records might not fit in memory, before it is read (its lines are counted
        first, 0.6 s for the 10% file): reading takes at most ``RECORD_BYTES`` = 3,024
        bytes a record and the text (1.5 GiB for the 10% file, whose repeated values
        take 0.32 GiB; 14.5 GiB for the 4,898,431 records of the full ``kddcup.data.gz``);
        a file object is not estimated.
    n_normal : int, default=19_700
        Number of normal records, >= 1 (the file has 97,278).
    attack_rate : float, default=0.015
        Share of attacks among the drawn records, in (0, 1).
    random_state : int, RandomState instance or None, default=0
        Seed of the draw; the shipped file uses 0.

    Returns
    -------
    frame : pandas.DataFrame of shape (n_records, 42)
        The 41 features, named and typed as in ``fetch_kddcup99`` (int64 and float64;
        ``protocol_type``, ``service`` and ``flag`` as str), then ``"labels"``: the
        source's label, ``"normal."`` or the attack type (such as ``"smurf."``).

    Examples
    --------
    A tiny file in the format of the KDD Cup file (41 features and the label):

    >>> import io
    >>> from skqegm.datasets import make_intrusion_subsample
    >>> row = "0,tcp,http,SF," + ",".join(["0"] * 37) + ",{}\\n"
    >>> kdd = io.StringIO(row.format("normal.") * 98 + row.format("smurf.") * 50)
    >>> frame = make_intrusion_subsample(kdd, n_normal=49, attack_rate=0.02)
    >>> frame.shape, frame["labels"].value_counts().to_dict()
    ((50, 42), {'normal.': 49, 'smurf.': 1})
    >>> frame[["protocol_type", "service", "flag"]].iloc[0].tolist()
    ['tcp', 'http', 'SF']
    """
    n_normal = check_int(n_normal, "n_normal", min_value=1)
    attack_rate = check_real(attack_rate, "attack_rate", low=0.0, high=1.0, low_open=True,
                             high_open=True)
    rng = check_random_state(random_state)
    pd = _pandas("make_intrusion_subsample")
    features, labels = _read_full(data)
    is_normal = labels == _NORMAL
    n_attack = round(n_normal * attack_rate / (1.0 - attack_rate))
    if n_attack == 0:
        raise ValueError(f"n_normal={n_normal} and attack_rate={attack_rate} give 0 attack "
                         "records; raise n_normal or attack_rate.")
    rows = np.sort(np.concatenate([
        _draw(np.flatnonzero(is_normal), n_normal, "n_normal", "normal", rng),
        _draw(np.flatnonzero(~is_normal), n_attack, "attack_rate", "attack", rng),
    ]))
    frame = pd.DataFrame(_typed_columns(features[rows], rows))
    frame[_LABEL] = labels[rows]
    return frame


def _read_subsample():
    """The shipped file as typed columns and the 0/1 attack flags (numpy only)."""
    package = resources.files("skqegm.datasets")
    with package.joinpath("data", _SUBSAMPLE_FILE).open("rb") as raw:
        with gzip.open(raw, "rt") as text:
            content = text.read()
    numeric = [j for j, (_, kind) in enumerate(_FEATURES) if kind is not str]
    text_columns = [j for j, (_, kind) in enumerate(_FEATURES) if kind is str]
    # numpy's C parser is 5x faster than csv + per-column conversion; ints are read as
    # float64, exact for these counts (all far below 2**53).
    values = np.loadtxt(io.StringIO(content), delimiter=",", skiprows=1, usecols=numeric)
    words = np.loadtxt(io.StringIO(content), delimiter=",", skiprows=1, dtype=str,
                       usecols=text_columns + [len(_FEATURES)])
    columns = dict.fromkeys(name for name, _ in _FEATURES)
    for k, j in enumerate(numeric):
        name, kind = _FEATURES[j]
        columns[name] = values[:, k].astype(_DTYPES[kind])
    for k, j in enumerate(text_columns):
        columns[_FEATURES[j][0]] = words[:, k].astype(object)
    return columns, (words[:, -1] != _NORMAL).astype(np.int64)


def load_intrusion(*, as_frame=False):
    """KDD Cup 1999 network connections with attacks as a rare class (1.5%): 20,000 records.

    The paper's cybersecurity domain: normal traffic plus attacks as a rare class under
    2%, 41 features of which 3 are categorical (``protocol_type``, ``service``,
    ``flag``; one-hot encode them and standardise the rest, eq. 10, as
    ``make_tail_pipeline(..., kind="intrusion")`` does). The records are a random subsample
    of the 10% KDD Cup 1999 file (the one that ``sklearn.datasets.fetch_kddcup99`` loads):
    19,700 normal records and 300 attacks, each drawn at random without replacement from
    its pool, in file order; :func:`make_intrusion_subsample` rebuilds it exactly. It is
    stored inside skqegm, so nothing is downloaded.

    Data: the KDD Cup 1999 data (UCI KDD Archive,
    https://kdd.ics.uci.edu/databases/kddcup99/kddcup99.html), built by MIT Lincoln
    Laboratory for the 1998 DARPA intrusion detection evaluation; the 10% file is the
    one that scikit-learn downloads.

    Parameters
    ----------
    as_frame : bool, default=False
        If True, return a DataFrame and a Series (needs pandas).

    Returns
    -------
    X : ndarray of shape (20000, 41), dtype object, or pandas.DataFrame
        The features in the column order and names of ``fetch_kddcup99``. The array holds
        Python ints, floats and, in columns 1, 2 and 3, str (where ``fetch_kddcup99``
        holds bytes): pass ``categorical_features=[1, 2, 3]`` to
        ``make_tail_pipeline``. The DataFrame has int64 / float64 columns and the three
        categorical ones as ``category``.
    y : ndarray of shape (20000,), dtype int64, or pandas.Series
        1 for an attack, 0 for a normal record (the Series is named ``"attack"``).

    See Also
    --------
    make_intrusion_subsample : how the records were drawn from the full file.

    Examples
    --------
    >>> from skqegm.datasets import load_intrusion
    >>> X, y = load_intrusion()
    >>> X.shape, int(y.sum()), float(y.mean())
    ((20000, 41), 300, 0.015)
    >>> X[0, :4].tolist()
    [0, 'tcp', 'http', 'SF']
    >>> X, y = load_intrusion(as_frame=True)
    >>> X.select_dtypes("category").columns.tolist()
    ['protocol_type', 'service', 'flag']
    """
    check_option(as_frame, "as_frame", (False, True))
    columns, y = _read_subsample()
    if not as_frame:
        X = np.empty((y.shape[0], len(_FEATURES)), dtype=object)
        for j, values in enumerate(columns.values()):
            X[:, j] = values
        return X, y
    pd = _pandas("as_frame=True")
    frame = pd.DataFrame({name: pd.Categorical(values) if kind is str else values
                          for (name, kind), values in zip(_FEATURES, columns.values())})
    return frame, pd.Series(y, name="attack")
