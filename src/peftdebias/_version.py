"""The package version, and the versions of the libraries that shape results (their own
module so that any module can read them without importing the package facade)."""

from __future__ import annotations

import platform

__version__ = "0.1.0"


def library_versions() -> dict[str, str | None]:
    """Versions of Python and the libraries that shape the results."""
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("peftdebias", "torch", "transformers", "peft", "datasets", "accelerate",
                 "numpy", "scipy", "scikit-learn"):  # fmt: skip
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions
