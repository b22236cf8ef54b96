"""Reading the configuration's text from a local path or an http(s) URL, and parsing it as YAML."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import yaml

from thoth.package_releases.config.model import Config, ConfigError
from thoth.package_releases.config.parse import parse_config
from thoth.package_releases.sources.http import BodyError, BodyProblem, RequestFailed, get, new_session

_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def load_config(
    source: str,
    *,
    environ: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    max_bytes: int = 1024 * 1024,
) -> Config:
    """Read, parse and validate the configuration at a local path or an http(s) URL.

    Trigger templates are checked against ``environ`` (default: ``os.environ``). Raises ConfigError.
    """
    environ = os.environ if environ is None else environ
    scheme = _URL_SCHEME.match(source)
    if scheme is None:
        text = _read_file(source, max_bytes)
    elif scheme.group().lower() in ("http://", "https://"):
        text = _fetch(source, environ, timeout, max_bytes)
    else:
        raise ConfigError(source, "", "expected a local path or an http(s) URL")
    document = parse_yaml(text, source)
    return parse_config(document, source, environ)


def _read_file(path: str, max_bytes: int) -> str:
    try:
        with open(path, "rb") as stream:
            data = stream.read(max_bytes + 1)
    except OSError as error:
        raise ConfigError(path, "", f"cannot read the configuration: {error.strerror or error}") from None
    if len(data) > max_bytes:
        raise ConfigError(path, "", f"the configuration is larger than {max_bytes} bytes")
    return _decode(data, path)


def _fetch(url: str, environ: Mapping[str, str], timeout: float, max_bytes: int) -> str:
    try:
        with new_session(environ) as session:
            reply = get(session, url, timeout=timeout, max_bytes=max_bytes)
    except RequestFailed as failure:
        raise ConfigError(url, "", f"cannot fetch the configuration: {failure.reason}") from None
    except BodyError as error:
        if error.problem is BodyProblem.TOO_LARGE:
            raise ConfigError(url, "", f"the configuration is larger than {max_bytes} bytes") from None
        detail = error.detail or f"not received within {timeout:g} s"
        raise ConfigError(url, "", f"cannot fetch the configuration: {detail}") from None
    if reply.status >= 400:
        raise ConfigError(url, "", f"cannot fetch the configuration: HTTP {reply.status} {reply.reason}")
    return _decode(reply.body, url)


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(source, "", f"the configuration is not UTF-8 text (byte {error.start})") from None


def parse_yaml(text: str, source: str) -> object:
    """Return the YAML document in text; raise ConfigError (with line and column) on invalid YAML or a repeated key."""
    try:
        _reject_duplicate_keys(yaml.compose(text, Loader=yaml.SafeLoader), set())
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = error.problem or error.context or "syntax error"
        raise ConfigError(source, where, f"invalid YAML: {what}") from None
    except yaml.YAMLError as error:
        raise ConfigError(source, "", f"invalid YAML: {error}") from None
    except RecursionError:
        raise ConfigError(source, "", "invalid YAML: nested too deeply") from None


def _reject_duplicate_keys(node: yaml.Node | None, seen: set[int]) -> None:
    """Raise on a mapping that repeats a key: safe_load would silently keep only the last value."""
    if node is None or id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[tuple[str, str], yaml.Node] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                earlier = first.setdefault((key.tag, key.value), key)
                if earlier is not key:
                    line = earlier.start_mark.line + 1
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key.value!r} (first at line {line})", key.start_mark
                    )
            _reject_duplicate_keys(key, seen)
            _reject_duplicate_keys(value, seen)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _reject_duplicate_keys(item, seen)
