"""Sub-commands of the ``peftdebias`` CLI (one module each, no logic)."""
