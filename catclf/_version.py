"""catclf's version: one place, read by the package, its files and its build."""

__version__ = "1.0.0"
