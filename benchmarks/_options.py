"""Checks of the benchmark scripts' options, made when the options are parsed.

A count of 0 ran nothing and exited 0, or failed in a traceback after minutes of work, and
an output file in a folder that does not exist was written only at the end of the run, which
was then lost. Each script imports these from here: ``python benchmarks/bench_x.py`` puts
this folder first on ``sys.path`` (as for ``bench_predict``'s ``from bench_fit import``).
"""

import argparse
import math
from pathlib import Path


def at_least(low):
    """An argparse type: an integer >= ``low``, refused when the options are parsed (a
    count of 0 ran nothing, or failed after minutes of work)."""

    def integer(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}; got {value}")
        return value

    return integer


def positive_float(text):
    """An argparse type: a finite number > 0 (a budget of seconds)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0; got {text}")
    return value


def n_jobs_type(text):
    """An argparse type: joblib's n_jobs, an integer other than 0."""
    value = at_least(-2**31)(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be a positive number of processes or "
                                         "negative (-1: every core); got 0")
    return value


def check_output_folders(parser, args, options):
    """Refuse output files whose folder does not exist before the run, not after it."""
    for option in options:
        path = getattr(args, option)
        if path and not Path(path).resolve().parent.is_dir():
            parser.error(f"--{option.replace('_', '-')} {path}: the folder "
                         f"{Path(path).resolve().parent} does not exist")


def quick_sizes(parser, args, sizes):
    """Set the ``--quick`` sizes (``{dest: value}``) of the options the command line left
    at their defaults: an option given beside ``--quick`` wins (``--quick --seeds 5``
    ran 2 seeds)."""
    for dest, value in sizes.items():
        if getattr(args, dest) == parser.get_default(dest):
            setattr(args, dest, value)
