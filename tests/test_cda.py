"""CDA: hand-checked swaps, augmentation options, word-list loading and bad input."""

from __future__ import annotations

import json

import pytest

from peftdebias.cda import (
    AXES,
    CounterfactualAugmenter,
    WordList,
    load_word_list,
    match_case,
    read_word_lists,
)
from peftdebias.errors import ConfigError, DataError

GENDER = CounterfactualAugmenter(load_word_list("gender"))
RACE = CounterfactualAugmenter(load_word_list("race"))
GROUP = CounterfactualAugmenter(load_word_list("group"))


def one(augmenter: CounterfactualAugmenter, text: str) -> str:
    (counterfactual,) = augmenter.counterfactuals(text)
    return counterfactual


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("He said HIS father's car is hers.", "She said HER mother's car is his."),
        ("he He HE", "she She SHE"),
        ("he and he, and then he left", "she and she, and then she left"),
        ("The man's hat and the men's room", "The woman's hat and the women's room"),
        ("He'll go with his dad.", "She'll go with her mom."),
        ("Mr. Smith met MRS. Jones and Mr Brown", "Mrs. Smith met MR. Jones and Mrs Brown"),
        ("the man\u2019s hat, Ma\u2019am", "the woman\u2019s hat, Sir"),
        ("Uncle Bob and his Nephews", "Aunt Bob and her Nieces"),
        ("(he)", "(she)"),
        ("my ex-wife and her father-in-law", "my ex-husband and his mother-in-law"),
        ("male-only, all-female", "female-only, all-male"),
    ],
)
def test_gender_swaps(text: str, expected: str) -> None:
    assert one(GENDER, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I saw her.", "I saw him."),
        ("I saw her", "I saw him"),
        ("her book", "his book"),
        ("HER car", "HIS car"),
        ("Give her the keys", "Give him the keys"),
        ("with her, not him", "with him, not her"),
        ("I told her that her sister called", "I told him that his brother called"),
        ("her well-being", "his well-being"),
        ("Let her go", "Let him go"),
        ("his or her book", "her or his book"),
    ],
)
def test_her_follows_the_next_word(text: str, expected: str) -> None:
    assert one(GENDER, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Hershey's mankind sheriff history",
        "themselves Manchester shepherd hisself",
        "whitewash on the blackboard in Asiatic style",
        "he_said manly2 4men",
    ],
)
def test_substrings_not_matched(text: str) -> None:
    for augmenter in (GENDER, RACE, GROUP):
        assert augmenter.matches(text) == []
        assert augmenter.counterfactuals(text) == []


def test_hyphen_is_a_word_boundary() -> None:
    assert GROUP.counterfactuals("anti-white and non-Muslims") == [
        "anti-asian and non-Jews",
        "anti-black and non-Christians",
    ]
    # a listed hyphenated term wins over its parts (longest match first)
    assert RACE.matches("African-Americans") == ["african-americans"]


def test_text_whose_length_changes_when_lowercased() -> None:
    # "İ".lower() is two characters: such texts take the case-insensitive fallback regex
    assert one(GENDER, "İstanbul: He met HIS wife") == "İstanbul: She met HER husband"
    assert GENDER.matches("İ he-man") == ["he", "man"]


def test_matches_lists_every_occurrence_in_order() -> None:
    assert GENDER.matches("He met HER and his wife; he left.") == ["he", "her", "his", "wife", "he"]


def test_ternary_rotation_is_consistent_across_the_sentence() -> None:
    assert RACE.counterfactuals("black, white and Asian") == [
        "white, asian and Black",
        "asian, black and White",
    ]
    assert RACE.counterfactuals("African American and white people in Africa") == [
        "European American and asian people in Europe",
        "Asian American and black people in Asia",
    ]


def test_multi_word_terms_span_any_whitespace() -> None:
    assert RACE.matches("an african\n  american man") == ["african american"]
    assert RACE.counterfactuals("an african\n  american man")[0] == "an european american man"


def test_user_multi_word_list() -> None:
    augmenter = CounterfactualAugmenter(
        WordList("ethnicity", (("middle eastern", "latino", "east asian"),))
    )
    assert augmenter.counterfactuals("Middle Eastern food, MIDDLE EASTERN music") == [
        "Latino food, LATINO music",
        "East Asian food, EAST ASIAN music",
    ]


def test_mixed_arity_gives_largest_arity_minus_one() -> None:
    # group mixes pairs (gay, straight) and triples (jews, christians, muslims): a pair term
    # is unchanged in counterfactual 2 because (0 + 2) mod 2 = 0.
    assert GROUP.counterfactuals("gay jews") == ["straight christians", "gay muslims"]
    assert GROUP.counterfactuals("gay people") == ["straight people"]


def test_first_tuple_wins_for_other_ambiguous_terms() -> None:
    assert GENDER.ambiguous["lady"] == ("gentleman", "lord")
    assert one(GENDER, "a lady") == "a gentleman"
    assert RACE.ambiguous["asian"] == ("black", "african")
    assert RACE.counterfactuals("asian") == ["black", "white"]


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        ("he", "she", "she"),
        ("He", "she", "She"),
        ("HE", "she", "SHE"),
        ("hE", "she", "she"),
        ("African American", "european american", "European American"),
        ("African american", "european american", "European american"),
        ("African-American", "european-american", "European-American"),
        ("MA'AM", "sir", "SIR"),
    ],
)
def test_match_case(source: str, target: str, expected: str) -> None:
    assert match_case(source, target) == expected


def test_augment_options() -> None:
    texts = ["He ran.", "It rained."]

    def rows(**options):
        return [(r.text, r.source, r.rotation, r.matched) for r in GENDER.augment(texts, **options)]

    assert rows() == [
        ("He ran.", 0, 0, ("he",)),
        ("She ran.", 0, 1, ("he",)),
        ("It rained.", 1, 0, ()),
    ]
    assert rows(keep_original=False) == [("She ran.", 0, 1, ("he",)), ("It rained.", 1, 0, ())]
    assert rows(drop_unmatched=True) == [("He ran.", 0, 0, ("he",)), ("She ran.", 0, 1, ("he",))]
    assert rows(keep_original=False, drop_unmatched=True) == [("She ran.", 0, 1, ("he",))]
    assert GENDER.augment_texts(texts, keep_original=False) == ["She ran.", "It rained."]
    record = GENDER.augment(["He ran."])[1]
    assert record.to_dict() == {
        "text": "She ran.",
        "source": 0,
        "original": "He ran.",
        "rotation": 1,
        "matched": ["he"],
        "is_counterfactual": True,
    }


def test_augment_rejects_non_text() -> None:
    with pytest.raises(DataError, match="text 1 is a NoneType"):
        GENDER.augment(["he", None])


def test_shipped_lists() -> None:
    arities = {axis: load_word_list(axis).arity for axis in AXES}
    assert arities == {"gender": 2, "race": 3, "religion": 3, "group": 3}
    for axis in AXES:
        word_list = load_word_list(axis)
        assert word_list.axis == axis
        assert all(term == term.casefold().strip() for term in word_list.terms)
    assert "her" in GENDER._context  # the his/him rule is active for the shipped list


def test_unknown_axis_lists_valid_ones() -> None:
    with pytest.raises(ConfigError, match="unknown CDA axis 'sexuality'; valid axes: gender, race"):
        load_word_list("sexuality")


def test_missing_file(tmp_path) -> None:
    with pytest.raises(DataError, match=r"word list file .*nope\.json does not exist"):
        load_word_list(tmp_path / "nope.json")


def test_empty_word_list_names_file(tmp_path) -> None:
    path = tmp_path / "empty.json"
    path.write_text('{"gender": []}')
    with pytest.raises(DataError, match=rf"word list {path} has no tuples for axis 'gender'"):
        load_word_list(path)
    blank = tmp_path / "blank.csv"
    blank.write_text("# only a comment\n\n")
    with pytest.raises(DataError, match=rf"word list {blank} has no tuples"):
        load_word_list(blank)


def test_csv_and_tsv_lists(tmp_path) -> None:
    path = tmp_path / "ethnicity.csv"
    path.write_text("# group a, group b\nMiddle Eastern, Latino\n\nArab,Hispanic\n")
    word_list = load_word_list(path)
    assert (word_list.axis, word_list.tuples) == (
        "ethnicity",
        (("middle eastern", "latino"), ("arab", "hispanic")),
    )
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("he\tshe\n")
    assert load_word_list(tsv, axis="sex").tuples == (("he", "she"),)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.csv", "he,she\nking\n", r"bad\.csv, line 2: need at least two non-empty terms"),
        ("dup.csv", "he,she\n\nhe,He\n", r"dup\.csv, line 3: terms must differ"),
        ("syntax.json", '{"gender": [\n ["he", "she"],\n ["king" "queen"]\n]}', r"line 3"),
        ("entry.json", '{"gender": [["he", "she"], "king"]}', r"axis 'gender', entry 2"),
        ("number.json", '{"gender": [["he", 3]]}', r"entry 1: every term must be a string"),
        ("shape.json", '[["he", "she"]]', r"expected a JSON object"),
    ],
)
def test_malformed_files_name_file_and_place(tmp_path, name, content, message) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_word_lists(path)


def test_json_with_several_axes_needs_axis(tmp_path) -> None:
    path = tmp_path / "lists.json"
    path.write_text(json.dumps({"gender": [["he", "she"]], "race": [["black", "white"]]}))
    with pytest.raises(ConfigError, match=r"several axes \(gender, race\); choose one with --axis"):
        load_word_list(path)
    with pytest.raises(
        ConfigError, match=r"has no axis 'religion'; axes in the file: gender, race"
    ):
        load_word_list(path, axis="religion")
    assert load_word_list(path, axis="race").tuples == (("black", "white"),)


def test_bias_bench_lists(data_dir) -> None:
    gender = load_word_list("bias-bench:gender", data_dir)
    assert (len(gender), gender.arity) == (57, 2)
    assert (
        len(load_word_list("bias-bench:race", data_dir)),
        load_word_list("bias-bench:race", data_dir).arity,
    ) == (6, 3)
    group = load_word_list("peft-debias:group", data_dir)
    assert (len(group), group.arity) == (22, 3)
    assert ("allah", "god") in group.tuples
    with pytest.raises(
        ConfigError, match="has no axis 'group'; axes in the file: gender, religion, race"
    ):
        load_word_list("bias-bench:group", data_dir)
    # bias-bench lists both (guy, gal) and (guy, girl): the first wins, and girl -> boy.
    augmenter = CounterfactualAugmenter(gender)
    assert augmenter.counterfactuals("The guy and the girl") == ["The gal and the boy"]


# Terms of the published lists left out of ours on purpose (see docs/cda.md).
EXCLUDED = {"gender": {"miss"}, "race": {"america", "china"}, "religion": set()}


@pytest.mark.parametrize("axis", ["gender", "race", "religion"])
def test_shipped_lists_cover_bias_bench(data_dir, axis) -> None:
    ours = load_word_list(axis).terms
    theirs = load_word_list(f"bias-bench:{axis}", data_dir).terms
    assert theirs - ours == EXCLUDED[axis]


def test_shipped_group_covers_reference_group(data_dir) -> None:
    theirs = load_word_list("peft-debias:group", data_dir).terms
    assert theirs - load_word_list("group").terms == {"america", "china"}


def test_word_list_data_sets(data_dir) -> None:
    from peftdebias.data.registry import get_source, load

    assert get_source("cda-words").kind == "words"
    table = load("cda-words", "all", data_dir)
    assert table.num_rows == 57 + 6 + 6
    assert table[0] == {"axis": "gender", "terms": ["actor", "actress"]}
    reference = load("cda-words-peftdebias", "all", data_dir)
    assert reference.num_rows == 57 + 6 + 6 + 22
    assert reference.filter(lambda row: row["axis"] == "group").num_rows == 22
