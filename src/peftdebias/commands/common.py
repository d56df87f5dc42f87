"""Options shared by several sub-commands, so they are spelt the same everywhere."""

from __future__ import annotations

import argparse

# peftdebias.models.DEFAULT_MODEL, spelt out: importing models (torch, transformers) here
# would make every `peftdebias --help` take seconds
DEFAULT_MODEL = "minilm"


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        default=None,
        help="data directory laid out like shared/data (default: $PEFTDEBIAS_DATA_DIR)",
    )


def add_model(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="Hugging Face model id, local folder, or 'minilm' "
        "(packaged all-MiniLM-L6-v2; default)",
    )


def add_output(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument("--output", required=required, help="output file or directory")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing output instead of refusing"
    )


def add_seed(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=42, help="random seed (default: 42)")


def config_from_args(config_class: type, args: argparse.Namespace, **explicit):
    """An instance of the dataclass ``config_class`` from the options of the same name in
    ``args``; ``explicit`` values (options that need parsing first) take precedence."""
    import dataclasses

    names = {field.name for field in dataclasses.fields(config_class)}
    values = {key: value for key, value in vars(args).items() if key in names}
    return config_class(**{**values, **explicit})


def single_or_list(values: list[str] | None) -> str | list[str] | None:
    """A repeatable option's values: one value as itself (as before the option could repeat),
    several as a list, none as ``None``."""
    if not values:
        return None
    return values[0] if len(values) == 1 else values
