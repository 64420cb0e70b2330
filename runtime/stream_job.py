"""The import path generated streaming jobs (`spark/<name>_stream.py`) call: ``main``; also
``python -m mlc.runtime.stream_job --mldl BUILD/mldl.json --store URL --state-dir DIR`` (what
``mlc run`` starts). The job itself is :mod:`mlc.runtime.streaming.job`; this module is the
stable surface builds depend on."""

import sys

from mlc.runtime.streaming.job import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
