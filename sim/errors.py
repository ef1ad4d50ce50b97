"""Errors every layer may raise; kept outside the model so the engine need not import the model's config."""

from __future__ import annotations


class ConfigError(ValueError):
    """An input that is not allowed; ``str()`` is one line that names the field and the allowed values."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
