"""Lazy package exports (PEP 562): a package names its public objects and the submodule of
each; a submodule is imported on first access, so importing the package (and
``peftdebias COMMAND --help``) loads no torch."""

from __future__ import annotations

import importlib
import types
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, namespace: dict[str, Any], api: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``__getattr__``, ``__dir__`` and ``__all__`` for the package ``package`` (its
    ``globals()`` is ``namespace``) exporting ``name -> submodule`` from ``api``."""

    def __getattr__(name: str) -> Any:
        if name not in api:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{api[name]}", package), name)
        namespace[name] = value
        # importing a submodule binds it on the package under its name, which hides an
        # export of the same name (metrics.fprd): bind the export again
        for other, module in api.items():
            if other == module and isinstance(namespace.get(other), types.ModuleType):
                namespace[other] = getattr(namespace[other], other)
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *api})

    return __getattr__, __dir__, sorted(api)
