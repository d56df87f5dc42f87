"""CDA attribute word lists of the data directory (kind ``words``; one row per tuple).

Columns: ``axis`` (str) and ``terms`` (list of str, casefolded). The project's own lists ship
with the package (``peftdebias.cda.load_word_list("gender")``); these two are the published
lists, for comparison and for reproducing bias-bench / the PEFTDebias reference code.
"""

from __future__ import annotations

from pathlib import Path

from datasets import Dataset

from ...cda.wordlists import read_word_lists
from ..registry import DataSource, register

_RAW = "https://raw.githubusercontent.com"


def _word_table(path: Path, split: str) -> Dataset:
    """JSON ``{"axis": [[term, ...], ...]}`` -> rows ``axis, terms``."""
    rows = [
        (name, list(row)) for name, words in read_word_lists(path).items() for row in words.tuples
    ]
    return Dataset.from_dict(
        {"axis": [name for name, _ in rows], "terms": [terms for _, terms in rows]}
    )


for _name, _file, _description, _source, _url, _sha in (
    (
        "cda-words",
        "cda_words/bias_bench_attribute_words.json",
        "CDA attribute words of bias-bench (Meade et al. 2022): gender pairs, race and "
        "religion triples",
        "McGill-NLP/bias-bench (GitHub), data/bias_attribute_words.json",
        f"{_RAW}/McGill-NLP/bias-bench/aba440322fb38600f7790e457a17941f0b12bf20/"
        "data/bias_attribute_words.json",
        "221f9f997b6eee90c4b5791c6f60771fb91bbbe3631ac07a010bd8b026e50dbc",
    ),
    (
        "cda-words-peftdebias",
        "cda_words/peft_debias_attribute_words.json",
        "CDA attribute words of the PEFTDebias reference code: bias-bench lists plus 'group' "
        "(race, religion, sexuality)",
        "sumit-agrwl/peft-debias (GitHub), bias-bench/data/bias_attribute_words.json",
        f"{_RAW}/sumit-agrwl/peft-debias/ad3d0658f12f1bf4c07c3089269228e333807694/"
        "bias-bench/data/bias_attribute_words.json",
        "c8f26176ca65d75de1c8b9e7b91bb81d34d8873e919caff3d329e6ef7c67aacd",
    ),
):
    register(
        DataSource(
            name=_name,
            description=_description,
            kind="words",
            files={"all": _file},
            loader=_word_table,
            columns=("axis", "terms"),
            source=_source,
            urls={_file: _url},
            sha256={_file: _sha},
        )
    )
