"""Debiasing modules behind one interface (see ``docs/methods.md``).

method = get_method("lora")                # paper defaults; get_method("sft", density=0.02)
method.calibrate(model, train_fn)          # no-op except 'sft', 'gps', 'spt', 'lightpeft'
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
    register_method,
    set_trainable,
    unwrap,
)
from .registry import (
    METHOD_DISPLAY_NAMES,
    METHOD_HELP,
    METHODS,
    get_method,
    load_module,
    method_display_name,
    method_of,
    module_weights_path,
)
from .sparse import selection_overlap

__all__ = [
    "METHODS",
    "METHOD_DISPLAY_NAMES",
    "METHOD_HELP",
    "DebiasMethod",
    "MethodConfig",
    "check_base_model",
    "count_parameters",
    "get_method",
    "load_module",
    "method_display_name",
    "method_of",
    "module_parameters",
    "module_weights_path",
    "parameter_groups",
    "read_module_config",
    "register_method",
    "selection_overlap",
    "set_trainable",
    "unwrap",
]
