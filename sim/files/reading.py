"""Reading a TOML input (a config or a spec): :func:`read_toml`, the same way for every file, with a size cap,
UTF-8 and one-line errors."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from sim.errors import ConfigError

MAX_TOML_BYTES = 1_000_000  # configs and specs are a few KB; this refuses /dev/zero and data files given by mistake


def read_toml(path: str | Path, key: str) -> tuple[dict[str, Any], str]:
    """A TOML file's data and text; every problem is one :class:`ConfigError` under ``key`` (the option or spec key
    that named the file): missing, a folder, a broken link, unreadable, too large, not UTF-8, not TOML, too deep."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(key, f"{path} is a folder, not a TOML file")
    if path.is_symlink() and not path.exists():
        raise ConfigError(key, f"{path} is a broken symbolic link")
    try:
        with open(path, "rb") as stream:
            raw = stream.read(MAX_TOML_BYTES + 1)
    except OSError as error:
        raise ConfigError(key, f"cannot read {path}: {error.strerror or error}") from None
    if len(raw) > MAX_TOML_BYTES:
        raise ConfigError(key, f"{path} is larger than {MAX_TOML_BYTES:,} bytes; a config or spec is a few KB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(key, f"{path} is not UTF-8 text (byte {error.start}: {raw[error.start]:#04x})") from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(key, f"{path} is not valid TOML: {error}") from None
    except RecursionError:
        raise ConfigError(key, f"{path} nests tables or arrays too deeply to read") from None
