"""Inputs that used to load silently wrong (issue 15, item 4): each is refused with the file
and line at fault, or warned about."""

from __future__ import annotations

import json
import warnings

import pytest

from peftdebias.cda import CounterfactualAugmenter, WordList, load_word_list
from peftdebias.cli import main
from peftdebias.data import load, load_user_table
from peftdebias.data.tables import DataWarning, iter_jsonl, read_table
from peftdebias.errors import DataError
from peftdebias.tasks import get_task, load_task_splits

# --- quotes in tsv / csv ---------------------------------------------------------------------


def test_tsv_unterminated_quote_is_refused_at_its_line(tmp_path):
    path = tmp_path / "posts.tsv"
    path.write_text('text\tlabel\nhello\t0\n"broken quote\t1\nrow three\t0\nrow "four" x\t1\n')
    with pytest.raises(DataError, match=r"posts\.tsv, line 3: a quoted field .* lines 3-5"):
        load_user_table(path, "text", label_column="label")


def test_registered_tsv_with_unterminated_quote_is_refused(tmp_path):
    (tmp_path / "ghc").mkdir()
    rows = ["id\ttext\tis_hate", "1\tfine\t0", '2\t"oops\t1', "3\tmerged\t0", '4\tend"\t1']
    (tmp_path / "ghc" / "dev.tsv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"dev\.tsv, line 3: a quoted field"):
        load("ghc", "dev", tmp_path)


def test_tsv_with_csv_style_quoting_still_reads(tmp_path):
    # GHC quotes fields csv-style: "a ""quoted"" word" is one field with inner quotes.
    path = tmp_path / "ok.tsv"
    path.write_text('text\tlabel\n"He said ""no"" twice"\t0\nRestaurant " ? "\t1\n')
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        frame = read_table(path)
    assert frame["text"].tolist() == ['He said "no" twice', 'Restaurant " ? "']


def test_csv_rows_merged_by_a_quote_warn_but_multiline_text_does_not(tmp_path):
    merged = tmp_path / "merged.csv"
    merged.write_text('text,label\nhello,0\n"broken quote,1\nrow three,0\nrow "four",1\n')
    with pytest.warns(DataWarning, match=r"merged\.csv, line 3: a quoted field runs over"):
        read_table(merged)
    multiline = tmp_path / "multiline.csv"
    multiline.write_text('a,b,c\n"first line\nsecond line",x,y\nz,x,y\n')
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        assert len(read_table(multiline)) == 2


def test_empty_table_and_non_utf8_jsonl_name_the_file(tmp_path):
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    with pytest.raises(DataError, match=r"empty\.tsv: empty file"):
        read_table(empty)
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"text": "ok"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(DataError, match=r"latin\.jsonl, line 2: not UTF-8"):
        list(iter_jsonl(latin))


# --- labels of user tables -------------------------------------------------------------------


def _csv(path, labels):
    lines = ["text,label"] + [f"text number {i},{label}" for i, label in enumerate(labels)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_huge_integer_label_is_refused_with_its_line(tmp_path):
    path = _csv(tmp_path / "t.csv", ["0", "1"] * 10 + ["100000"])
    with pytest.raises(DataError, match=r"t\.csv, column label: integer labels .* 99998 id\(s\)"):
        load_user_table(path, "text", label_column="label")
    with pytest.raises(DataError, match="largest label 100000 at line 22"):
        load_user_table(path, "text", label_column="label")


def test_integer_labels_with_a_gap_are_refused(tmp_path):
    path = _csv(tmp_path / "gap.csv", ["0", "2"] * 5)
    with pytest.raises(DataError, match=r"never occur \(1; largest label 2 at line 3\)"):
        load_user_table(path, "text", label_column="label")


def test_single_class_is_refused(tmp_path):
    path = _csv(tmp_path / "one.csv", ["hate"] * 6)
    with pytest.raises(DataError, match=r"one\.csv, column label: 1 class\(es\) \('hate'\)"):
        load_user_table(path, "text", label_column="label")
    assert len(load_user_table(path, "text", label_column="label", min_classes=1)) == 6
    with pytest.raises(DataError, match="1 class"):
        load_user_table(_csv(tmp_path / "zero.csv", ["0"] * 4), "text", label_column="label")


def test_label_typos_warn_and_case_variants_are_refused(tmp_path):
    labels = ["pos", "neg"] * 50 + ["pso", "neg "]  # a typo, and a trailing space
    path = _csv(tmp_path / "typo.csv", labels)
    with pytest.warns(DataWarning, match=r"1 of 3 classes have very few examples: 'pso' \(1x, "):
        dataset = load_user_table(path, "text", label_column="label")
    assert dataset.features["label"].names == ["neg", "pos", "pso"]  # "neg " is "neg"
    cased = _csv(tmp_path / "cased.csv", ["pos", "neg"] * 5 + ["Pos"])
    with pytest.raises(DataError, match=r"labels 'Pos' \(line 12\) and 'pos' \(line 2\) differ"):
        load_user_table(cased, "text", label_column="label")


def test_balanced_labels_load_without_warning(tmp_path):
    path = _csv(tmp_path / "ok.csv", ["1", "0", "2"] * 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        dataset = load_user_table(path, "text", label_column="label")
    assert dataset.features["label"].names == ["0", "1", "2"]


def test_one_class_training_split_warns(tmp_path):
    path = _csv(tmp_path / "rare.csv", ["ok"] * 19 + ["spam"])
    with pytest.warns(DataWarning, match=r"train split: all 16 example\(s\) have label 'ok'"):
        splits = load_task_splits(get_task(str(path)), None, seed=0)  # "spam" carved to dev/test
    assert set(splits["train"]["label"][:]) == {0}


# --- predictions for ``peftdebias metrics`` --------------------------------------------------


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"gold": 7, "probs": [0.5, 0.5]}, "field gold=7 is not an index into probs"),
        ({"gold": -1, "probs": [0.5, 0.5]}, "field gold=-1 is not an index into probs"),
        ({"gold": 0, "probs": [float("nan"), 0.5]}, "field probs must hold finite numbers"),
        ({"gold": 0, "probs": [float("inf"), 0.5]}, "field probs must hold finite numbers"),
        ({"gold": 0, "probs": [0.2, 0.3, 0.5]}, "field probs has 3 values but line 1 has 2"),
    ],
)
def test_metrics_cli_refuses_bad_predictions(tmp_path, capsys, row, message):
    first = {"id": 1, "gold": 0, "pred": 0, "probs": [0.9, 0.1]}
    path = tmp_path / "predictions.jsonl"
    path.write_text(json.dumps(first) + "\n" + json.dumps({"id": 2, "pred": 0, **row}) + "\n")
    assert main(["metrics", "--predictions", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}, line 2: {message}" in err and "Traceback" not in err


# --- CDA word lists --------------------------------------------------------------------------


def test_word_in_two_groups_is_refused_with_lines(tmp_path):
    path = tmp_path / "words.csv"
    path.write_text("# pairs\nhe,she\nshe,they\n")
    with pytest.raises(DataError, match=r"'she' is word 2 of line 2 .* word 1 of line 3"):
        load_word_list(path)
    with pytest.raises(DataError, match="'she' is word 2 of tuple 1"):
        WordList("gender", (("he", "she"), ("she", "they")))


def test_word_repeated_in_a_user_list_is_refused(tmp_path):
    path = tmp_path / "words.json"
    path.write_text(json.dumps({"gender": [["he", "she"], ["they", "she"]]}))
    # Before: accepted, and "they are there" became "she are there".
    with pytest.raises(DataError, match=r"1 swap\(s\) go one way \('they' -> 'she' but"):
        load_word_list(path)


def test_shipped_and_published_lists_still_load(data_dir):
    for spec in ("gender", "race", "religion", "group", "bias-bench:gender", "peft-debias:group"):
        augmenter = CounterfactualAugmenter(load_word_list(spec, data_dir))
        assert augmenter.counterfactuals("she said he is there") or spec.endswith(
            ("race", "religion", "group")
        )
