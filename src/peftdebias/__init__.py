"""peftdebias: parameter-efficient debiasing of language models (PEFTDebias, EMNLP 2023).

Upstream, a small PEFT module is trained with masked-LM on counterfactually augmented text
while the backbone stays frozen; downstream, the module is frozen inside the model and the
rest is fine-tuned on a task. See README.md for the command line and the Python API.
"""

__version__ = "0.1.0"
