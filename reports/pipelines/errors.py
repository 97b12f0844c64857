"""What a pipeline raises when a model's output is not what the stage asked for."""

from __future__ import annotations


class OutputInvalid(Exception):
    """The model's output does not have the shape the stage asked for."""
