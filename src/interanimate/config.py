"""The one config loader of the package: typed dataclasses from YAML, validated at load time.

Training (``interanimate.training.config``), motion (``interanimate.motion.train``) and dataset recipes
(``interanimate.datasets.recipe``) all load through :func:`load_typed_config`. Every YAML key maps to a dataclass field;
an unknown key, a wrong type or a bad value fails with one line naming the key's full path (``optim.lr: expected a
number, got 'fast'``). A top-level ``base: OTHER.yaml`` (relative to the file) is read first and merged under the file
(mappings key by key, anything else replaced); ``--set key.path=value`` overrides apply last, before validation, so
they are checked the same way.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from interanimate.errors import UserError

T = TypeVar("T")


class ConfigError(UserError):
    """A bad configuration; the message names the key."""


def load_typed_config(path: str | Path, cls: type[T], overrides: list[str] = ()) -> T:
    """Read a YAML file (with its ``base:`` chain) into the dataclass ``cls``; ``overrides`` are ``dotted.key=value``."""
    return typed_from_dict(cls, read_yaml_with_base(Path(path)), overrides)


def typed_from_dict(cls: type[T], data: dict, overrides: list[str] = ()) -> T:
    data = apply_overrides(dict(data or {}), list(overrides))
    return build(cls, data)


def _convert(value: Any, hint: Any, key: str) -> Any:
    """Check ``value`` against the type hint ``hint``; build nested dataclasses. Raise naming ``key``."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(value, option, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"{key}: bad value {value!r}")
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return build(hint, value, key + ".")
    if origin is list or hint is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (item,) = typing.get_args(hint) or (Any,)
        return [_convert(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str):  # YAML reads 1e-4 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    return value


def build(cls, data: dict, prefix: str = ""):
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(prefix + k for k in unknown)}; "
                          f"known under {prefix.rstrip('.') or 'the top level'}: {', '.join(sorted(names))}")
    kwargs = {name: _convert(value, hints[name], prefix + name) for name, value in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: {err}") from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """``'optim.lr=1e-3'`` -> (['train', 'lr'], 0.001), the value parsed as YAML."""
    import yaml

    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected key.path=value")
    key, raw = text.split("=", 1)
    return key.strip().split("."), yaml.safe_load(raw)


def set_dotted(data: dict, key: str | list[str], value: Any, what: str | None = None) -> dict:
    """``data[a][b][c] = value`` for the key ``"a.b.c"`` (or ``["a", "b", "c"]``), making the mappings on the way;
    a step that is not a mapping is a ``ConfigError`` naming ``what`` (default: the key)."""
    path = key.split(".") if isinstance(key, str) else list(key)
    node = data
    for part in path[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{what or '.'.join(path)}: {part} is not a mapping")
    node[path[-1]] = value
    return data


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    for text in overrides:
        path, value = parse_override(text)
        set_dotted(data, path, value, f"override {text!r}")
    return data



def read_yaml_with_base(path: Path, chain: tuple[Path, ...] = ()) -> dict:
    import yaml

    if not path.is_file():
        raise ConfigError(f"no such config file: {path}")
    if path.resolve() in chain:
        raise ConfigError(f"{path}: config files name each other as base in a loop")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML ({where}{getattr(err, 'problem', None) or err})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f"{path}: base must be a file name, got {base!r}")
    return merge(read_yaml_with_base(path.parent / base, chain + (path.resolve(),)), data)


def merge(base: dict, top: dict) -> dict:
    """Mappings merged key by key (``top`` wins); any other value in ``top`` replaces the base's."""
    merged = dict(base)
    for key, value in top.items():
        merged[key] = merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) \
            else value
    return merged

