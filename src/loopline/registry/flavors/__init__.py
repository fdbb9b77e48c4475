"""Model flavors: how each kind of model is saved to files and loaded back into a predictor.

Flavors are registered by name -> ``module:Class`` and imported only when needed, so
``import loopline`` never imports scikit-learn, XGBoost, LightGBM, PyTorch or ONNX Runtime; each
flavor module imports its library inside its methods. Third parties add flavors through the
``loopline.flavors`` entry-point group (name = ``package.module:Class``).

Example:
    >>> flavor = flavor_for(sklearn_model)          # detected from the model's class
    >>> flavor.name
    'sklearn'
    >>> meta = flavor.save(sklearn_model, folder, {})
    >>> flavor.load(folder, meta).predict(X)
"""

from __future__ import annotations

from loopline.registry.flavors._base import (
    FLAVORS,
    Flavor,
    Predictor,
    class_modules,
    flavor_for,
    flavor_names,
    get_flavor,
    library_version,
)

__all__ = [
    "Flavor",
    "Predictor",
    "FLAVORS",
    "flavor_for",
    "flavor_names",
    "get_flavor",
    "class_modules",
    "library_version",
]
