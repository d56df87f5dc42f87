"""What the command line shows: the package's own log lines, one progress bar per training
phase (:class:`peftdebias.training.progress.PhaseProgress`) and the results; the libraries'
load reports ("Some weights of ... were not initialized"), FutureWarnings and
DeprecationWarnings, and the progress bars of datasets and transformers (tokenizing,
loading and writing weights) only with ``--verbose``.

Set by :func:`quiet_libraries` around a command in :func:`peftdebias.cli.main`, and undone
after it: importing ``peftdebias`` (the Python API) changes no global logging or warning
state.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator

# read when the libraries are imported (the command line imports them lazily, after this)
QUIET_ENVIRONMENT = {
    "TRANSFORMERS_VERBOSITY": "error",
    "DATASETS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # also transformers' own bars (loading weights)
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}
LIBRARY_LOGGERS = ("transformers", "datasets", "peft", "accelerate", "huggingface_hub")


def setup_logging(verbose: bool) -> None:
    """The package's log lines on stderr: INFO and up (DEBUG with ``verbose``)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` in ``os.environ`` (where not set already) within the block."""
    added = {key: value for key, value in values.items() if key not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


@contextlib.contextmanager
def _library_levels(level: int) -> Iterator[None]:
    """The libraries' loggers at ``level`` or above within the block (for libraries imported
    already, which read the environment no more); their progress bars off."""
    loggers = [logging.getLogger(name) for name in LIBRARY_LOGGERS]
    before = [logger.level for logger in loggers]
    bars = _progress_bar_switches()
    for logger in loggers:
        logger.setLevel(max(level, logger.getEffectiveLevel()))
    for _, disable, _ in bars:
        disable()
    try:
        yield
    finally:
        for logger, old in zip(loggers, before, strict=True):
            logger.setLevel(old)
        for enabled, _, enable in bars:
            if enabled:
                enable()


def _progress_bar_switches() -> list[tuple[bool, Callable[[], None], Callable[[], None]]]:
    """``(enabled, disable, enable)`` of the progress bars of transformers and datasets,
    where imported already."""
    switches = []
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        enabled = hf_logging.is_progress_bar_enabled()
        switches.append((enabled, hf_logging.disable_progress_bar, hf_logging.enable_progress_bar))
    if "datasets" in sys.modules:
        from datasets.utils import (
            are_progress_bars_disabled,
            disable_progress_bars,
            enable_progress_bars,
        )

        enabled = not are_progress_bars_disabled()
        switches.append((enabled, disable_progress_bars, enable_progress_bars))
    return switches


@contextlib.contextmanager
def quiet_libraries(verbose: bool) -> Iterator[None]:
    """Within the block, unless ``verbose``: no library load reports, FutureWarnings,
    DeprecationWarnings or library progress bars (see the module docstring)."""
    if verbose:
        yield
        return
    with warnings.catch_warnings(), _environment(QUIET_ENVIRONMENT):
        for category in (FutureWarning, DeprecationWarning, PendingDeprecationWarning):
            warnings.simplefilter("ignore", category)
        with _library_levels(logging.ERROR):
            yield
