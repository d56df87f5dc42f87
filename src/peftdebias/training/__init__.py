"""Training objectives and the Trainer used by the upstream phase."""
