"""Model files made by hand with h5py, in the README's layout, for tests that must not
depend on catclf's own writer."""

import math

import h5py
import numpy as np

N_X = 64 * 64 * 3


def write_model_file(path, *, attrs=None, drop=(), **datasets):
    """A model file in the README's layout, written with h5py; keyword arguments replace
    datasets, attrs replaces attributes, drop removes either."""
    content = {"w": np.zeros((N_X, 1)), "b": np.float64(0.5), "costs": np.array([math.log(2)])}
    content.update(datasets)
    attributes = {
        "format": "catclf-logistic-regression",
        "format_version": 1,
        "image_size": 64,
        "channels": 3,
        "classes": ["non-cat", "cat"],
        "preprocessing": "divided by 255",
        "learning_rate": 0.005,
        "num_iterations": 2000,
        "final_cost": 0.5,
        "train_examples": 209,
        "train_accuracy": 0.99,
        "test_examples": 0,
        "test_accuracy": math.nan,
        "train_data": "hand-made",
        "catclf_version": "1.0.0",
        "created": "2024-01-02T03:04:05+00:00",
    }
    attributes.update(attrs or {})
    with h5py.File(path, "w") as f:
        for name, value in content.items():
            if name not in drop:
                f.create_dataset(name, data=value)
        for name, value in attributes.items():
            if name not in drop:
                f.attrs[name] = value
    return path
