"""Documents: versions (none is ever overwritten), their provenance, diffs and exports."""
