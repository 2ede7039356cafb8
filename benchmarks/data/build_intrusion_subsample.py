"""Write the KDD Cup 1999 subsample that ``skqegm.datasets.load_intrusion`` ships.

Usage (from the repository root)::

    python benchmarks/data/build_intrusion_subsample.py [kddcup.data_10_percent.gz]

Without a path the 10% file is fetched with ``sklearn.datasets.fetch_kddcup99``. The
output is ``skqegm/datasets/data/kddcup99_intrusion_subsample.csv.gz`` unless ``--out``
says otherwise. gzip is written with ``mtime=0`` and no file name, so the same input
gives the same bytes.
"""

import argparse
import gzip
from pathlib import Path

from skqegm.datasets import make_intrusion_subsample

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "skqegm" / "datasets" / "data" / "kddcup99_intrusion_subsample.csv.gz"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=None,
                        help="path to kddcup.data_10_percent.gz (default: fetch_kddcup99)")
    parser.add_argument("--out", type=Path, default=OUT, help="the .csv.gz to write")
    args = parser.parse_args(argv)
    frame = make_intrusion_subsample(args.data)  # the defaults are the shipped file's
    text = frame.to_csv(index=False, lineterminator="\n")
    with open(args.out, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                                     compresslevel=9, mtime=0) as out:
        out.write(text.encode("ascii"))
    attacks = int((frame["labels"] != "normal.").sum())
    print(f"{args.out}: {len(frame)} records, {attacks} attacks, "
          f"{args.out.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
