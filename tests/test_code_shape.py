"""The package's shape (issue 14): no import cycle, no function over 60 lines
(``bench/check_code_shape.py``), checked on known graphs and on ``src/peftdebias``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "check_code_shape.py"
spec = importlib.util.spec_from_file_location("check_code_shape", BENCH)
shape = importlib.util.module_from_spec(spec)
spec.loader.exec_module(shape)


def test_cycles_on_known_graphs():
    assert shape.cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert shape.cycles({"a": {"b"}, "b": {"a", "c"}, "c": {"d"}, "d": {"c"}, "e": {"a"}}) == [
        ["a", "b"],
        ["c", "d"],
    ]
    assert shape.cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "x": set()}) == [["a", "b", "c"]]


def test_function_level_imports_count_and_type_checking_ones_do_not(tmp_path, monkeypatch):
    module = tmp_path / "m.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from peftdebias import a\n"
        "def f():\n    from peftdebias import b\n"
    )
    monkeypatch.setattr(shape, "ROOT", tmp_path)  # module names relative to its parent
    assert shape.imports(module, {"peftdebias.a", "peftdebias.b"}) == {"peftdebias.b"}


def test_the_package_has_no_import_cycle_and_no_long_function():
    assert shape.cycles(shape.graph()) == []
    assert shape.long_functions() == []
