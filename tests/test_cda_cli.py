"""``peftdebias cda`` end to end, and CDA file input/output."""

from __future__ import annotations

import json

import pytest

from peftdebias.cda import CounterfactualAugmenter, augment_file, load_word_list, read_texts
from peftdebias.cli import main
from peftdebias.errors import DataError


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def texts_file(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text(
        "He loves his mother.\nNo attribute here.\n\nThe Black man and the white woman.\n"
    )
    return path


def test_cli_two_sided(tmp_path, texts_file, capsys) -> None:
    output = tmp_path / "out.jsonl"
    assert (
        main(["cda", "--axis", "gender", "--input", str(texts_file), "--output", str(output)]) == 0
    )
    rows = read_jsonl(output)
    assert [(r["text"], r["source"], r["rotation"]) for r in rows] == [
        ("He loves his mother.", 0, 0),
        ("She loves her father.", 0, 1),
        ("No attribute here.", 1, 0),
        ("The Black man and the white woman.", 2, 0),
        ("The Black woman and the white man.", 2, 1),
    ]
    assert rows[1] == {
        "text": "She loves her father.",
        "source": 0,
        "original": "He loves his mother.",
        "rotation": 1,
        "matched": ["he", "his", "mother"],
        "is_counterfactual": True,
    }
    assert "3 texts, 2 with attribute words (66.7%); wrote 3 originals + 2 counterfactuals" in (
        capsys.readouterr().out
    )


def test_cli_one_sided_drop_unmatched_race(tmp_path, texts_file) -> None:
    output = tmp_path / "out.jsonl"
    argv = ["cda", "--axis", "race", "--input", str(texts_file), "--output", str(output)]
    assert main([*argv, "--no-keep-original", "--drop-unmatched"]) == 0
    assert [r["text"] for r in read_jsonl(output)] == [
        "The White man and the asian woman.",
        "The Asian man and the black woman.",
    ]


def test_cli_refuses_existing_output(tmp_path, texts_file, capsys) -> None:
    output = tmp_path / "out.jsonl"
    output.write_text("keep me\n")
    argv = ["cda", "--axis", "gender", "--input", str(texts_file), "--output", str(output)]
    assert main(argv) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert output.read_text() == "keep me\n"
    assert main([*argv, "--overwrite"]) == 0
    assert len(read_jsonl(output)) == 5


def test_cli_user_word_file_and_jsonl_input(tmp_path) -> None:
    words = tmp_path / "ethnicity.csv"
    words.write_text("middle eastern,latino\n")
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"text": "Middle Eastern food", "id": 7}) + "\n")
    output = tmp_path / "out.jsonl"
    argv = ["cda", "--words", str(words), "--input", str(source), "--output", str(output)]
    assert main(argv) == 0
    assert [r["text"] for r in read_jsonl(output)] == ["Middle Eastern food", "Latino food"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "give --axis (gender, race, religion, group) or --words FILE"),
        (["--axis", "age"], "unknown CDA axis 'age'"),
        (
            ["--axis", "gender", "--words", "missing.json"],
            "word list file missing.json does not exist",
        ),
    ],
)
def test_cli_bad_options(tmp_path, texts_file, capsys, extra, message) -> None:
    output = tmp_path / "out.jsonl"
    assert main(["cda", *extra, "--input", str(texts_file), "--output", str(output)]) == 2
    assert message in capsys.readouterr().err
    assert not output.exists()


def test_cli_missing_input_and_same_path(tmp_path, texts_file, capsys) -> None:
    output = tmp_path / "out.jsonl"
    argv = ["cda", "--axis", "gender", "--output", str(output), "--input"]
    assert main([*argv, str(tmp_path / "none.txt")]) == 2
    assert "none.txt does not exist" in capsys.readouterr().err
    same = ["cda", "--axis", "gender", "--input", str(texts_file), "--output", str(texts_file)]
    assert main([*same, "--overwrite"]) == 2
    assert "is the input file" in capsys.readouterr().err
    assert not output.exists()


def test_read_texts_errors(tmp_path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a"}\n{"body": "b"}\n')
    with pytest.raises(DataError, match=r"bad\.jsonl, line 2: missing field\(s\) text"):
        read_texts(bad)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    with pytest.raises(DataError, match="holds no text"):
        read_texts(empty)


def test_augment_file_summary(tmp_path, texts_file) -> None:
    augmenter = CounterfactualAugmenter(load_word_list("race"))
    summary = augment_file(augmenter, texts_file, tmp_path / "o.jsonl", drop_unmatched=True)
    assert (summary.inputs, summary.matched, summary.originals, summary.counterfactuals) == (
        3,
        1,
        1,
        2,
    )
    assert summary.written == 3
