"""The rig file's JSON schema and the field tables of docs/rig.md and docs/session.md, from the models.

The reference pages are generated from the pydantic models (a test regenerates them and compares), so a
field added to a model without its page fails the suite instead of drifting. Regenerate with
``python -m controller.rig_schema``.
"""

from __future__ import annotations

import enum
import re
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from controller.commissioning import SessionFile
from controller.config import RigConfig
from drivers.registry import BUILTIN_DRIVERS, DRIVERS

SCHEMA_ID = "https://hilcal.invalid/schema/rig-v1.json"  # a name, not a download location
DOCS = Path(__file__).resolve().parent.parent / "docs"


# -- readable types and defaults (also used by `hilcal sequences`) ----------------------------------------
def type_text(annotation: Any) -> str:
    """A short type name for a reader: ``float``, ``[float, float]``, ``'warn' | 'refuse'``, ``Mounting``."""
    if annotation is None or annotation is type(None):
        return "null"
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (Union, types.UnionType):
        return " | ".join(type_text(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"[{type_text(args[0])}, …]"
        return "[" + ", ".join(type_text(a) for a in args) + "]"
    if origin in (list, set, frozenset):
        return f"list of {type_text(args[0])}" if args else "list"
    if origin is dict:
        return f"map {type_text(args[0])} → {type_text(args[1])}" if args else "map"
    if getattr(annotation, "__metadata__", None) is not None:  # Annotated[...]
        return type_text(args[0]) if args else str(annotation)
    if isinstance(annotation, type):
        if annotation is Any:
            return "any"
        return annotation.__name__
    if annotation is Any:
        return "any"
    return str(annotation).replace("typing.", "")


def default_text(info: FieldInfo) -> str:
    """``required``, or the default as a reader would write it in YAML (models summarised, no reprs)."""
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        try:
            value = info.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return "computed"
    else:
        value = info.default
    if value is PydanticUndefined:
        return "required"
    return value_text(value)


def value_text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return value_text(value.value)
    if isinstance(value, BaseModel):
        fields = type(value).model_fields
        shown = [f"{k}: {value_text(getattr(value, k))}" for k in list(fields)[:3]]
        more = ", …" if len(fields) > 3 else ""
        return f"{type(value).__name__}({', '.join(shown)}{more})"
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{k}: {value_text(v)}" for k, v in list(value.items())[:3]]
        return "{" + ", ".join(items) + (", …" if len(value) > 3 else "") + "}"
    if isinstance(value, (list, tuple)):
        if len(value) > 6:
            return f"[{len(value)} items]"
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (int, str)):
        return repr(value) if isinstance(value, str) else str(value)
    return type(value).__name__


def _constraints(info: FieldInfo) -> str:
    words = []
    for item in info.metadata:
        for attr, sign in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤"), ("min_length", "min length")):
            bound = getattr(item, attr, None)
            if bound is not None:
                words.append(f"{sign} {bound}")
    return ", ".join(words)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


#: Words for fields whose model gives none (models owned elsewhere stay untouched).
EXTRA_DESCRIPTIONS: dict[tuple[str, str], str] = {
    ("RigConfig", "spec_version"): "rig file format version; 1 is the only one",
    ("RigConfig", "name"): "the rig's name, printed on every run and report",
    ("RigConfig", "description"): "free text for people",
    ("RigConfig", "devices"): "device name → its entry; the names are what sequence parameters refer to",
    ("DeviceConfig", "baudrate"): "serial line speed (ignored on TCP and GPIB)",
    ("DeviceConfig", "timeout_s"): "longest wait for one reply",
    ("CalibrationCertificate", "issued"): "date of issue (YYYY-MM-DD)",
    (
        "CalibrationCertificate",
        "expires",
    ): "end of validity (YYYY-MM-DD); after it the rig's expired_certificate rule applies",
    ("MotionSafety", "envelope"): "a box around the couch top and patient, in IEC table-top coordinates",
    ("MotionSafety", "volumes"): "keep-out volumes (kind box or cylinder) the envelope must never enter",
    ("CouchEnvelope", "name"): "what the envelope stands for, in messages",
    ("CouchEnvelope", "centre_mm"): "box centre in the table-top system (mm)",
    ("CouchEnvelope", "half_size_mm"): "half the box's size along each axis (mm, positive)",
    ("KeepOutBox", "kind"): "'box'",
    ("KeepOutBox", "name"): "what the volume is (nozzle, imaging panel, floor), in messages",
    ("KeepOutBox", "system"): "IEC 61217 system the numbers are in (f room, g gantry)",
    ("KeepOutBox", "centre_mm"): "box centre (mm)",
    ("KeepOutBox", "half_size_mm"): "half the box's size along each axis (mm, positive)",
    ("KeepOutCylinder", "kind"): "'cylinder'",
    ("KeepOutCylinder", "name"): "what the volume is (nozzle, imaging panel, floor), in messages",
    ("KeepOutCylinder", "system"): "IEC 61217 system the numbers are in (f room, g gantry)",
    ("KeepOutCylinder", "length_mm"): "cylinder length (mm)",
    ("KeepOutCylinder", "radius_mm"): "cylinder radius (mm)",
    ("HexapodMounting", "uvw_convention"): "order of the U, V, W rotations the controller uses",
    ("SessionFile", "name"): "the session's name, printed and kept in the session index",
    ("SessionFile", "steps"): "the sequences to run, in order; each step is its own run",
    ("SessionStep", "sequence"): "a sequence name (`hilcal sequences` lists them)",
    ("SessionStep", "params"): "the sequence's parameters; omitted ones take their defaults",
    ("SessionStep", "title"): "what the step is for, printed and in the session report",
}


def nested_models(model: type[BaseModel]) -> list[type[BaseModel]]:
    """``model`` and every model its fields use, depth first, each once."""
    found: list[type[BaseModel]] = []

    def visit(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation not in found:
                found.append(annotation)
                for info in annotation.model_fields.values():
                    visit(info.annotation)
            return
        for arg in get_args(annotation):
            visit(arg)

    visit(model)
    return found


def model_table(model: type[BaseModel]) -> str:
    """A Markdown table of a model's fields: name, type, default, constraints and description."""
    rows = ["| Field | Type | Default | Description |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        key = info.alias or name
        limits = _constraints(info)
        description = (info.description or EXTRA_DESCRIPTIONS.get((model.__name__, name), "")).strip()
        if limits:
            description = f"{description} ({limits})" if description else f"({limits})"
        rows.append(
            f"| `{key}` | {_cell(type_text(info.annotation))} | {_cell(default_text(info))} | "
            f"{_cell(description)} |"
        )
    return "\n".join(rows)


# -- the JSON schema ----------------------------------------------------------------------------------
def rig_schema() -> dict[str, Any]:
    """JSON schema (2020-12) of a rig file, with each driver's ``params`` schema chosen by ``driver``."""
    schema = RigConfig.model_json_schema()
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    device = defs["DeviceConfig"]
    branches: list[dict[str, Any]] = []
    drivers: dict[str, Any] = {}
    for name, spec in sorted(DRIVERS.items()):
        params = spec.params_model.model_json_schema()
        for key, sub in params.pop("$defs", {}).items():
            if key in defs and defs[key] != sub:
                raise ValueError(f"schema name clash: {key} differs between the rig and driver {name!r}")
            defs[key] = sub
        params_key = "params_" + re.sub(r"\W", "_", name)
        defs[params_key] = params
        branches.append(
            {
                "if": {"properties": {"driver": {"const": name}}, "required": ["driver"]},
                "then": {
                    "properties": {"role": {"const": spec.role}, "params": {"$ref": f"#/$defs/{params_key}"}}
                },
            }
        )
        drivers[name] = {"role": spec.role, "summary": spec.summary}
    device["properties"]["driver"]["enum"] = sorted(DRIVERS)
    device["allOf"] = branches
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "hilcal rig file"
    schema["x-hilcal-drivers"] = drivers
    return schema


# -- the generated tables of the docs -----------------------------------------------------------------
def rig_doc_tables() -> dict[str, str]:
    """Every rig-file model (nested ones included) and each built-in driver's ``params``, as tables."""
    tables = {model.__name__: model_table(model) for model in nested_models(RigConfig)}
    for name, spec in sorted(BUILTIN_DRIVERS.items()):
        summary = f"*{spec.summary}* — role `{spec.role}`"
        tables[f"driver:{name}"] = f"{summary}\n\n{model_table(spec.params_model)}"
        for nested in nested_models(spec.params_model)[1:]:
            tables.setdefault(nested.__name__, model_table(nested))
    return tables


def session_doc_tables() -> dict[str, str]:
    return {model.__name__: model_table(model) for model in nested_models(SessionFile)}


BEGIN = "<!-- BEGIN GENERATED {key} (python -m controller.rig_schema) -->"
END = "<!-- END GENERATED {key} -->"


OTHER = "other models"


def render(text: str, tables: dict[str, str]) -> str:
    """``text`` with every generated block replaced by its current table.

    A model without its own block on the page goes, under its name, into the page's ``other models``
    block, so a model added elsewhere shows up on regeneration instead of being left out.
    """
    others: list[str] = []
    for key, table in tables.items():
        begin, end = BEGIN.format(key=key), END.format(key=key)
        pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
        if not pattern.search(text):
            others.append(f"### {key}\n\n{table}")
            continue
        block = f"{begin}\n{table}\n{end}"
        text = pattern.sub(lambda _, block=block: block, text, count=1)  # type: ignore[misc]
    begin, end = BEGIN.format(key=OTHER), END.format(key=OTHER)
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"no block for models without their own section: add\n{begin}\n{end}")
    body = "\n\n".join(others) if others else "(none)"
    block = f"{begin}\n{body}\n{end}"
    return pattern.sub(lambda _: block, text, count=1)


GENERATED_PAGES: dict[str, Callable[[], dict[str, str]]] = {
    "rig.md": rig_doc_tables,
    "session.md": session_doc_tables,
}


def write_docs(docs: Path = DOCS) -> list[Path]:
    """Regenerate the tables of docs/rig.md and docs/session.md in place; the pages that changed."""
    changed = []
    for page, tables in GENERATED_PAGES.items():
        path = docs / page
        before = path.read_text(encoding="utf-8")
        after = render(before, tables())
        if after != before:
            path.write_text(after, encoding="utf-8")
            changed.append(path)
    return changed


if __name__ == "__main__":
    for path in write_docs():
        print(f"updated {path}")
