"""A user's price or return series from a CSV file, read as a spreadsheet user expects.

:func:`load_csv_series` reads and checks the file before anything is fitted, so that a
bad file costs one clear error naming the file and the line of the first bad row. It is
the reader of the main job (``python -m skqegm --csv FILE``) and of
``benchmarks/bench_tail_risk.py --csv FILE``, whose ``--kind`` is its ``kind``; the rules
are in its docstring.
"""

import codecs
import csv
import os
import re
import warnings
from datetime import datetime
from typing import NamedTuple

import numpy as np

from ..utils._memory import check_memory
from ..utils._warnings import caller_stacklevel
from ._lines import count_lines

KINDS = ("auto", "prices", "returns")
MISSING = ("raise", "drop")
DECIMALS = (None, ".", ",")
#: Cells that stand for "no value" in common exports (FRED writes ".", spreadsheets
#: "#N/A", pandas "NaN"), compared without surrounding space and case.
MISSING_MARKERS = frozenset({"", ".", "-", "na", "n/a", "#n/a", "nan", "null", "none"})
DATE_COLUMNS = ("date", "datetime", "timestamp")
SEPARATORS = ",;\t|"
# kind="auto". Prices are levels that persist: the median |log change| between adjacent
# positive values stays below MAX_PRICE_MOVE (a 65% move), where iid returns move by about
# 100%. Returns are centred near 0: at least MIN_SIGN_SHARE of them on each side of 0, and
# their median within one median absolute deviation of 0.
MAX_PRICE_MOVE = 0.5
MIN_SIGN_SHARE = 0.1
# Yields and interest rates are positive, persistent levels too: kind="auto" cannot tell
# them from prices by their values (US 10-year yields of 0.5 to 7 move like a price of 0.5
# to 7). A column named like one is refused under kind="auto": "yield" (or "yld", "ytm")
# in its name, or a FRED series of yields and rates, as FRED's CSV files name their column
# (DGS10: 10-year Treasury; DTB3, TB3MS: bills; DFII10: TIPS; T10Y2Y, T10Y3M: spreads;
# T10YIE: breakeven inflation; DFF, FEDFUNDS, EFFR, SOFR, DPRIME: policy and money
# rates; MORTGAGE30US; DAAA, DBAA: corporate). Not "rate": an exchange rate is a price.
YIELD_NAME = re.compile(
    r"(?i:.*(yield|(?<![a-z])(yld|ytm)(?![a-z])).*)"
    r"|DGS\d+(MO)?|DTB\d+(WK|MO|YR)?|TB\d+MS|GS\d+M?|DFII\d+|T\d+Y(\d+[YM]|IE|IFR)"
    r"|DFF|FEDFUNDS|EFFR|SOFR\d*|DPRIME|IORB|IOER|MORTGAGE\d+US|DAAA|DBAA"
)
# Positive persistent levels that all lie in (0, YIELD_LIKE_MAX] may be yields or interest
# rates in percent (US 10-year: 0.5 to 16, the Fed funds rate: up to 22) as well as prices
# (a $10 stock, an exchange rate): kind="auto" takes them for prices, with a warning that
# starts with AMBIGUOUS_PRICES and says how to choose. The S&P 500 (above 600) is beyond.
YIELD_LIKE_MAX = 25.0
AMBIGUOUS_PRICES = "kind='auto' took column"
# Returns are not persistent: a lag-1 autocorrelation above this (the S&P 500's daily
# returns: -0.07; a random walk: 1.0) makes the note of kind="auto" ask whether the
# column is a level crossing 0 (a spread, a real yield). Only a note: overlapping
# returns (a 21-day return every day) reach 0.95.
PERSISTENT_RETURNS = 0.9
# Prices persist: over MIN_PERSISTENCE_ROWS values or more, the lag-1 autocorrelation of
# random-walk prices was above 0.85 in 20,000 simulations of 100 to 1,000 days (t4 daily
# moves of 1%); that of gross returns or price relatives (1 + r, p[t] / p[t-1]), which
# move little between rows too, stayed below 0.16 (0.5 is reached by 0.2% of random
# walks of 50 days, 52% of 10). Such a column is refused under kind="auto" below
# MIN_PRICE_PERSISTENCE: its log changes, r[t] - r[t-1], are no returns.
MIN_PRICE_PERSISTENCE, MIN_PERSISTENCE_ROWS = 0.5, 100
# Reading holds the cells of the series' column and of the date column as Python strings
# (CELL_BYTES = 60 bytes each and their characters), each row as a tuple with its line
# number, and the arrays made of them (ROW_BYTES = 140 bytes a row). Before the rows are
# read, cells of CELL_CHARS = 16 characters are assumed (a date has 10, a price such as
# 4005.81 has 7); after FIRST_CHECK rows, and every CHECK_ROWS rows after, the lines left
# are estimated from the characters of the cells read so far and checked against the
# memory left. Measured with tracemalloc on files of 20,000 rows of 2 to 30 columns and
# cells of 10 to 1,000 characters, that estimate is 0.90 to 1.11 times the peak (the
# least for cells padded with spaces, whose stripped copies are not counted).
ROW_BYTES, CELL_BYTES, CELL_CHARS = 140, 60, 16
FIRST_CHECK, CHECK_ROWS = 1024, 2**16
# A date and time followed by a time zone (yfinance writes 2020-01-02 00:00:00-05:00).
_ZONE = re.compile(r".+?\d(Z|[+-]\d{2}:?\d{2})", re.ASCII)
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?", re.ASCII)
# Dates in the formats that are not read (01/02/2020, 2.1.2020, 02-Jan-2020, Jan 2, 2020),
# optionally with a time, and column names with the word "date" (Dates, TradeDate): a
# date column where none is found, whose file order may not be the time order.
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_OTHER_DATE = re.compile(
    rf"(?:\d{{1,4}}[/.-]\d{{1,2}}[/.-]\d{{1,4}}|\d{{1,2}}[ /.-]?{_MONTH}[ /.,-]*\d{{2,4}}"
    rf"|{_MONTH} \d{{1,2}},? \d{{2,4}})(?:[ T].*)?", re.ASCII | re.IGNORECASE)
_DATE_NAME = re.compile(r"(?<![a-z])dates?(?![a-z])", re.ASCII)


# -- reading the CSV --------------------------------------------------------------------------
class _Table(NamedTuple):
    """The cells of a CSV file that a series needs, each row with the line it starts on.

    Only the series' column and the date column are held: a wide file takes 5 to 10
    times less memory than with every cell.
    """

    path: str
    separator: str
    header: list
    rows: list  # of (line, value cell, date cell or None); no row without a value if dropped
    date_index: "int | None"  # of the date column found (by name or by its first cell)
    dropped: "str | None"  # the note on the rows dropped by missing="drop"
    # (index, cell, line) of a column that looks like dates in another format, where no
    # date column was found: refused, the file's order may not be the time order
    unread_dates: "tuple | None" = None


def _check_path(path):
    # open() takes an int as a file descriptor (0 reads standard input) and fails on None
    # with a TypeError.
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"path must be a str or path-like; got {type(path).__name__} "
                         f"{path!r}.")


def _open_text(path, newline):
    # utf-8-sig drops the byte-order mark that Excel writes, which would otherwise become
    # part of the first column's name.
    return open(path, encoding="utf-8-sig", newline=newline)


def _count_lines(path):
    """The lines of a file, counted in its bytes as ``csv`` splits them (``count_lines``)."""
    with open(path, "rb") as handle:
        return count_lines(iter(lambda: handle.read(2**16), b""))[1]


def _not_utf8(path):
    """What makes a file that is not UTF-8 unreadable, for the error message."""
    hint = _encoding_hint(path)
    if hint:
        return hint
    decoder, offset = codecs.getincrementaldecoder("utf-8")(), 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(2**20), b""):
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return f"{exc.reason} at byte {offset - pending + exc.start}"
            offset += len(chunk)
    return "a truncated character at the end"


def _encoding_hint(path):
    """What the first bytes of a file that is not UTF-8 say it is, else ``None``."""
    with open(path, "rb") as handle:
        start = handle.read(2)
    if start == b"\x1f\x8b":
        return "it is compressed with gzip: decompress it first"
    if start in (b"\xff\xfe", b"\xfe\xff"):
        return "it is UTF-16 (Excel's 'Unicode text'): save it as CSV UTF-8"
    return None


def _sniff_separator(header_line):
    """The separator of a header line among ``SEPARATORS``; ``,`` for a single column."""
    try:
        return csv.Sniffer().sniff(header_line, delimiters=SEPARATORS).delimiter
    except csv.Error:  # one column: nothing to separate
        return ","


def _clean_name(name):
    """A header name without surrounding whitespace and stray quotes."""
    return name.strip().strip("\"'").strip()


def _read_table(path, column, date_column, missing):
    """The :class:`_Table` of the cells the series needs; ragged rows are refused.

    A column that is not in the file is refused by the caller, after the whole file is
    read: a broken row comes first, as when every cell was held.
    """
    _check_path(path)
    try:
        n_lines = _count_lines(path)
        return _read_rows(path, column, date_column, missing, n_lines)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"cannot read {path} as UTF-8 text: {_not_utf8(path)}.") from None


def _header_line(path):
    """The first non-blank line, without its line ending, or a ValueError."""
    with _open_text(path, None) as handle:
        line = next((line for line in handle if line.strip()), None)
    if line is None:
        raise ValueError(f"{path} is empty.")
    return line.rstrip("\n")


def _index_or_none(header, path, name, what):
    try:
        return _column_index(header, path, name, what)
    except ValueError:  # said once the file is read
        return None


def _read_rows(path, column, date_column, missing, n_lines):
    header_line = _header_line(path)
    # Excel's "sep=;" first line names the separator and is not the header.
    directive = re.fullmatch(r"sep=(.)", header_line.strip(), re.IGNORECASE)
    separator = directive.group(1) if directive else _sniff_separator(header_line)
    header, rows, line = None, [], 1
    value_index = date_index = None
    find_date = False  # from the first cell of the first row kept
    unread = None
    first_dropped, n_dropped = None, 0
    chars = 0  # of the cells held
    with _open_text(path, "") as handle:
        reader = csv.reader(handle, delimiter=separator)
        try:
            for cells in reader:
                # A quoted cell may span lines: a row starts after the last line of the
                # one before.
                first_line, line = line, reader.line_num + 1
                if not any(cell.strip() for cell in cells):
                    continue
                if directive:  # the "sep=" line
                    directive = None
                    continue
                if header is None:
                    header = _read_header(cells, path)
                    value_index = _index_or_none(header, path, column, "column")
                    date_index, find_date = _date_column(header, path, date_column)
                    memory = _MemoryCheck(n_lines, header, int(value_index is not None)
                                          + int(date_index is not None or find_date), path)
                    continue
                cells = _check_row_length(cells, len(header), first_line, path)
                if value_index is None:
                    continue  # refused once the file is read
                value = cells[value_index]
                if missing == "drop" and _is_missing(value.strip()):
                    n_dropped += 1
                    first_dropped = first_dropped or (first_line, value.strip())
                    continue
                if find_date:
                    find_date = False
                    date_index = next((j for j, cell in enumerate(cells)
                                       if parse_date(cell.strip())), None)
                    if date_index is None:
                        unread = _unread_dates(header, cells, value_index, first_line)
                date = None if date_index is None else cells[date_index]
                rows.append((first_line, value, date))
                chars += len(value) + (0 if date is None else len(date))
                if len(rows) == memory.next_row:
                    memory.check(len(rows), chars, reader.line_num)
        except csv.Error as exc:
            raise ValueError(f"cannot read {path} as CSV: {exc} (line {reader.line_num}).") \
                from None
    if header is None:  # every line blank once parsed, e.g. a lone quoted empty cell
        raise ValueError(f"{path} has no header row: every line is blank.")
    dropped = None
    if n_dropped:
        dropped = (f"dropped {_plural(n_dropped, 'row')} without a value in column "
                   f"{column!r} (the first on line {first_dropped[0]}: {first_dropped[1]!r})")
    return _Table(str(path), separator, header, rows, date_index, dropped, unread)


def _unread_dates(header, cells, value_index, line):
    """``(index, cell, line)`` of the first column, other than the series', named like
    dates or whose first cell is a date in a format that is not read, else ``None``."""
    for j, (name, cell) in enumerate(zip(header, cells)):
        cell = cell.strip()
        if j != value_index and cell and (_OTHER_DATE.fullmatch(cell) or _DATE_NAME.search(
                re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name).lower())):
            return j, cell, line
    return None


def _read_header(cells, path):
    header = [_clean_name(name) for name in cells]
    while header and header[-1] == "":  # a trailing separator names no column
        header.pop()
    if not header:
        raise ValueError(f"the header row of {path} names no column.")
    return header


def _date_column(header, path, date_column):
    """``(index, find)``: the date column's index, or ``find`` it from the first row.

    A date column by another name ("Exchange Date", "observation_date") must not be
    missed: the file order would be taken as time order, and prices newest first would
    give returns of the wrong sign. A name that is not in the file is refused later.
    """
    if date_column is False:
        return None, False
    if date_column is not None:
        return _index_or_none(header, path, date_column, "date column"), False
    names = [name.lower() for name in header]
    index = next((names.index(name) for name in DATE_COLUMNS if name in names), None)
    return index, index is None


class _MemoryCheck:
    """Refuse a file whose held cells would not fit in memory, before they are made.

    Checked when made, with cells of ``CELL_CHARS`` characters; then, by :meth:`check`,
    for the lines left, with the length of the cells read so far: a file of long cells
    (200 characters) needed 1.8 times the estimate made with 20. ``n_held`` counts the
    date column while it may still be found from the first row.
    """

    def __init__(self, n_lines, header, n_held, path):
        self.n_lines, self.n_held, self.path = n_lines, n_held, path
        self.file = f"{n_lines:,} lines, {n_held} of its {_plural(len(header), 'column')}"
        self.next_row = FIRST_CHECK
        self._check(n_lines, n_held * CELL_CHARS, f"reading {path} ({self.file})")

    def check(self, n_rows, chars, line):
        """Check the lines after ``line``, from the ``chars`` of the ``n_rows`` read."""
        self.next_row = n_rows + CHECK_ROWS
        left = self.n_lines - line
        self._check(left, chars / n_rows,
                    f"reading the {left:,} lines left of {self.path} ({self.file}; "
                    f"{chars / n_rows / max(self.n_held, 1):.0f} characters a cell in the "
                    f"{n_rows:,} rows read)")

    def _check(self, n_lines, chars_per_row, what):
        check_memory(n_lines * (ROW_BYTES + CELL_BYTES * self.n_held + chars_per_row),
                     what, "split the file, or keep fewer rows.")


def _check_row_length(cells, n_columns, line, path):
    """The row's cells, trailing empty cells beyond the header dropped, or a ValueError."""
    if len(cells) > n_columns and not any(cell.strip() for cell in cells[n_columns:]):
        cells = cells[:n_columns]  # a trailing separator, as some exports write
    if len(cells) != n_columns:
        hint = ("a cell or a separator is missing" if len(cells) < n_columns
                else "a separator too many (a decimal comma?)")
        raise ValueError(f"line {line} of {path} has {_plural(len(cells), 'cell')} but the "
                         f"header has {n_columns}: {hint}.")
    return cells


def _plural(n, noun):
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _column_index(header, path, name, what="column"):
    """Where the column ``name`` is in the header, which must hold it exactly once."""
    count = header.count(name)
    if count == 0:
        raise ValueError(f"{what} {name!r} is not in {path}; its columns are: "
                         f"{', '.join(header)}.")
    if count > 1:
        raise ValueError(f"{what} {name!r} appears {count} times in the header of {path}.")
    return header.index(name)


def _date_index(table, date_column):
    """``(index, note)`` of the date column read, or ``(None, None)``; a ValueError for a
    ``date_column`` named that is not in the file."""
    if date_column is False:
        return None, None
    if date_column is not None:
        return _column_index(table.header, table.path, date_column, "date column"), None
    names = [name.lower() for name in table.header]
    if table.date_index is None and table.unread_dates is not None:
        index, cell, line = table.unread_dates
        raise ValueError(
            f"column {table.header[index]!r} of {table.path} looks like dates ({cell!r} on "
            f"line {line}) but is not read: dates must be YYYY-MM-DD (optionally with a time "
            "HH:MM or HH:MM:SS), and without them the file's order is taken as the time "
            "order, which a file newest first reverses. Write the dates as YYYY-MM-DD, or "
            "pass date_column=False (--no-dates on the command line) to take the file's "
            "order as the time order."
        )
    if table.date_index is None or any(name in names for name in DATE_COLUMNS):
        return table.date_index, None
    return table.date_index, f"dates from column {table.header[table.date_index]!r}"


# -- values and dates -------------------------------------------------------------------------
def _parse_number(cell, decimal_comma, decimal=None):
    """The float a cell holds, or ``None`` when it is not a plain number.

    With ``decimal`` given, the other mark is a thousands separator where it groups digits
    by three (``1.234,5`` with ``decimal=","``); elsewhere it makes the cell no number.
    """
    if decimal is not None:
        thousands = "," if decimal == "." else "."
        if thousands in cell:
            groups = rf"[+-]?[1-9]\d{{0,2}}(?:{re.escape(thousands)}\d{{3}})+"
            if not re.fullmatch(rf"{groups}(?:{re.escape(decimal)}\d*)?", cell, re.ASCII):
                return None
            cell = cell.replace(thousands, "")
        decimal_comma = decimal == ","
    if decimal_comma:
        if "." in cell:  # a thousands separator, e.g. 1.234,5: not read
            return None
        cell = cell.replace(",", ".", 1)
    if "_" in cell:  # float() reads 1_000, no spreadsheet writes it
        return None
    try:
        return float(cell)
    except ValueError:
        return None


def _is_missing(cell):
    return cell.lower() in MISSING_MARKERS


def _read_values(table, column, decimal=None):
    """The column's floats, or a ValueError naming the first bad cell and its line."""
    cells = [value.strip() for _, value, _ in table.rows]
    # A decimal comma only where a comma cannot be the separator, and then for the whole
    # column: reading 2.500 as 2.5 beside 1,25 would be a silent error.
    decimal_comma = table.separator != "," and any("," in cell for cell in cells)
    values = np.empty(len(cells))
    for i, ((line, _, _), cell) in enumerate(zip(table.rows, cells)):
        value = _parse_number(cell, decimal_comma, decimal)
        if value is None or not np.isfinite(value):
            if _is_missing(cell):
                what = f"no value ({cell!r})" if cell else "no value"
                hint = f"; {_pass_option('missing', 'drop')} to skip the rows without a value"
            else:
                what = (f"a non-numeric value {cell!r}" if value is None else
                        f"a non-finite value {cell!r}")
                hint = (f" (read with decimal={decimal!r})" if decimal is not None else
                        " (the column uses decimal commas)" if decimal_comma else "")
                if decimal is None and decimal_comma and "." in cell:
                    hint += (f"; {_pass_option('decimal', ',')} to read '.' as a thousands "
                             "separator")
                elif decimal is None and not decimal_comma and "," in cell:
                    # a quoted "4,005.81" in a comma-separated file (an Investing.com export)
                    hint += (f"; {_pass_option('decimal', '.')} to read ',' as a thousands "
                             "separator")
            raise ValueError(f"column {column!r} of {table.path} has {what} on line "
                             f"{line}{hint}.")
        values[i] = value
    if len(values) == 0:
        raise ValueError(f"column {column!r} of {table.path} has no values.")
    if table.separator != "," and decimal is None:
        _check_unambiguous(table, cells, "," if decimal_comma else ".", column)
    return values


def _check_unambiguous(table, cells, mark, column):
    """Refuse a column whose decimal mark may be a thousands separator.

    With a separator other than ``,`` both marks are in use: a European export of prices
    crossing 1,000 writes ``998`` then ``1.001`` (1001), which reads as 1.001 and makes a
    log return of -6.9. Refused: a column holding both a whole number of three digits and
    a number with one to three digits, the mark, then groups of three digits; and in a
    ``;`` file (the European convention, where ``.`` groups thousands), a column whose
    every number with a ``.`` is such a number (``1.001`` and ``2.500``: levels 1,000
    times too small if read as decimals). Any other number of decimals decides.
    """
    grouped = re.compile(rf"[+-]?[1-9]\d{{0,2}}(?:{re.escape(mark)}\d{{3}})+", re.ASCII)
    whole = re.compile(r"[+-]?[1-9]\d{2}", re.ASCII)
    first_grouped = next((i for i, cell in enumerate(cells) if grouped.fullmatch(cell)), None)
    if first_grouped is None:
        return
    first_whole = next((i for i, cell in enumerate(cells) if whole.fullmatch(cell)), None)
    line = table.rows[first_grouped][0]
    cell = cells[first_grouped]
    if first_whole is not None:
        what = f"line {line} holds {cell!r} and line {table.rows[first_whole][0]} holds " \
               f"{cells[first_whole]!r}"
    elif mark == "." and table.separator == ";" and all(
            grouped.fullmatch(other) for other in cells if "." in other):
        what = (f"every number with a '.' has three digits after it, e.g. {cell!r} on line "
                f"{line}")
    else:
        return
    thousands, decimal = (",", ".") if mark == "," else (".", ",")
    raise ValueError(
        f"column {column!r} of {table.path} is ambiguous: {what}; with {table.separator!r} "
        f"as the separator, {mark!r} may be a thousands separator ({cell} = "
        f"{_parse_number(cell, False, decimal):g}) or the decimal mark ({cell} = "
        f"{_parse_number(cell, False, mark):g}); {_pass_option('decimal', decimal, mark)} "
        "to say which."
    )


def parse_date(cell):
    """The datetime of ``YYYY-MM-DD[ HH:MM[:SS]]`` (or with a ``T``), else ``None``.

    The one date format of the CSV files, also that of the main job's ``--test-start``.

    Parameters
    ----------
    cell : str
        The text of a date, without surrounding whitespace.

    Returns
    -------
    date : datetime.datetime or None
        The date (midnight without a time), or ``None`` for another format or an
        impossible date.

    Examples
    --------
    >>> from skqegm.datasets.csv_series import parse_date
    >>> parse_date("2020-01-02T09:30"), parse_date("2020-13-01"), parse_date("02/01/2020")
    (datetime.datetime(2020, 1, 2, 9, 30), None, None)
    """
    match = _DATE.fullmatch(cell)
    if match is None:
        return None
    try:  # year, month, day[, hour, minute[, second]]: 7x faster than strptime
        return datetime(*(int(field) for field in match.groups() if field is not None))
    except ValueError:  # e.g. month 13
        return None


def _read_dates(table, index):
    """The date column as ``datetime64[D]``, or ``[s]`` when a time of day is given."""
    dates = np.empty(len(table.rows), dtype="datetime64[s]")  # a list held 3x more
    for i, (line, _, cell) in enumerate(table.rows):
        cell = cell.strip()
        date = parse_date(cell)
        if date is None:
            zone = _ZONE.fullmatch(cell)
            what = (f": a time zone ({zone.group(1)}) is not read; write the local dates or "
                    "times without it" if zone and parse_date(cell[:zone.start(1)]) else
                    ", not a date YYYY-MM-DD (optionally with a time HH:MM or HH:MM:SS)")
            raise ValueError(f"date column {table.header[index]!r} of {table.path} has "
                             f"{cell!r} on line {line}{what}.")
        dates[i] = date
    days = dates.astype("datetime64[D]")
    return days if np.all(days == dates) else dates


def _time_order(dates, lines, path):
    """``(order, note)``: the index that sorts rows oldest first, or a ValueError.

    Oldest first is kept; newest first, as many exports write, is reversed with a note.
    Anything else (repeated dates, a shuffled file) is refused at its first offending row:
    returns computed across it would mix up days.
    """
    steps = np.diff(dates)
    if np.all(steps > np.timedelta64(0)):
        return slice(None), None
    if np.all(steps < np.timedelta64(0)):
        return slice(None, None, -1), "dates are newest first; reversed to oldest first"
    descending = dates[-1] < dates[0]
    wrong = (steps >= np.timedelta64(0)) if descending else (steps <= np.timedelta64(0))
    i = int(np.argmax(wrong))
    if steps[i] == np.timedelta64(0):
        raise ValueError(f"line {lines[i + 1]} of {path} repeats the date {dates[i]} of line "
                         f"{lines[i]}; each date must appear once.")
    raise ValueError(f"the dates of {path} are neither oldest first nor newest first: line "
                     f"{lines[i + 1]} has {dates[i + 1]} after {dates[i]} on line {lines[i]}; "
                     "sort the file by date.")


# -- the kind of series -----------------------------------------------------------------------
def _auto_kind(values, lines, column):
    """``(kind, note)``: what ``kind="auto"`` makes of the whole column, or a ValueError.

    Prices are positive levels that persist from row to row; returns are centred near 0
    with both signs. A column of persistent positive levels with a few values <= 0 (a
    typo, a sentinel such as -999) is refused at its first such row: taken as returns it
    would give a table of nonsense.
    """
    positive, negative = np.mean(values > 0), np.mean(values < 0)
    move = _median_move(values)
    persistent = move is not None and move <= MAX_PRICE_MOVE
    if positive == 1:
        if move is not None and not persistent:
            raise ValueError(f"kind='auto': column {column!r} is positive everywhere, like "
                             f"prices, but its median move between rows is {move:.0%} (in "
                             "log terms), unlike prices; "
                             f"{_pass_option('kind', 'prices', 'returns')}.")
        _check_persistent(values, column)
        _check_not_a_yield(column)
        note = f"kind: prices (every value positive; median move between rows {move or 0:.2%})"
        if values.max() <= YIELD_LIKE_MAX:
            ambiguity = _like_a_yield(values, column)
            warnings.warn(ambiguity, UserWarning, stacklevel=caller_stacklevel())
            note += f"; {ambiguity}"
        return "prices", note
    if positive > 0.5 and persistent:
        line, value = _first_non_positive(values, lines)
        raise ValueError(f"kind='auto': column {column!r} is positive on "
                         f"{np.sum(values > 0)} of its {len(values)} rows, like prices, but "
                         f"line {line} holds {value:g}, which no price can be; fix that row if "
                         f"it holds prices, or {_pass_option('kind', 'returns')} if it holds "
                         "returns. A yield, a rate or a spread (levels that may be <= 0) is "
                         "neither: compute the returns of the position first.")
    median = np.median(values)
    centred = abs(median) <= np.median(np.abs(values - median))
    if min(positive, negative) >= MIN_SIGN_SHARE and centred:
        scale = float(np.median(np.abs(values)))
        note = (f"kind: returns (centred near 0: {negative:.0%} negative, {positive:.0%} "
                f"positive; median |value| {scale:.3g})")
        autocorrelation = _lag1_autocorrelation(values)
        if autocorrelation > PERSISTENT_RETURNS:
            _check_not_a_yield(column, f"persistent (lag-1 autocorrelation "
                                       f"{autocorrelation:.2f}), unlike returns")
            note += (f"; but their lag-1 autocorrelation is {autocorrelation:.2f}, unlike "
                     "returns: if the column is a level that crosses 0 (a spread, a real "
                     "yield), compute the returns of the position first")
        return "returns", note
    raise ValueError(f"kind='auto': column {column!r} is neither prices (positive levels) "
                     f"nor returns (centred near 0 with both signs): {negative:.0%} negative, "
                     f"{1 - positive - negative:.0%} zero, {positive:.0%} positive, median "
                     f"{median:.3g}; {_pass_option('kind', 'returns', 'prices')}.")


def _check_persistent(values, column):
    """Refuse, under kind="auto", positive levels that do not persist as prices do."""
    if values.shape[0] < MIN_PERSISTENCE_ROWS or np.ptp(values) == 0:
        return  # a constant column is refused once its returns are computed
    autocorrelation = _lag1_autocorrelation(values)
    if autocorrelation >= MIN_PRICE_PERSISTENCE:
        return
    raise ValueError(
        f"kind='auto': column {column!r} is positive and moves little between rows, like "
        f"prices, but does not persist as prices do (lag-1 autocorrelation "
        f"{autocorrelation:.2f}; prices: near 1): it may hold gross returns or price "
        f"relatives (1 + r or p[t] / p[t-1], here around {np.median(values):.3g}), whose "
        "log changes are not returns. If it does, take their logs (or subtract 1) and "
        f"{_pass_option('kind', 'returns')}; if it holds prices, "
        f"{_pass_option('kind', 'prices')}."
    )


def _check_not_a_yield(column, what="positive and persistent, like prices"):
    """Refuse, under kind="auto", levels in a column named like a yield or a rate."""
    if YIELD_NAME.fullmatch(column.strip()):
        raise ValueError(
            f"kind='auto': column {column!r} is {what}, and its name says a yield or an "
            "interest rate, which kind='auto' cannot tell from prices or returns: the log "
            "changes of a yield are not the returns of a position. Compute "
            f"the returns first and {_pass_option('kind', 'returns')}, or "
            f"{_pass_option('kind', 'prices')} to take the column's log changes anyway."
        )


def _like_a_yield(values, column):
    """The warning of prices that may be a yield or a rate in percent."""
    return (f"{AMBIGUOUS_PRICES} {column!r} for prices, but its values ({values.min():.3g} "
            f"to {values.max():.3g}) may as well be a yield or an interest rate in percent, "
            "which it cannot tell from prices: the log changes of a yield are not the "
            "returns of a position. If the column is one, compute the returns first and "
            f"{_pass_option('kind', 'returns')}; if it holds prices, "
            f"{_pass_option('kind', 'prices')}, which silences this warning.")


def _lag1_autocorrelation(values):
    deviations = values - values.mean()
    scale = float(np.dot(deviations, deviations))
    return float(np.dot(deviations[1:], deviations[:-1]) / scale) if scale > 0 else 0.0


def _pass_option(name, *values):
    """The advice to pass ``name`` as one of ``values``, in Python and on the command line."""
    return ("pass " + " or ".join(f"{name}={v!r}" for v in values)
            + " (" + " or ".join(f"--{name} {v}" for v in values) + " on the command line)")


def _median_move(values):
    """Median ``|log change|`` between adjacent positive values; ``None`` without a pair."""
    both = (values[1:] > 0) & (values[:-1] > 0)
    if not np.any(both):
        return None
    return float(np.median(np.abs(np.log(values[1:][both] / values[:-1][both]))))


def _first_non_positive(values, lines):
    """``(line, value)`` of the non-positive value that comes first in the file."""
    bad = np.flatnonzero(values <= 0)
    i = bad[np.argmin(np.asarray(lines)[bad])]
    return lines[i], values[i]


def _check_prices(values, lines, column, path):
    if np.any(values <= 0):
        line, value = _first_non_positive(values, lines)
        raise ValueError(f"kind='prices': column {column!r} of {path} holds {value:g} on line "
                         f"{line}; prices must be positive ({_pass_option('kind', 'returns')} "
                         "if the column holds returns).")


# -- the series -------------------------------------------------------------------------------
class Series(NamedTuple):
    """A validated series, oldest first: what :func:`load_csv_series` returns.

    Attributes
    ----------
    name : str
        ``"<column> of <path> (<kind>)"``, for a title line.
    kind : {"prices", "returns"}
        What the column holds.
    values : ndarray of shape (n_values,)
        The column as read (without the rows dropped by ``missing="drop"``).
    dates : ndarray of datetime64 of shape (n_values,) or None
        The dates of ``values``; ``None`` without a date column.
    returns : ndarray of shape (n_returns,)
        The log returns of consecutive prices, or the values themselves.
    return_dates : ndarray of datetime64 of shape (n_returns,) or None
        The dates of ``returns``.
    notes : tuple of str
        What was decided about the input (a reversed date order, the rows dropped, the
        kind chosen).

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.datasets.csv_series import Series
    >>> values = np.array([0.01, -0.02])
    >>> Series("returns", "returns", values, None, values, None, ()).kind
    'returns'
    """

    name: str
    kind: str
    values: np.ndarray
    dates: "np.ndarray | None"
    returns: np.ndarray
    return_dates: "np.ndarray | None"
    notes: tuple


def load_csv_series(path, column, date_column=None, kind="auto", missing="raise",
                    decimal=None):
    """Read and validate the series in the column ``column`` of the CSV file ``path``.

    Parameters
    ----------
    path : str or path-like
        The CSV file.
    column : str
        The header name of the column holding the series.
    date_column : str, None or False, default=None
        The header name of the column of dates; ``None``: a column named ``date``,
        ``datetime`` or ``timestamp`` if there is one, else the first column whose first
        cell is a date, else no dates; ``False``: no dates, whatever the columns hold
        (the file's order is the time order), for a file whose columns merely look like
        dates.
    kind : {"auto", "prices", "returns"}, default="auto"
        What the column holds; ``"auto"`` decides from the whole column (see Notes).
    missing : {"raise", "drop"}, default="raise"
        What a cell without a value in ``column`` gets: an error naming its line, or its
        row dropped (with a note), as for the holidays that FRED exports as ``.``. The
        returns of prices then span the dropped rows: the return of the day after a
        holiday is the change since the last day with a price; a column of returns
        loses the dropped rows' returns (a note says which).
    decimal : {None, ".", ","}, default=None
        The decimal mark of ``column``. ``None`` finds it from the column (see Notes) and
        refuses a column it cannot decide. ``"."`` or ``","``: that mark is the decimal
        mark, and the other one a thousands separator where it groups digits by three
        (``1.234,5`` with ``decimal=","``, ``1,234.5`` with ``decimal="."``); anywhere
        else it is refused.

    Returns
    -------
    series : Series
        A named tuple ``(name, kind, values, dates, returns, return_dates, notes)``:
        values, dates and returns in ascending date order (file order when there are no
        dates; ``dates`` and ``return_dates`` are then ``None``), ``kind`` is
        ``"prices"`` or ``"returns"``, and for prices the returns are the log returns of
        consecutive prices. Its ``notes`` say what was decided about the input (a
        reversed date order, the rows dropped, the kind ``"auto"`` chose).

    Raises
    ------
    ValueError
        With a one-line message naming the file or the column, and the line of the first
        bad row: unreadable file, missing column, ragged row, missing, non-numeric or
        non-finite value, unparseable, repeated or disordered date, non-positive price, or
        a column ``kind="auto"`` cannot classify.
    MemoryLimitError
        A file whose cells would not fit in memory, before they are read: reading holds
        the series' column and the date column only, about ``ROW_BYTES`` = 140 bytes a
        line and ``CELL_BYTES`` = 60 bytes a cell of those, and the cells' characters:
        ``CELL_CHARS`` = 16 a cell before any row is read, then, after the first
        ``FIRST_CHECK`` = 1,024 rows and every ``CHECK_ROWS`` = 65,536 rows after, the
        lines left are estimated from the cells read so far and checked against the
        memory left (0.90 to 1.11 times the peak, cells of 10 to 1,000 characters).

    See Also
    --------
    load_sp500_returns : the S&P 500 daily log returns shipped with skqegm.

    Notes
    -----
    The rules, each refusal a ``ValueError`` with a one-line message naming the file or
    the column, and the line of the first bad row when one row is to blame:

    - **Encoding.** UTF-8 text; the byte-order mark Excel writes is dropped. Anything that
      is not UTF-8 (Latin-1, UTF-16, ...) is refused, a gzip file or UTF-16 named as such.
    - **Header and rows.** The first non-blank line is the header; its names lose
      surrounding whitespace and quotes, and a trailing separator names no column. Blank
      rows are skipped but counted in line numbers; a quoted cell may span lines. Every row
      has as many cells as the header (empty cells after a trailing separator are dropped).
    - **Separators.** Sniffed from the header among ``,``, ``;``, tab and ``|``; a header of
      one column is read with ``,``. A first line ``sep=;`` (Excel's) names the separator.
    - **Values.** Plain decimal numbers (``1.5``, ``-2e-3``). With a separator other than
      ``,``, a column holding a comma is read with decimal commas throughout (``1,5``), and
      a ``.`` in it (a thousands separator, ``1.234,5``) is refused. There, a column
      holding both a whole number of three digits and a number such as ``1.001`` or
      ``1,001`` (the mark may group thousands: 998 then 1001) is refused as ambiguous, and
      so is, with ``;`` (the European convention), a column whose every number with a
      ``.`` has three digits after it (``1.001`` and ``2.500``: 1001 and 2500, or 1.001
      and 2.5?); a number with any other count of decimals (``1.5``) decides for the
      decimal point. ``decimal`` says which reading is meant.
      Cells with ``_``,
      ``%``, hexadecimal, empty cells and non-finite values (``nan``, ``inf``) are refused.
    - **Missing values.** A cell of the column that is empty or one of
      ``MISSING_MARKERS`` (``.``, ``-``, ``NA``, ``N/A``, ``#N/A``, ``NaN``, ``null``,
      ``None``, in any case) is refused with ``missing="raise"``; with ``missing="drop"``
      its row is dropped before anything else is read from it (its date included), and
      a note counts the rows dropped.
    - **Dates.** The ``date_column`` named, else a column named ``date``, else ``datetime``,
      else ``timestamp`` (in any case), else the first column whose first cell is a date
      (with a note), else none; ``date_column=False`` (``--no-dates``) reads no dates.
      Each cell is ``YYYY-MM-DD``, optionally with a time ``HH:MM`` or ``HH:MM:SS`` after
      a space or a ``T``, without a time zone;
      other formats and impossible dates are refused. The dates are ``datetime64[D]``, or
      ``datetime64[s]`` when some time of day is not midnight. Where no date column is
      found, a column named with the word "date" (``Dates``, ``TradeDate``) or whose
      first cell is a date in another format (``01/02/2020``, ``2.1.2020``,
      ``02-Jan-2020``, ``Jan 2, 2020``) is refused: the file's order would be taken as
      the time order; ``date_column=False`` takes it so.
    - **Date order.** Oldest first is kept; newest first, as many exports write, is reversed
      to oldest first with a note. Repeated dates and any other order are refused at the
      first offending row: returns computed across them would mix up days. Without dates the
      file's order is taken as time order.
    - **Kind.** ``"prices"`` are turned into log returns of consecutive prices, and every
      price must be positive; ``"returns"`` are taken as they are. ``"auto"`` decides from
      the whole column: prices when every value is positive and the median ``|log change|``
      between adjacent rows is at most ``MAX_PRICE_MOVE`` = 0.5 (iid returns move by about
      100%); returns when at least ``MIN_SIGN_SHARE`` = 10% of the values lie on each side
      of 0 and their median is within one median absolute deviation of 0. A column mostly of
      persistent positive levels with some values <= 0 (a typo, a sentinel such as -999) is
      refused at its first such row, as is a column that looks like neither (e.g. a positive
      volume that jumps like iid draws): the error says which ``kind`` (``--kind``) to pass.
      So is, from ``MIN_PERSISTENCE_ROWS`` = 100 values, a positive column that moves
      little between rows but whose lag-1 autocorrelation is below
      ``MIN_PRICE_PERSISTENCE`` = 0.5 (prices persist; gross returns ``1 + r`` and price
      relatives do not, and their log changes are no returns).
      ``"auto"`` cannot tell a yield or an interest rate from a price (both are positive,
      persistent levels): a column named like one (``yield`` in its name, or a FRED series
      such as ``DGS10``, ``DTB3``, ``DFF``, see ``YIELD_NAME``) that it would take for prices
      is refused; prices under another name whose values all lie in (0,
      ``YIELD_LIKE_MAX`` = 25], the range of yields and rates in percent, are taken for
      prices with a ``UserWarning`` (and the same words in the note) saying how to choose:
      ``kind="prices"`` (a $10 stock, an exchange rate) silences it. A column named like
      a yield that it would take for returns with a lag-1 autocorrelation above
      ``PERSISTENT_RETURNS`` = 0.9 (a spread that crosses 0, such as ``T10Y2Y``) is
      refused; other such returns get a note. Say ``kind`` for such a column: its log
      changes are not the returns of a position.

    Examples
    --------
    >>> import os, tempfile
    >>> from skqegm.datasets import load_csv_series
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "prices.csv")
    ...     with open(path, "w") as handle:
    ...         _ = handle.write("Date;Close\\n2020-01-03;101,5\\n2020-01-02;100\\n")
    ...     series = load_csv_series(path, "Close")
    >>> series.kind, series.values, series.returns.round(4)
    ('prices', array([100. , 101.5]), array([0.0149]))
    >>> series.dates
    array(['2020-01-02', '2020-01-03'], dtype='datetime64[D]')
    >>> series.notes[0]
    'dates are newest first; reversed to oldest first'
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}.")
    if missing not in MISSING:
        raise ValueError(f"missing must be one of {', '.join(MISSING)}; got {missing!r}.")
    if decimal is not None and decimal not in DECIMALS[1:]:
        raise ValueError(f"decimal must be None, '.' or ','; got {decimal!r}.")
    if not (date_column is None or date_column is False or isinstance(date_column, str)):
        raise ValueError("date_column must be a column name (str), None (found from the "
                         f"columns) or False (no dates); got {date_column!r}.")
    table = _read_table(path, column, date_column, missing)
    _column_index(table.header, table.path, column)  # refused here if it is not there
    dropped, notes = table.dropped, []
    notes += [dropped] if dropped else []
    values = _read_values(table, column, decimal)
    lines = np.array([line for line, _, _ in table.rows])
    date_index, note = _date_index(table, date_column)
    notes += [note] if note else []
    dates = None
    if date_index is not None:
        dates = _read_dates(table, date_index)
        order, note = _time_order(dates, lines, table.path)
        values, dates, lines = values[order], dates[order], lines[order]
        notes += [note] if note else []
    if kind == "auto":
        kind, note = _auto_kind(values, lines, column)
        notes.append(note)
    if dropped:  # said once the kind is known: prices span the rows, returns lose them
        notes[notes.index(dropped)] += ("; the returns span them" if kind == "prices" else
                                        "; their returns are left out")
    returns, return_dates = values, dates
    if kind == "prices":
        _check_prices(values, lines, column, table.path)
        returns = np.diff(np.log(values))
        return_dates = None if dates is None else dates[1:]
    return Series(f"{column} of {path} ({kind})", kind, values, dates, returns, return_dates,
                  tuple(notes))
