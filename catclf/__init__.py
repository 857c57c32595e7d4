"""catclf: a cat / non-cat image classifier built on vectorized logistic regression.

    import catclf

    train_set, test_set = catclf.load_data()     # the bundled course set
    model = catclf.train(train_set, test_set)     # learning_rate=0.005, num_iterations=2000
    model.save("model.h5")
    model = catclf.load_model("model.h5")
    model.predict_proba(["photo.jpg"])            # array([0.788323])
    catclf.evaluate(model, test_set).accuracy     # 0.7
    catclf.evaluate(model, test_set).accuracy_ci  # (0.562, 0.809): 50 examples say little
    catclf.cross_validate(train_set).mean_validation_accuracy  # judged without the test set

Every failure is a `catclf.CatclfError`. The course's own functions, under the course's
names, are in `catclf.logistic`.
"""

# This module imports nothing as it is imported, not even the standard library: it runs
# before `python -m catclf` can set its signal handlers (catclf.cli.signals), and the shorter
# that moment, the rarer a Ctrl-C that Python reports with a traceback. mypy takes any
# name TYPE_CHECKING as typing's own.
TYPE_CHECKING = False

# Where each public name lives. They are imported when first used, so that
# `import catclf` (and `catclf --help`) does not import numpy, h5py and Pillow.
_PUBLIC = {
    "__version__": "catclf._version",
    "CatclfError": "catclf.errors",
    "DataError": "catclf.errors",
    "ImageError": "catclf.errors",
    "ModelError": "catclf.errors",
    "ParameterError": "catclf.errors",
    "TrainingDiverged": "catclf.errors",
    "Dataset": "catclf.dataset",
    "load_data": "catclf.datasets",
    "load_dataset": "catclf.datasets",
    "Model": "catclf.model",
    "load_model": "catclf.model",
    "train": "catclf.training",
    "sweep": "catclf.selection",
    "SweepRun": "catclf.selection",
    "evaluate": "catclf.evaluation",
    "Evaluation": "catclf.evaluation",
    "Explanation": "catclf.explanation",
    "cross_validate": "catclf.selection",
    "CrossValidation": "catclf.selection",
}

__all__ = [
    "CatclfError",
    "CrossValidation",
    "DataError",
    "Dataset",
    "Evaluation",
    "Explanation",
    "ImageError",
    "Model",
    "ModelError",
    "ParameterError",
    "SweepRun",
    "TrainingDiverged",
    "__version__",
    "cross_validate",
    "evaluate",
    "load_data",
    "load_dataset",
    "load_model",
    "sweep",
    "train",
]

if TYPE_CHECKING:
    from catclf._version import __version__
    from catclf.dataset import Dataset
    from catclf.datasets import load_data, load_dataset
    from catclf.errors import (
        CatclfError,
        DataError,
        ImageError,
        ModelError,
        ParameterError,
        TrainingDiverged,
    )
    from catclf.evaluation import Evaluation, evaluate
    from catclf.explanation import Explanation
    from catclf.model import Model, load_model
    from catclf.selection import CrossValidation, SweepRun, cross_validate, sweep
    from catclf.training import train


def __getattr__(name: str) -> object:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'catclf' has no attribute {name!r}")
    import importlib  # here: see the top of this module

    return getattr(importlib.import_module(_PUBLIC[name]), name)


def __dir__() -> list[str]:
    return sorted(__all__)
