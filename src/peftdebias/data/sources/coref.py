"""Gendered coreference sets: GAP (Webster et al. 2018) and WinoBias (Zhao et al. 2018).

``gap`` (splits dev/test/validation): ``id, text, pronoun, pronoun_offset, a, a_offset, b,
b_offset, label, attribute, url``; label 0 = the pronoun refers to A, 1 = to B, 2 = neither
(from ``A-coref``/``B-coref``, never both); ``attribute`` = pronoun gender. Offsets are
character offsets into ``text``. Bias = F1(feminine) / F1(masculine).

``winobias`` (splits ``{pro,anti}_type{1,2}_{dev,test}``): the bracketed sentences, e.g.
``[The developer] argued with the designer because [he] did not like the design.`` become
``text`` without brackets; ``entity`` (first bracketed span) with ``entity_start/_end``,
``occupation`` (the entity without its determiner), ``pronoun`` (second span) with
``pronoun_start/_end`` and ``attribute`` (its gender), ``spans`` (all bracketed spans, a
coreference cluster: 87 sentences have a second pronoun), ``stereotype`` (pro/anti), ``type``.
"""

from __future__ import annotations

import re
from pathlib import Path

from datasets import Dataset

from ...errors import DataError
from ..download import parse_sha256sums, pinned
from ..registry import DataSource, register
from ..tables import read_table, to_dataset

PRONOUN_GENDER = {
    **dict.fromkeys(("he", "him", "his", "himself"), "male"),
    **dict.fromkeys(("she", "her", "hers", "herself"), "female"),
}
GAP_LABELS = ("A", "B", "neither")
_GAP_COLUMNS = ("ID", "Text", "Pronoun", "Pronoun-offset", "A", "A-offset", "A-coref")
_GAP_COLUMNS += ("B", "B-offset", "B-coref")
_BRACKETED = re.compile(r"\[([^\[\]]+)\]")
_DETERMINER = re.compile(r"^(the|a|an)\s+", re.IGNORECASE)


def pronoun_gender(pronoun: str) -> str:
    """'male' or 'female' for an English third-person pronoun; KeyError otherwise."""
    return PRONOUN_GENDER[pronoun.strip().lower()]


def _flag(value: str, path: Path, line: int, column: str) -> bool:
    flag = value.strip().upper()
    if flag not in ("TRUE", "FALSE"):
        raise DataError(
            f"{path}, line {line}: column {column} must be TRUE or FALSE, got {value!r}"
        )
    return flag == "TRUE"


def load_gap(path: Path, split: str) -> Dataset:
    """GAP tsv -> one row per example (see module docstring)."""
    frame = read_table(path, sep="\t", required=_GAP_COLUMNS)
    columns: dict[str, list] = {
        key: []
        for key in ("id", "text", "pronoun", "pronoun_offset", "a", "a_offset", "b", "b_offset")
    }
    columns.update(label=[], attribute=[], url=[])
    for index, row in enumerate(frame.itertuples(index=False)):
        line = index + 2
        values = dict(zip(frame.columns, row, strict=True))
        a_coref = _flag(values["A-coref"], path, line, "A-coref")
        b_coref = _flag(values["B-coref"], path, line, "B-coref")
        if a_coref and b_coref:
            raise DataError(f"{path}, line {line}: A-coref and B-coref are both TRUE")
        pronoun = values["Pronoun"]
        if pronoun.strip().lower() not in PRONOUN_GENDER:
            raise DataError(f"{path}, line {line}: {pronoun!r} is not a gendered pronoun")
        try:
            offsets = [int(values[f"{key}-offset"]) for key in ("Pronoun", "A", "B")]
        except ValueError as exc:
            raise DataError(f"{path}, line {line}: offsets must be integers ({exc})") from exc
        columns["id"].append(values["ID"])
        columns["text"].append(values["Text"])
        columns["pronoun"].append(pronoun)
        columns["a"].append(values["A"])
        columns["b"].append(values["B"])
        for key, offset in zip(("pronoun_offset", "a_offset", "b_offset"), offsets, strict=True):
            columns[key].append(offset)
        columns["label"].append(0 if a_coref else 1 if b_coref else 2)
        columns["attribute"].append(pronoun_gender(pronoun))
        columns["url"].append(values.get("URL", ""))
    return to_dataset(columns, split, GAP_LABELS)


def parse_winobias_line(line: str) -> dict:
    """One ``N sentence with [spans]`` line -> text, spans, derived fields; ValueError if bad."""
    number, _, sentence = line.strip().partition(" ")
    if not number.isdigit() or not sentence:
        raise ValueError("expected '<number> <sentence>'")
    text, spans, cursor = [], [], 0
    length = 0
    for match in _BRACKETED.finditer(sentence):
        before = sentence[cursor : match.start()]
        text.append(before)
        length += len(before)
        spans.append((length, length + len(match.group(1))))
        text.append(match.group(1))
        length += len(match.group(1))
        cursor = match.end()
    text.append(sentence[cursor:])
    plain = "".join(text)
    if "[" in plain or "]" in plain or len(spans) < 2:
        raise ValueError("expected an entity and at least one pronoun in [brackets]")
    mentions = [plain[start:end] for start, end in spans]
    if mentions[0].lower() in PRONOUN_GENDER:
        raise ValueError(f"first bracketed span {mentions[0]!r} should be the occupation")
    genders = set()
    for mention in mentions[1:]:
        if mention.lower() not in PRONOUN_GENDER:
            raise ValueError(f"bracketed span {mention!r} is not a gendered pronoun")
        genders.add(pronoun_gender(mention))
    if len(genders) != 1:
        raise ValueError("pronouns of one sentence disagree in gender")
    return {
        "id": number,
        "text": plain,
        "entity": mentions[0],
        "entity_start": spans[0][0],
        "entity_end": spans[0][1],
        "occupation": _DETERMINER.sub("", mentions[0]),
        "pronoun": mentions[1],
        "pronoun_start": spans[1][0],
        "pronoun_end": spans[1][1],
        "attribute": genders.pop(),
        "spans": [list(span) for span in spans],
    }


def load_winobias(path: Path, split: str) -> Dataset:
    """WinoBias bracketed file -> one row per sentence (see module docstring)."""
    if not path.is_file():
        raise DataError(f"file {path} does not exist")
    match = re.match(r"(pro|anti)_stereotyped_type([12])\.txt\.(dev|test)$", path.name)
    if match is None:
        raise DataError(
            f"{path}: WinoBias file names look like pro_stereotyped_type1.txt.dev "
            "(stereotype and type are read from the name)"
        )
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = parse_winobias_line(line)
            except ValueError as exc:
                raise DataError(f"{path}, line {number}: {exc}: {line.strip()!r}") from exc
            row.update(id=f"{split}-{row['id']}", stereotype=match.group(1))
            row["type"] = int(match.group(2))
            rows.append(row)
    if not rows:
        raise DataError(f"{path}: no sentences")
    return to_dataset({key: [row[key] for row in rows] for key in rows[0]}, split)


# Long lines: sha256sum output, checkable with `sha256sum -c` in the data directory.
_SHA256 = parse_sha256sums(
    """
b9a01434fcf58d8c2f9bc762480c27e58ce466cf1ffe8b09cfecbc7a20d2d634  gap/gap-development.tsv
1c35e36d5b14f6313ec3f6cd67b275de282595dd59e59390e00cfff9897a6819  gap/gap-test.tsv
2d784f66b390404f554704b9aef6dcde8845e79dda9886b8391cf7e9a24fdb98  gap/gap-validation.tsv
a6663c666b1a528b3a5d900f30ac2d3d22a05cba363faaf4cdc35aa1b189cbaa  winobias/anti_stereotyped_type1.txt.dev
331db5bd74bfefebf146a60b67645152a4a1991570d2a56f57154103ac361dd2  winobias/anti_stereotyped_type1.txt.test
763ad829ad724f9a85ead689ba8ca69072020cb1238def6210f0fc6a47b97e59  winobias/anti_stereotyped_type2.txt.dev
336571ac1ea8c06cd2aba8e5dd2bd98e00acc0c48da3e4ec5ec7e54eb2633a8f  winobias/anti_stereotyped_type2.txt.test
dd55a0d220fe4c0ceb63dd4648223fb4fe1a58d5ad95c116a002ad24b0e292a5  winobias/pro_stereotyped_type1.txt.dev
db7838907238a758eeb5779e48f38c013b892910d6fe864456c59f04245c6689  winobias/pro_stereotyped_type1.txt.test
250b9c2d605a087c7301391e1c33ab9d79655f213fb28963b1942dcb2721e804  winobias/pro_stereotyped_type2.txt.dev
ea1c1fd94fa612e3cc44d7fa3cc4cb76021bb63fdf94f9826f430051e9052438  winobias/pro_stereotyped_type2.txt.test
"""  # noqa: E501
)
_GAP_REPO, _GAP_COMMIT = (
    "google-research-datasets/gap-coreference",
    "83135f26025cdd705c04f77e940d0c9201116b80",
)
_gap_files = {"dev": "gap/gap-development.tsv", "test": "gap/gap-test.tsv"}
_gap_files["validation"] = "gap/gap-validation.tsv"
register(
    DataSource(
        name="gap",
        description="GAP gender-balanced pronoun resolution (Webster et al. 2018)",
        kind="coref",
        files=_gap_files,
        loader=load_gap,
        columns=(
            *("id", "text", "pronoun", "pronoun_offset", "a", "a_offset", "b", "b_offset"),
            *("label", "attribute", "url"),
        ),
        source=f"{_GAP_REPO} (GitHub) @{_GAP_COMMIT}",
        urls=pinned(_GAP_REPO, _GAP_COMMIT, {rel: Path(rel).name for rel in _gap_files.values()}),
        sha256={relative: _SHA256[relative] for relative in _gap_files.values()},
        num_labels=len(GAP_LABELS),
        label_names=GAP_LABELS,
        attribute="gender",
    )
)

_WINOBIAS_REPO, _WINOBIAS_COMMIT = "x-zb/pedb", "a950eba"
_winobias_files = {
    f"{kind}_type{number}_{part}": f"winobias/{kind}_stereotyped_type{number}.txt.{part}"
    for kind in ("pro", "anti")
    for number in (1, 2)
    for part in ("dev", "test")
}
register(
    DataSource(
        name="winobias",
        description="WinoBias pro/anti-stereotypical coreference (Zhao et al. 2018)",
        kind="coref",
        files=_winobias_files,
        loader=load_winobias,
        columns=(
            *("id", "text", "entity", "entity_start", "entity_end", "occupation", "pronoun"),
            *("pronoun_start", "pronoun_end", "attribute", "spans", "stereotype", "type"),
        ),
        source=(
            f"{_WINOBIAS_REPO} (GitHub) @{_WINOBIAS_COMMIT}, data/winobias/ "
            "(originally uclanlp/corefBias)"
        ),
        urls=pinned(
            _WINOBIAS_REPO,
            _WINOBIAS_COMMIT,
            {rel: f"data/{rel}" for rel in _winobias_files.values()},
        ),
        sha256={relative: _SHA256[relative] for relative in _winobias_files.values()},
        attribute="gender",
    )
)
