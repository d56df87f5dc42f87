"""The predictions file (reader, writer, errors) and ``peftdebias metrics`` end to end."""

from __future__ import annotations

import json

import pytest

from peftdebias.cli import main
from peftdebias.errors import DataError, OutputExistsError
from peftdebias.metrics import MetricOptions, compute_metrics, read_predictions, write_predictions

# TPR-GAP / FPRD example: gold, pred, attribute, text.
#   class 0: male rows 1,2 (pred 0,1 -> TPR 1/2), female rows 3,4 (pred 0,0 -> TPR 1)
#   class 1: male row 5 (pred 1 -> 1), female row 6 (pred 0 -> 0)
ROWS = [
    {"id": 1, "text": "gay pride", "gold": 0, "pred": 0, "probs": [0.9, 0.1], "attribute": "m"},
    {"id": 2, "text": "Gay people", "gold": 0, "pred": 1, "probs": [0.4, 0.6], "attribute": "m"},
    {"id": 3, "text": "a muslim", "gold": 0, "pred": 0, "probs": [0.8, 0.2], "attribute": "f"},
    {"id": 4, "text": "weather", "gold": 0, "pred": 0, "probs": [0.7, 0.3], "attribute": "f"},
    {"id": 5, "text": "hateful", "gold": 1, "pred": 1, "probs": [0.2, 0.8], "attribute": "m"},
    {"id": 6, "text": "bad muslim", "gold": 1, "pred": 0, "probs": [0.6, 0.4], "attribute": "f"},
]


def _write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_write_and_read_round_trip(tmp_path):
    path = tmp_path / "predictions.jsonl"
    assert write_predictions(path, ROWS) == 6
    predictions = read_predictions(path)
    assert predictions.rows == ROWS and predictions.lines == [1, 2, 3, 4, 5, 6]
    assert predictions.gold == [0, 0, 0, 0, 1, 1]
    assert predictions.has("attribute") and not predictions.has("pronoun")
    with pytest.raises(OutputExistsError):
        write_predictions(path, ROWS)
    assert write_predictions(path, ROWS[:2], overwrite=True) == 2


def test_writer_rejects_invalid_rows_and_writes_nothing(tmp_path):
    path = tmp_path / "predictions.jsonl"
    with pytest.raises(DataError, match=r"row 2 .*missing field.*probs"):
        write_predictions(path, [ROWS[0], {"id": 2, "gold": 0, "pred": 0}])
    assert not path.exists()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": 2, "gold": 1, "pred": 0}', r"line 3: missing field\(s\) probs"),
        ('{"id": 2, "gold": "1", "pred": 0, "probs": [1.0]}', "line 3: field gold must be"),
        ('{"id": 2, "gold": true, "pred": 0, "probs": [1.0]}', "line 3: field gold must be"),
        ('{"id": 2, "gold": 1, "pred": 2, "probs": [0.5, 0.5]}', "line 3: field pred=2"),
        ('{"id": 2, "gold": 1, "pred": 0, "probs": "0.5"}', "line 3: field probs must be"),
        ('{"id": 2, "gold": 1, "pred": 0, "probs": [0.5, 0.5], "text": 5}', "line 3: field text"),
        # gold outside the probability vector, non-finite probabilities, another width
        ('{"id": 2, "gold": 7, "pred": 0, "probs": [0.5, 0.5]}', r"line 3: field gold=7 is not"),
        ('{"id": 2, "gold": -1, "pred": 0, "probs": [0.5, 0.5]}', r"line 3: field gold=-1 is"),
        (
            '{"id": 2, "gold": 1, "pred": 0, "probs": [NaN, 0.5]}',
            "line 3: .*finite numbers, got nan",
        ),
        ('{"id": 2, "gold": 1, "pred": 0, "probs": [0.5, Infinity]}', "line 3: .*finite.* inf"),
        (
            '{"id": 2, "gold": 1, "pred": 0, "probs": [0.2, 0.3, 0.5]}',
            r"line 3: .*3 values but line 1 has 2",
        ),
        ('{"id": 2, "gold": 1', "line 3: malformed JSON"),
        ("[1, 2]", "line 3: expected a JSON object"),
    ],
)
def test_reader_names_line_and_field(tmp_path, line, message):
    path = _write_lines(tmp_path / "p.jsonl", [json.dumps(ROWS[0]), "", line])
    with pytest.raises(DataError, match=message) as info:
        read_predictions(path)
    assert str(path) in str(info.value)


def test_reader_missing_and_empty_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_predictions(tmp_path / "none.jsonl")
    with pytest.raises(DataError, match="holds no rows"):
        read_predictions(_write_lines(tmp_path / "empty.jsonl", ["", " "]))


def test_compute_metrics_selects_by_fields(tmp_path):
    rows = [dict(row) for row in ROWS]
    del rows[3]["attribute"]  # line 4 lacks the attribute
    path = tmp_path / "p.jsonl"
    write_predictions(path, rows)
    predictions = read_predictions(path)
    options = MetricOptions(terms=["gay", "muslim"])
    results = compute_metrics(predictions, options=options)["metrics"]
    assert list(results) == ["classification", "fprd"]
    with pytest.raises(DataError, match=r"p.jsonl, line 4: missing field 'attribute'.*tpr-gap"):
        compute_metrics(predictions, ["fprd", "tpr-gap"], options)
    with pytest.raises(DataError, match=r"missing field 'pronoun'.*gap"):
        compute_metrics(predictions, ["gap"], options)


def test_cli_end_to_end(tmp_path, capsys):
    predictions = tmp_path / "predictions.jsonl"
    write_predictions(predictions, ROWS)
    terms = _write_lines(tmp_path / "terms.txt", ["gay", "muslim", "jew"])
    output = tmp_path / "metrics.json"
    argv = ["metrics", "--predictions", str(predictions), "--terms", str(terms)]
    assert main([*argv, "--output", str(output)]) == 0
    results = json.loads(output.read_text())["metrics"]
    assert list(results) == ["classification", "tpr-gap", "fprd"]
    # accuracy: rows 1,3,4,5 right -> 4/6
    assert results["classification"]["accuracy"] == pytest.approx(4 / 6)
    # TPR: class 0 male 1/2, female 1 -> -0.5; class 1 male 1, female 0 -> 1
    # RMS = sqrt((0.25 + 1) / 2)
    tpr = results["tpr-gap"]
    assert [row["gap"] for row in tpr["per_class"]] == pytest.approx([-0.5, 1.0])
    assert tpr["tpr_gap_rms"] == pytest.approx((1.25 / 2) ** 0.5)
    # FPR overall: negatives rows 1-4, FP row 2 -> 1/4.
    # gay: rows 1,2 -> 1/2 (|.5 - .25| = .25); muslim: row 3 negative, no FP -> 0 (.25)
    # jew: absent -> skipped. FPRD = 0.5
    fprd = results["fprd"]
    assert fprd["overall_fpr"] == pytest.approx(0.25)
    assert fprd["fprd"] == pytest.approx(0.5)
    assert fprd["skipped_terms"] == ["jew"]
    assert fprd["warnings"] and "jew" in fprd["warnings"][0]
    assert fprd["terms_source"] == f"file {terms}"
    # Reference variant: indicator only row 2 -> overall 1/6; "gay" substring (case-
    # sensitive) row 1 only -> 0; "muslim" rows 3,6 -> 0; FPRD_ref = 2/6
    assert fprd["fprd_reference_code"]["fprd"] == pytest.approx(2 / 6)
    assert "fprd: fprd=0.5" in capsys.readouterr().out
    # An existing output is refused; stdout JSON when no output is given.
    assert main([*argv, "--output", str(output)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main([*argv, "--metric", "classification"]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"]["classification"]["macro_f1"] > 0


def test_cli_gap_and_bias_nli_files(tmp_path, capsys):
    gap = tmp_path / "gap.jsonl"
    write_predictions(
        gap,
        [
            {"id": "a", "gold": 0, "pred": 0, "probs": [0.8, 0.1, 0.1], "pronoun": "she"},
            {"id": "b", "gold": 1, "pred": 1, "probs": [0.1, 0.8, 0.1], "pronoun": "his"},
        ],
    )
    assert main(["metrics", "--predictions", str(gap)]) == 0
    results = json.loads(capsys.readouterr().out)["metrics"]
    assert list(results) == ["classification", "gap"]
    assert results["gap"]["f1"] == 1.0 and results["gap"]["bias"] == 1.0
    nli = tmp_path / "nli.jsonl"
    rows = [
        {"id": 0, "gold": 1, "pred": 1, "probs": [0.2, 0.7, 0.1], "gender_word": "man"},
        {"id": 1, "gold": 1, "pred": 0, "probs": [0.5, 0.3, 0.2], "gender_word": "lady"},
    ]
    write_predictions(nli, rows)
    assert main(["metrics", "--predictions", str(nli), "--metric", "bias-nli"]) == 0
    scores = json.loads(capsys.readouterr().out)["metrics"]["bias-nli"]
    # P(neutral) = .7, .3 -> NN .5, FN 1/2, T:0.5 1/2, T:0.7 0 (0.7 is not > 0.7)
    assert scores["net_neutral"] == pytest.approx(0.5)
    assert scores["fraction_neutral"] == 0.5
    assert scores["threshold_0.5"] == 0.5 and scores["threshold_0.7"] == 0.0
    assert main(["metrics", "--predictions", str(nli), "--metric", "fprd"]) == 2
    assert "line 1: missing field 'text' (needed by fprd)" in capsys.readouterr().err
