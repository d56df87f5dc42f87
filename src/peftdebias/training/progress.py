"""One progress bar per training phase: :class:`PhaseProgress` replaces the Trainer's own
progress callback, names its bar after the phase and keeps the loss dictionaries and the
evaluation bars for debug logging (``peftdebias -v``); the losses stay in
``trainer.state.log_history`` either way."""

from __future__ import annotations

import logging
import sys

from tqdm.auto import tqdm
from transformers import Trainer
from transformers.trainer_callback import ProgressCallback

logger = logging.getLogger("peftdebias")
NON_TTY_REFRESH_S = 30.0  # seconds between refreshes of a bar written to a file or pipe


def _verbose() -> bool:
    return logger.isEnabledFor(logging.DEBUG)


class PhaseProgress(ProgressCallback):
    """The training bar of one phase, described as ``phase``; log lines and evaluation bars
    only with debug logging."""

    def __init__(self, phase: str) -> None:
        super().__init__()
        self.phase = phase

    def on_train_begin(self, args, state, control, **kwargs) -> None:
        if state.is_world_process_zero:
            # into a log file (no terminal): a refresh every 30 s, not 10 a second
            every = 0.1 if sys.stderr.isatty() else NON_TTY_REFRESH_S
            self.training_bar = tqdm(
                total=state.max_steps, desc=self.phase, dynamic_ncols=True, mininterval=every
            )
        self.current_step = 0

    def on_prediction_step(self, args, state, control, **kwargs) -> None:
        if _verbose():
            super().on_prediction_step(args, state, control, **kwargs)

    def on_log(self, args, state, control, logs=None, **kwargs) -> None:
        if _verbose():
            super().on_log(args, state, control, logs=logs, **kwargs)


def show_phase(trainer: Trainer, phase: str) -> Trainer:
    """``trainer`` with a :class:`PhaseProgress` bar named ``phase`` in place of its own
    progress bar (our training arguments set ``disable_tqdm=False``)."""
    trainer.pop_callback(ProgressCallback)
    trainer.add_callback(PhaseProgress(phase))
    return trainer
