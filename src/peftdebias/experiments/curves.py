"""The upstream modules of a grid: trainable share, held-out MLM loss curve, and whether the
loss had flattened when training stopped (issue 13: modules "trained until their held-out
loss has flattened").

A curve has **flattened** when the held-out loss of the last evaluation is at most
``FLAT`` (1 %) below the best loss of the evaluations before it (or above it).
"""

from __future__ import annotations

from typing import Any

FLAT = 0.01


def flattened(curve: list[dict[str, Any]], tolerance: float = FLAT) -> bool | None:
    """Whether the last held-out loss improves on the earlier best by at most ``tolerance``
    (relative); None with fewer than two evaluations."""
    losses = [point["heldout_loss"] for point in curve]
    if len(losses) < 2:
        return None
    earlier = min(losses[:-1])
    return losses[-1] >= earlier * (1 - tolerance)


def curves_markdown(upstream: dict[str, dict[str, Any]]) -> list[str]:
    """The report section listing each upstream module (``label -> debias.json``)."""
    if not upstream:
        return []
    steps = sorted({p["step"] for meta in upstream.values()
                    for p in meta.get("training", {}).get("curve") or []})  # fmt: skip
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
        training = meta.get("training", {})
        curve = training.get("curve") or []
        by_step = {p["step"]: p["heldout_loss"] for p in curve}
        flat = flattened(curve)
        cells = [f"{by_step[s]:.3f}" if s in by_step else "–" for s in steps]
        lines.append(
            f"| {label} | {meta.get('trainable_percent', float('nan')):.3f} | "
            f"{training.get('steps', '–')} | {training.get('seconds', '–')} | "
            f"{meta.get('heldout_before', {}).get('loss', float('nan')):.3f} | "
            + " | ".join(cells)
            + f" | {'–' if flat is None else ('yes' if flat else 'no')} |"
        )
    return [*lines, ""]
