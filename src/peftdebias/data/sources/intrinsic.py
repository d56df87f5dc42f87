"""Intrinsic bias benchmarks: CrowS-Pairs, StereoSet (intrasentence) and SEAT.

Each loader checks the fields the scorers need and reports a missing or renamed column, an
unknown bias type or an empty word set with the file (and line or item) at fault.

- ``crows-pairs``: ``id, sent_more, sent_less, direction, bias_type`` (one row per pair).
- ``stereoset``: ``id, bias_type, target, context`` plus, for each gold label, the sentence
  and its id (``stereotype``, ``anti_stereotype``, ``unrelated`` and ``*_id``). Reads the
  official file (``{"data": {"intrasentence": [...]}}``) and the two partial layouts of
  ``shared/data/stereoset``: items with ``sentences`` (``gold_label`` per sentence) and items
  with ``data`` (a ``{gold_label: {sentence, id}}`` mapping).
- ``seat``: one row per example, ``role`` (targ1, targ2, attr1, attr2), ``category``, ``text``;
  the split is the test name (``sent-weat6``, ...).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from datasets import Dataset

from ...errors import DataError
from ..registry import DataSource, register
from ..tables import read_table

BIAS_BENCH = "McGill-NLP/bias-bench (GitHub) @291426a, data/"

CROWS_BIAS_TYPES = (
    "race-color",
    "socioeconomic",
    "gender",
    "disability",
    "nationality",
    "sexual-orientation",
    "physical-appearance",
    "religion",
    "age",
)
CROWS_DIRECTIONS = ("stereo", "antistereo")

STEREOSET_DOMAINS = ("gender", "profession", "race", "religion")
GOLD_LABELS = ("stereotype", "anti-stereotype", "unrelated")
CANDIDATE_COLUMNS = tuple(label.replace("-", "_") for label in GOLD_LABELS)

SEAT_ROLES = ("targ1", "targ2", "attr1", "attr2")
SEAT_TESTS = (
    *(f"weat{n}" for n in ("1", "2", "3", "3b", "4", "5", "5b", "6", "6b", "7", "7b", "8")),
    *(f"weat{n}" for n in ("8b", "9", "10")),
    *(f"sent-weat{n}" for n in ("1", "2", "3", "3b", "4", "5", "5b", "6", "6b", "7", "7b")),
    *(f"sent-weat{n}" for n in ("8", "8b", "9", "10")),
    "angry_black_woman_stereotype",
    "angry_black_woman_stereotype_b",
    "sent-angry_black_woman_stereotype",
    "sent-angry_black_woman_stereotype_b",
    *(f"sent-religion{n}" for n in ("1", "1b", "2", "2b")),
    *(
        f"heilman_double_bind_{kind}_{variant}"
        for kind in ("competent", "likable")
        for variant in ("1", "1+3-", "1-", "one_sentence", "one_word")
    ),
    "sent-heilman_double_bind_competent_one_word",
    "sent-heilman_double_bind_likable_one_word",
)


def read_crows_pairs(path: Path, split: str = "test") -> Dataset:
    """CrowS-Pairs csv (``sent_more, sent_less, stereo_antistereo, bias_type``) -> Dataset."""
    frame = read_table(path, sep=",", required=("sent_more", "sent_less", "stereo_antistereo"))
    if "bias_type" not in frame.columns:
        raise DataError(
            f"{path}: missing column(s) bias_type; found: {', '.join(map(str, frame.columns))}"
        )
    for column, allowed in (
        ("stereo_antistereo", CROWS_DIRECTIONS),
        ("bias_type", CROWS_BIAS_TYPES),
    ):
        bad = ~frame[column].isin(allowed)
        if bad.any():
            line = int(bad.to_numpy().argmax()) + 2  # header is line 1
            raise DataError(
                f"{path}, line {line}: column {column} has unknown value "
                f"{frame[column][bad].iloc[0]!r}; expected one of {', '.join(allowed)}"
            )
    known = ("sent_more", "sent_less", "stereo_antistereo", "bias_type")
    ids = frame[frame.columns[0]] if frame.columns[0] not in known else frame.index
    return Dataset.from_dict(
        {
            "id": [str(value) for value in ids],
            "sent_more": frame["sent_more"].tolist(),
            "sent_less": frame["sent_less"].tolist(),
            "direction": frame["stereo_antistereo"].tolist(),
            "bias_type": frame["bias_type"].tolist(),
        }
    )


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise DataError(f"file {path} does not exist")
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: malformed JSON ({exc.msg}, line {exc.lineno})") from exc


def _field(obj: Any, key: str, where: str, kind: type = str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise DataError(f"{where}: missing field {key!r}")
    value = obj[key]
    if not isinstance(value, kind):
        raise DataError(f"{where}: field {key!r} must be a {kind.__name__}")
    return value


def _stereoset_candidates(item: dict, where: str) -> dict[str, tuple[str, str]]:
    """gold label -> (sentence, sentence id), from ``sentences`` or ``data``."""
    found: dict[str, tuple[str, str]] = {}
    if "sentences" in item:
        for number, sentence in enumerate(_field(item, "sentences", where, list)):
            at = f"{where}, sentences[{number}]"
            label = _field(sentence, "gold_label", at)
            found[label] = (_field(sentence, "sentence", at), _field(sentence, "id", at))
    elif "data" in item:
        for label, sentence in _field(item, "data", where, dict).items():
            at = f"{where}, data[{label!r}]"
            found[label] = (_field(sentence, "sentence", at), _field(sentence, "id", at))
    else:
        raise DataError(f"{where}: missing field 'sentences' (or 'data')")
    unknown = sorted(set(found) - set(GOLD_LABELS))
    missing = [label for label in GOLD_LABELS if label not in found]
    if unknown or missing:
        problem = f"unknown gold label(s) {unknown}" if unknown else f"no {missing[0]!r} sentence"
        raise DataError(f"{where}: {problem}; expected {', '.join(GOLD_LABELS)}")
    return found


def read_stereoset(path: Path, split: str = "dev") -> Dataset:
    """StereoSet intrasentence items (official or partial layout) -> Dataset."""
    raw = _read_json(path)
    if isinstance(raw, dict):
        intrasentence = (
            raw.get("data", {}).get("intrasentence") if isinstance(raw.get("data"), dict) else None
        )
        if not isinstance(intrasentence, list):
            raise DataError(f"{path}: missing field 'data.intrasentence' (or a top-level list)")
        raw = intrasentence
    if not isinstance(raw, list):
        raise DataError(f"{path}: expected a list of intrasentence items")
    keys = ("id", "bias_type", "target", "context", *CANDIDATE_COLUMNS)
    columns: dict[str, list[str]] = {key: [] for key in keys + tuple(f"{c}_id" for c in keys[4:])}
    for number, item in enumerate(raw):
        where = f"{path}, item {number}"
        item_id = _field(item, "id", where)
        where = f"{path}, item {number} (id {item_id})"
        domain = _field(item, "bias_type", where)
        if domain not in STEREOSET_DOMAINS:
            raise DataError(
                f"{where}: field 'bias_type' has unknown value {domain!r}; "
                f"expected one of {', '.join(STEREOSET_DOMAINS)}"
            )
        context = _field(item, "context", where)
        if "BLANK" not in context:
            raise DataError(f"{where}: field 'context' has no BLANK: {context!r}")
        candidates = _stereoset_candidates(item, where)
        columns["id"].append(item_id)
        columns["bias_type"].append(domain)
        columns["target"].append(_field(item, "target", where))
        columns["context"].append(context)
        for label, key in zip(GOLD_LABELS, CANDIDATE_COLUMNS, strict=True):
            columns[key].append(candidates[label][0])
            columns[f"{key}_id"].append(candidates[label][1])
    return Dataset.from_dict(columns)


def read_seat(path: Path, split: str = "") -> Dataset:
    """A SEAT test (one JSON object: ``{targ1|targ2|attr1|attr2: {category, examples}}``)."""
    raw = _read_json(path)
    rows: dict[str, list[str]] = {"role": [], "category": [], "text": []}
    for role in SEAT_ROLES:
        where = f"{path}, {role}"
        if not isinstance(raw, dict) or role not in raw:
            raise DataError(f"{path}: missing field {role!r}")
        category = _field(raw[role], "category", where)
        examples = _field(raw[role], "examples", where, list)
        if not examples:
            kind = "attribute" if role.startswith("attr") else "target"
            raise DataError(f"{where}: field 'examples' is an empty {kind} set")
        if not all(isinstance(text, str) and text.strip() for text in examples):
            raise DataError(f"{where}: field 'examples' must hold non-empty strings")
        rows["role"] += [role] * len(examples)
        rows["category"] += [category] * len(examples)
        rows["text"] += examples
    return Dataset.from_dict(rows)


register(
    DataSource(
        name="crows-pairs",
        description="CrowS-Pairs (Nangia et al. 2020): 1508 minimal pairs, 9 bias types",
        kind="intrinsic",
        files={"test": "crows_pairs/crows_pairs_anonymized.csv"},
        loader=read_crows_pairs,
        columns=("id", "sent_more", "sent_less", "direction", "bias_type"),
        source=BIAS_BENCH + "crows/",
    )
)

register(
    DataSource(
        name="stereoset",
        description="StereoSet intrasentence (Nadeem et al. 2021); dev slice and per-domain files",
        kind="intrinsic",
        files={
            "test": "stereoset/test.json",
            "dev": "stereoset/dev.json",
            "gender": "stereoset/gender_test.json",
            "race": "stereoset/race_test.json",
            "religion": "stereoset/religion_test.json",
        },
        loader=read_stereoset,
        columns=("id", "bias_type", "target", "context", *CANDIDATE_COLUMNS),
        source="McGill-NLP/bias-bench data/stereoset (test.json); zjunlp/EditBias data/stereoset",
    )
)

register(
    DataSource(
        name="seat",
        description="SEAT / WEAT association tests (May et al. 2019); split = test name",
        kind="intrinsic",
        files={test: f"seat/{test}.jsonl" for test in SEAT_TESTS},
        loader=read_seat,
        columns=("role", "category", "text"),
        source=BIAS_BENCH + "seat/",
    )
)
