"""Data sets: a registry of named loaders plus the user's own tables and text corpora.

Every loader returns a ``datasets.Dataset`` with normalised columns (``id``, ``text``,
optional ``text_pair``, ``label`` as a ``ClassLabel``, ``attribute`` = protected attribute);
see docs/data.md for each set's columns and label encoding.
"""

from .download import fetch
from .inventory import format_inventory, inventory
from .registry import (
    DataSource,
    get_source,
    list_sources,
    load,
    locate,
    register,
    resolve_cache_dir,
    resolve_data_dir,
)
from .user import load_text_corpus, load_user_splits, load_user_table

__all__ = [
    "DataSource",
    "fetch",
    "format_inventory",
    "get_source",
    "inventory",
    "list_sources",
    "load",
    "load_text_corpus",
    "load_user_splits",
    "load_user_table",
    "locate",
    "register",
    "resolve_cache_dir",
    "resolve_data_dir",
]
