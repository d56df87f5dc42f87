"""The upstream modules of a grid: trainable share, held-out MLM loss curve, and whether the
loss had flattened when training stopped (issue 13: modules "trained until their held-out
loss has flattened").

A curve has **flattened** when the held-out loss of the last evaluation is at most
``FLAT`` (1 %) below the best loss of the evaluations before it (or above it).
"""

from __future__ import annotations

from .records import CurvePoint, ModuleRecord

FLAT = 0.01


def flattened(curve: list[CurvePoint], tolerance: float = FLAT) -> bool | None:
    """Whether the last held-out loss improves on the earlier best by at most ``tolerance``
    (relative); None with fewer than two evaluations."""
    losses = [point.heldout_loss for point in curve]
    if len(losses) < 2:
        return None
    earlier = min(losses[:-1])
    return losses[-1] >= earlier * (1 - tolerance)


def curves_markdown(upstream: dict[str, ModuleRecord]) -> list[str]:
    """The report section listing each upstream module (``label -> debias.json``)."""
    if not upstream:
        return []
    curves = {label: _curve(meta) for label, meta in upstream.items()}
    steps = sorted({p.step for curve in curves.values() for p in curve})
    lines = [
        "## Upstream modules: held-out MLM loss",
        "",
        "Held-out masked-LM loss on the module's corpus (CDA applied) before training and at "
        "each evaluation; flat: the last value is within 1 % of the best earlier one. The "
        "module kept is the checkpoint of lowest held-out loss.",
        "",
        "| module | trainable % | steps | seconds | before | "
        + " | ".join(str(s) for s in steps)
        + " | flat |",
        "|---|---|---|---|---|" + "---|" * len(steps) + "---|",
    ]
    for label, meta in sorted(upstream.items()):
        training = meta.training
        by_step = {p.step: p.heldout_loss for p in curves[label]}
        flat = flattened(curves[label])
        cells = [f"{by_step[s]:.3f}" if s in by_step else "–" for s in steps]
        before = meta.heldout_before.loss if meta.heldout_before else None
        lines.append(
            f"| {label} | {_number(meta.trainable_percent):.3f} | "
            f"{_or_dash(training.steps if training else None)} | "
            f"{_or_dash(training.seconds if training else None)} | "
            f"{_number(before):.3f} | "
            + " | ".join(cells)
            + f" | {'–' if flat is None else ('yes' if flat else 'no')} |"
        )
    return [*lines, ""]


def _curve(meta: ModuleRecord) -> list[CurvePoint]:
    return (meta.training.curve if meta.training else None) or []


def _number(value: float | None) -> float:
    return float("nan") if value is None else value


def _or_dash(value: object) -> object:
    return "–" if value is None else value
