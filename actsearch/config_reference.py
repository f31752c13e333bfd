"""The config reference (docs/config.md), generated from the dataclasses of actsearch.config
and the comments on their fields, so it cannot drift from the keys the code accepts.

A field is described by its trailing comment, continued on the lines below it by comment
lines with two or more spaces after the `#` (`#   ...`), and by a comment block right above
it (`# ...`, one space), if any. Each section's docstring introduces its table.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import io
import textwrap
import tokenize
import types
import typing
from dataclasses import dataclass
from typing import Any

import yaml

from actsearch.config import Config


@dataclass(frozen=True)
class KeyDoc:
    """One settable key: its dotted name as `--set` takes it (`search.rungs[].epochs` for a
    key inside each element of a list of sections), type, default and description."""

    key: str
    type: str
    default: str
    description: str


@dataclass(frozen=True)
class SectionDoc:
    """The keys of one config dataclass, under their common dotted prefix."""

    prefix: str
    intro: str
    keys: list[KeyDoc]


def _comment_lines(source: str) -> dict[int, tuple[str, bool]]:
    """{line number: (comment text without '#', whether the line holds only the comment)}."""
    found = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            only = not tok.line[:tok.start[1]].strip()
            found[tok.start[0]] = (tok.string[1:], only)
    return found


def _is_continuation(text: str) -> bool:
    """`#   more words` continues the comment above it; `# Words` starts a new one."""
    return text.startswith("  ") and bool(text.strip())


def field_descriptions(cls: type) -> dict[str, str]:
    """{field name: its description} from the comments on and above each field of `cls`."""
    source = textwrap.dedent(inspect.getsource(cls))
    comments = _comment_lines(source)
    classdef = ast.parse(source).body[0]
    assert isinstance(classdef, ast.ClassDef)
    described = {}
    for node in classdef.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        trailing = [comments[n][0].strip() for n in range(node.lineno, node.end_lineno + 1)
                    if n in comments and not comments[n][1]]
        line = node.end_lineno + 1
        while line in comments and comments[line][1] and _is_continuation(comments[line][0]):
            trailing.append(comments[line][0].strip())
            line += 1
        leading = []
        line = node.lineno - 1
        while line in comments and comments[line][1] and not _is_continuation(comments[line][0]):
            leading.insert(0, comments[line][0].strip())
            line -= 1
        text = " ".join(trailing)
        if leading:
            text += ("" if not text or text.endswith((".", ":")) else ".") + " " + " ".join(leading)
        described[node.target.id] = text.strip()
    return described


def _section_type(tp: Any) -> type | None:
    """The dataclass a field holds (itself, or inside `X | None` or `list[X]`), if any."""
    if dataclasses.is_dataclass(tp):
        return tp
    for arg in typing.get_args(tp):
        if dataclasses.is_dataclass(arg):
            return arg
    return None


def type_text(tp: Any) -> str:
    """A type as a YAML user reads it: `int | None` -> 'int or null'."""
    if tp is type(None):
        return "null"
    if tp is Any:
        return "any"
    if dataclasses.is_dataclass(tp):
        return "section"
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_text(a) for a in args)
    if origin is list:
        inner = type_text(args[0])
        return f"list of {'sections' if inner == 'section' else inner}"
    if origin is dict:
        return "mapping"
    return getattr(tp, "__name__", str(tp))


def _default_value(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return None
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    if isinstance(value, list):
        return [dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for v in value]
    return value


def default_text(value: Any) -> str:
    """A default as YAML writes it in flow style: null, true, 0.001, [relu, gelu], {}."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False)
    return text.strip().removesuffix("\n...").strip()


def sections(cls: type = Config, prefix: str = "") -> list[SectionDoc]:
    """Every section of the config, depth first, with its keys by dotted name."""
    hints = typing.get_type_hints(cls)
    described = field_descriptions(cls)
    keys, nested = [], []
    for f in dataclasses.fields(cls):
        tp, dotted = hints[f.name], prefix + f.name
        section = _section_type(tp)
        if section is not None:
            inner = dotted + ("[]" if typing.get_origin(tp) is list else "")
            nested.extend(sections(section, inner + "."))
            if section is tp:  # a plain section: its keys are the reference
                continue
        keys.append(KeyDoc(dotted, type_text(tp), default_text(_default_value(f)),
                           described[f.name]))
    intro = inspect.cleandoc(cls.__doc__ or "")
    if intro.startswith(cls.__name__ + "("):  # dataclass' generated signature, not a docstring
        intro = ""
    return [SectionDoc(prefix.rstrip("."), intro, keys), *nested]


def reference_keys() -> list[KeyDoc]:
    """Every key of the reference, in the order of the config."""
    return [key for section in sections() for key in section.keys]


def _cell(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("|", "\\|"))


def _code(text: str) -> str:
    return text.replace("|", "\\|")


def config_reference_markdown() -> str:
    """The reference as markdown: one table per section (key, type, default, description)."""
    out = []
    for section in sections():
        title = section.prefix or "top level"
        out.append(f"## `{title}`\n" if section.prefix else f"## {title}\n")
        if section.intro:
            out.append(section.intro.replace("\n", " ") + "\n")
        out.append("| key | type | default | what it does |")
        out.append("| --- | --- | --- | --- |")
        for k in section.keys:
            anchor = f'<a id="{k.key.replace("[]", "")}"></a>'
            name = k.key.replace(".", ".<wbr>")  # long keys break at dots, not mid-word
            out.append(f"| {anchor}<code>{name}</code> | {_cell(k.type)} | `{_code(k.default)}` | "
                       f"{_cell(k.description)} |")
        out.append("")
    return "\n".join(out)
