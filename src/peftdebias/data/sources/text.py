"""Unlabelled text for masked-LM: WikiText-2 (Merity et al. 2017), tokenized, with ``<unk>``.

One row per paragraph line: empty lines and `` = Heading = `` / `` = = Sub = = `` lines are
dropped, surrounding whitespace stripped, ``<unk>`` and ``@-@`` style tokens kept as is.
Output: ``id`` (line number in the file), ``text``.
"""

from __future__ import annotations

import re
from pathlib import Path

from datasets import Dataset

from ...errors import DataError
from ..download import parse_sha256sums, pinned
from ..registry import DataSource, register
from ..tables import to_dataset

_HEADING = re.compile(r"^(=\s)+.*?(\s=)+$")


def is_heading(line: str) -> bool:
    """True for WikiText section titles such as ``= Valkyria Chronicles =`` or ``= = Plot = =``."""
    return bool(_HEADING.match(line.strip()))


def load_wikitext(path: Path, split: str) -> Dataset:
    """WikiText token file -> ``id, text`` paragraphs."""
    if not path.is_file():
        raise DataError(f"file {path} does not exist")
    ids, texts = [], []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if text and not is_heading(text):
                ids.append(str(number))
                texts.append(text)
    return to_dataset({"id": ids, "text": texts}, split)


_REPO, _COMMIT = "pytorch/examples", "77f55b9"
_REMOTE = "word_language_model/data/wikitext-2"
_FILES = {"validation": "wikitext2/valid.txt", "test": "wikitext2/test.txt"}
register(
    DataSource(
        name="wikitext-2",
        description="WikiText-2 validation/test paragraphs (Merity et al. 2017), for MLM",
        kind="text",
        files=_FILES,
        loader=load_wikitext,
        columns=("id", "text"),
        source=f"{_REPO} (GitHub) @{_COMMIT}, {_REMOTE}/",
        urls=pinned(
            _REPO, _COMMIT, {rel: f"{_REMOTE}/{Path(rel).name}" for rel in _FILES.values()}
        ),
        sha256=parse_sha256sums(
            """
d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0  wikitext2/test.txt
f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8  wikitext2/valid.txt
"""
        ),
    )
)
