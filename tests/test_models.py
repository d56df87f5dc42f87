"""Model resolution: alias, folders, hub ids and the errors for missing models."""

from __future__ import annotations

import pytest

from peftdebias.errors import ModelNotFoundError
from peftdebias.models import (
    load_masked_lm,
    load_sequence_classifier,
    load_tokenizer,
    model_fingerprint,
    resolve_model,
)


def test_minilm_alias_resolves_to_packaged_folder():
    resolved = resolve_model("minilm")
    assert resolved.local
    assert resolved.location.endswith("all-MiniLM-L6-v2") or "minilm" in resolved.location.lower()
    assert resolve_model(None) == resolved


def test_tiny_folder_loads_with_complete_head(tiny_bert, tiny_roberta):
    for folder in (tiny_bert, tiny_roberta):
        model, missing = load_masked_lm(folder)
        assert missing == []
        assert model.config.hidden_size == 32
    assert load_tokenizer(tiny_bert)("he said")["input_ids"][0] == 101


def test_raw_minilm_masked_lm_reports_missing_head(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model, missing = load_masked_lm("minilm-raw")
    assert missing, "all-MiniLM-L6-v2 ships no MLM head"
    assert all(not name.startswith("bert.") for name in missing)
    assert model.config.num_hidden_layers == 6


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve_model(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match=r"no config\.json"):
        resolve_model(tmp_path / "empty")


def test_unreachable_hub_id_is_one_clear_line(monkeypatch):
    import huggingface_hub.constants

    # the environment variable is read at import time; patch the live flag (no network use)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelNotFoundError) as info:
        load_tokenizer("some-org/model-that-does-not-exist")
    message = str(info.value)
    assert "some-org/model-that-does-not-exist" in message and "\n" not in message
    assert "download" in message


def test_fingerprint_distinguishes_checkpoints(tiny_bert, tiny_roberta):
    bert = load_sequence_classifier(tiny_bert, num_labels=3)
    assert bert.num_labels == 3
    again, _ = load_masked_lm(tiny_bert)
    other, _ = load_masked_lm(tiny_roberta)
    assert model_fingerprint(bert) == model_fingerprint(again)
    assert model_fingerprint(bert) != model_fingerprint(other)
