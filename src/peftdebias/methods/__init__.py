"""Debiasing modules behind one interface (see ``docs/methods.md``).

method = get_method("lora")                # paper defaults; get_method("sft", density=0.02)
method.calibrate(model, train_fn)          # no-op except 'sft', 'gps', 'spt'
model = method.attach(model)               # only the module is trainable
train_fn(model); method.save(model, folder)
clf = load_module(classifier, folder)      # downstream: module frozen
set_trainable(clf, module=False, backbone=True, head=True)
"""

from .base import (
    DebiasMethod,
    MethodConfig,
    check_base_model,
    count_parameters,
    module_parameters,
    parameter_groups,
    read_module_config,
    set_trainable,
    unwrap,
)
from .registry import METHOD_HELP, METHODS, get_method, load_module, method_of
from .sparse import selection_overlap

__all__ = [
    "METHODS",
    "METHOD_HELP",
    "DebiasMethod",
    "MethodConfig",
    "check_base_model",
    "count_parameters",
    "get_method",
    "load_module",
    "method_of",
    "module_parameters",
    "parameter_groups",
    "read_module_config",
    "selection_overlap",
    "set_trainable",
    "unwrap",
]
