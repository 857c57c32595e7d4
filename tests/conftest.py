"""Run the tests with numpy's BLAS on one thread, as the `catclf` command does; and with
SciPy's array API support on, which scikit-learn's estimator checks need to try catclf's
estimators on every kind of array (it must be set before SciPy is imported)."""

import os

from catclf.cli.commands import BLAS_THREADS

for name in BLAS_THREADS:
    os.environ.setdefault(name, "1")
os.environ.setdefault("SCIPY_ARRAY_API", "1")
