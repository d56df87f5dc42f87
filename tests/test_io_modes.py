"""Outputs get the mode a plain open()/mkdir() would give under the umask (issue 15, item 8)."""

from __future__ import annotations

import os
import stat

from peftdebias.io import atomic_dir, write_json


def test_atomic_outputs_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "a.json", {"x": 1})
        with atomic_dir(tmp_path / "folder") as folder:
            (folder / "f.txt").write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "folder").stat().st_mode) == 0o755
