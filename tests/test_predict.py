"""``peftdebias predict``: a trained downstream classifier scored on another labelled file."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from datasets import Dataset

from peftdebias.cli import main
from peftdebias.downstream import (
    DownstreamConfig,
    PredictConfig,
    load_classifier,
    predict,
    predict_file,
    train_downstream,
)
from peftdebias.errors import DataError
from peftdebias.metrics import MetricWarning, axis_terms, fprd

WORDS = ["muslim", "jewish", "gay", "black", "christian", "the"]


def _write(path: Path, rows: list[dict]) -> Path:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        return path
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter="\t"
                                if path.suffix == ".tsv" else ",")  # fmt: skip
        writer.writeheader()
        writer.writerows(rows)
    return path


def _rows(n: int, seed: int, label_names=("clean", "hate")) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = int(rng.random() < 0.4)
        word = WORDS[rng.integers(len(WORDS))]
        text = f"{'awful ' if label else ''}{word} people post {i}"
        rows.append({"post": text, "y": label_names[label], "gender": ["m", "f"][i % 2]})
    return rows


@pytest.fixture(scope="module")
def trained(tiny_bert, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("predict")
    task = _write(folder / "train.csv", _rows(80, 0))
    train_downstream(
        DownstreamConfig(task=str(task), output=str(folder / "run"), model=str(tiny_bert),
                         baseline="ft", columns={"text": "post", "label": "y"}, epochs=2,
                         batch_size=8, max_length=24, learning_rate=1e-2, bootstrap_resamples=0)
    )  # fmt: skip
    return folder / "run" / "model"


def test_predict_writes_predictions_and_the_downstream_metrics(trained, tmp_path, capsys):
    source = _write(tmp_path / "other.tsv", _rows(60, 1))
    out = tmp_path / "scored"
    argv = ["predict", "--model-dir", str(trained), "--input", str(source), "--text-column",
            "post", "--label-column", "y", "--attribute-column", "gender", "--output", str(out),
            "--bootstrap-resamples", "100"]  # fmt: skip
    assert main(argv) == 0
    assert "60 rows" in capsys.readouterr().out
    rows = [json.loads(line) for line in (out / "predictions.jsonl").open()]
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(rows) == metrics["n"] == 60
    # names map onto the model's classes (clean = 0, hate = 1, as in training)
    expected_gold = [1 if row["y"] == "hate" else 0 for row in _rows(60, 1)]
    assert [r["gold"] for r in rows] == expected_gold
    # the same probabilities as the saved classifier gives, the metrics recomputed from them
    model, tokenizer = load_classifier(trained)
    probs = predict(model, tokenizer, Dataset.from_dict({"text": [r["text"] for r in rows]}), 24)
    assert np.abs(probs - np.array([r["probs"] for r in rows])).max() < 1e-5
    pred = [r["pred"] for r in rows]
    scores = metrics["metrics"]
    assert scores["classification"]["accuracy"] == pytest.approx(
        np.mean(np.array(pred) == np.array(expected_gold))
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricWarning)  # terms without a gold negative
        expected = fprd([r["text"] for r in rows], expected_gold, pred, axis_terms("group"))
    assert scores["fprd"]["fprd"] == pytest.approx(expected.fprd)
    assert scores["fprd"]["per_term"] and "tpr-gap" in scores  # per-term and per-class tables
    assert metrics["intervals"]["fprd.fprd"]["estimate"] == pytest.approx(expected.fprd)
    assert metrics["max_length"] == 24 and metrics["model"]["start"] == "baseline"
    # refuses to overwrite; --overwrite replaces its own files and keeps the user's
    (out / "notes.txt").write_text("mine")
    assert main(argv) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main([*argv, "--overwrite", "--bootstrap-resamples", "0"]) == 0
    assert "intervals" not in json.loads((out / "metrics.json").read_text())
    assert (out / "notes.txt").read_text() == "mine"


def test_predict_takes_integer_labels_and_refuses_unknown_names(trained, tmp_path):
    rows = [{**row, "y": str(int(row["y"] == "hate"))} for row in _rows(30, 2)]
    source = _write(tmp_path / "ids.jsonl", rows)
    metrics = predict_file(
        PredictConfig(model_dir=str(trained), input=str(source), output=str(tmp_path / "ids"),
                      text_column="post", label_column="y", bootstrap_resamples=0)
    )  # fmt: skip
    gold = [json.loads(line)["gold"] for line in (tmp_path / "ids" / "predictions.jsonl").open()]
    assert gold == [int(row["y"]) for row in rows] and metrics["n"] == 30
    typo = _write(tmp_path / "typo.csv", _rows(30, 3, label_names=("clean", "hatee")))
    with pytest.raises(DataError, match="'hatee' are not classes of the model"):
        predict_file(PredictConfig(model_dir=str(trained), input=str(typo),
                                   output=str(tmp_path / "typo"), text_column="post",
                                   label_column="y"))  # fmt: skip
    assert not (tmp_path / "typo").exists()  # nothing written before the input was checked
    with pytest.raises(DataError, match="not a downstream model folder"):
        predict_file(PredictConfig(model_dir=str(tmp_path), input=str(source),
                                   output=str(tmp_path / "x"), text_column="post",
                                   label_column="y"))  # fmt: skip
