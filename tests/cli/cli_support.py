"""Helpers of the CLI tests: usable backends, running the command as a process, a schema check."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any, Dict, List

from tlsplug import available_backends, get_backend
from tlsplug._cli._backends_cmd import backend_status

__all__ = ["run_subprocess", "schema_errors", "usable_backends"]


def usable_backends() -> List[str]:
    """Installed backends whose check() accepts plain tls=true (placeholders are left out)."""
    names = []
    for name in available_backends():
        try:
            backend = get_backend(name)
        except Exception:
            continue
        if backend_status(backend) is None:
            names.append(name)
    return names


def run_subprocess(*argv: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """``python -m tlsplug ARGV`` as a real process (no colour, 80 columns)."""
    env = dict(os.environ, COLUMNS="80", NO_COLOR="1", PYTHONIOENCODING="utf-8")
    return subprocess.run([sys.executable, "-m", "tlsplug", *argv], capture_output=True,
                          text=True, encoding="utf-8", timeout=timeout, env=env, check=False)


# -- a validator for the subset of JSON Schema that check.schema.json uses -------------------
# (type, const, enum, pattern, minimum, maximum, properties, required, additionalProperties,
# items, oneOf and local $ref), so the test needs no jsonschema dependency.

_TYPES: Dict[str, Any] = {
    "object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
}


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES[name])


def schema_errors(value: Any, schema: Dict[str, Any], root: Dict[str, Any],
                  path: str = "$") -> List[str]:
    """Every way ``value`` violates ``schema`` (empty when it conforms)."""
    unknown = set(schema) - {"$schema", "$id", "$defs", "title", "description", "type", "const",
                             "enum", "pattern", "minimum", "maximum", "properties", "required",
                             "additionalProperties", "items", "oneOf", "$ref"}
    if unknown:
        raise AssertionError(f"validator does not implement {sorted(unknown)} at {path}")
    if "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/"), ref
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        return schema_errors(value, target, root, path)
    errors: List[str] = []
    if "oneOf" in schema:
        matches = [s for s in schema["oneOf"] if not schema_errors(value, s, root, path)]
        if len(matches) != 1:
            errors.append(f"{path}: matches {len(matches)} of oneOf, expected exactly 1")
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is_type(value, t) for t in types):
            return [*errors, f"{path}: {value!r} is not of type {types}"]
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: {value!r} != {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']}")
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(f"{path}: {value!r} does not match {schema['pattern']}")
    if _is_type(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: {value} > {schema['maximum']}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}: missing {key!r}")
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                errors += schema_errors(item, props[key], root, f"{path}.{key}")
            elif extra is False:
                errors.append(f"{path}: unexpected key {key!r}")
            elif isinstance(extra, dict):
                errors += schema_errors(item, extra, root, f"{path}.{key}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            errors += schema_errors(item, schema["items"], root, f"{path}[{index}]")
    return errors
