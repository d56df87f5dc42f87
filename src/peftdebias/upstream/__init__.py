"""Upstream phase of PEFTDebias: learn a debiasing module with CDA + masked LM.

The steps of :func:`train_upstream` (``pipeline.py``), one module each:

1. ``config``: check every option and file once (:func:`validate_upstream`), then resolve
   the preset's numbers, the method and the axes' word lists (:func:`resolve_plan`).
2. ``corpus``: load the corpus, hold out a slice of the original texts (split before
   augmentation, so no counterfactual of a held-out sentence is trained on) and augment both
   parts with counterfactual data augmentation along one bias axis (or several,
   ``axis="gender,race"``: every text gets the counterfactuals of each axis it matches, one
   joint module; ``cda.MultiAxisAugmenter``).
3. ``steps``: load the base model with a masked-LM head; if the checkpoint has no trained
   head (e.g. ``minilm-raw``), warm the head up on the ORIGINAL corpus with the encoder
   frozen, then freeze it; attach the PEFT module (every backbone weight frozen; sparse
   methods calibrate first) and train only the module with the masked-LM objective
   (optionally plus counterfactual consistency), keeping the checkpoint with the best
   held-out loss.
4. ``artefact``: save the module (safetensors + config) and ``debias.json``, atomically.

``load``: :func:`load_debiased_lm`, a masked LM with the module(s) an upstream run wrote.
"""

from __future__ import annotations

from ..lazy import lazy_exports

# public name -> submodule that defines it; imported on first use, so that the light
# ``options`` module (read by ``peftdebias upstream --help``) loads without torch
_API: dict[str, str] = {
    "HEAD_FILE": "artefact",
    "UpstreamConfig": "options",
    "UpstreamResult": "config",
    "build_corpus": "corpus",
    "load_debiased_lm": "load",
    "train_upstream": "pipeline",
    "validate_upstream": "config",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, globals(), _API)
