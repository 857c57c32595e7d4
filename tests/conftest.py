"""Run the tests with numpy's BLAS on one thread, as the `catclf` command does."""

import os

from catclf.cli.commands import BLAS_THREADS

for name in BLAS_THREADS:
    os.environ.setdefault(name, "1")
