"""catclf's version: one place, read by the package, its files and its build."""

__version__ = "1.1.0"
