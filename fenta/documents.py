"""Strict reading of YAML and JSON documents (workflows, montage templates) into plain values.

`read_document(text, file)` gives the tree of plain Python values, the line of every value by its
key path (`Lines`), and the problems found on the way (`Issue`s, each at a key path, for the caller
to name the node or field it falls in). What strict reading refuses, and why:

- a YAML tag beyond the plain core types (`!!python/...`, `!custom`): an issue, never constructed
  or silently ignored;
- a key written twice in one mapping (YAML and JSON parsers keep the last one without a word);
- text holding half of a UTF-16 surrogate pair (a broken `\\uXXXX` escape; it cannot be written out);
- a document that expands without end through aliases, or is nested too deeply.

JSON (a `.json` file, or text starting with `{` or `[`) goes to a JSON parser: YAML rejects
tab-indented JSON and leaves `\\ud83d\\udc1f` escapes as two broken halves.

A bottom-layer module (it needs only `fenta.errors`): the engine reads workflows with it and
`fenta.template` reads template files with it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

import yaml

from .errors import Problem, SpecError

__all__ = ["Document", "Issue", "Lines", "field_path", "read_document"]


class Lines:
    """Line numbers of YAML/JSON values by their key path."""

    def __init__(self) -> None:
        self.by_path: dict[tuple, int] = {}

    def get(self, *path: Any) -> int | None:
        """The line of the value at `path`, or of its nearest parent that has one."""
        while path:
            if path in self.by_path:
                return self.by_path[path]
            path = path[:-1]
        return None


@dataclass
class Issue:
    """A problem found while reading, at a key path of the document (the caller maps it to node and field).

    `first_line` is set for a key written twice: the line where it was first written (the issue's
    own line is the second one).
    """

    message: str
    line: int | None
    path: tuple
    first_line: int | None = None


class Document(NamedTuple):
    """What `read_document` gives: the values, their lines, and the problems found."""

    tree: Any
    lines: Lines
    issues: list[Issue]


def field_path(parts: tuple) -> str | None:
    """("params", "paths", 2) -> "params.paths[2]": a key path as a field name."""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or None


_YAML_TAG = "tag:yaml.org,2002:"
#: The tags a document may use: YAML's core types (implicit or written as `!!str` etc.) and dates.
_PLAIN_TAGS = {_YAML_TAG + t for t in ("null", "bool", "int", "float", "str", "map", "seq", "timestamp")}
#: Scalars YAML 1.1 resolves to odd types: '=' (value) and '<<' outside a mapping key (merge) stay text.
_TEXT_TAGS = {_YAML_TAG + "value", _YAML_TAG + "merge"}
_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_VALUES = (
    100_000  # aliases can make a small file expand without end (a real workflow holds a few hundred values)
)


class _TooBig(Exception):
    pass


def _duplicate(key: Any, first_line: int) -> str:
    return (
        f"key '{key}' is written twice in one mapping (first at line {first_line}); "
        "parsers silently keep the last one"
    )


class _YamlBuilder:
    """Builds plain Python values from a composed YAML tree, collecting problems as it goes.

    Rejects (as problems, with the line) any tag beyond the plain core types — so
    `!!python/...` and `!custom` are errors, never silently constructed or ignored —
    and a key written twice in one mapping (YAML keeps the last one without a word).
    """

    def __init__(self, lines: Lines, issues: list[Issue], kind: str) -> None:
        self.lines = lines
        self.issues = issues
        self.kind = kind
        self.count = 0
        self._loader = yaml.SafeLoader("")

    def close(self) -> None:
        self._loader.dispose()

    def build(self, node: yaml.Node, path: tuple) -> Any:
        self.count += 1
        if self.count > _MAX_VALUES:
            raise _TooBig
        line = node.start_mark.line + 1
        self.lines.by_path.setdefault(path, line)
        tag = node.tag or ""
        if tag not in _PLAIN_TAGS and not (isinstance(node, yaml.ScalarNode) and tag in _TEXT_TAGS):
            shown = "!!" + tag[len(_YAML_TAG) :] if tag.startswith(_YAML_TAG) else tag
            self.issues.append(
                Issue(
                    f"YAML tag '{shown}' is not allowed: "
                    f"a {self.kind} holds plain text, numbers, lists and mappings only",
                    line,
                    path,
                )
            )
            if isinstance(node, yaml.ScalarNode):
                return node.value
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(v, path + (i,)) for i, v in enumerate(node.value)]
        if node.tag in _TEXT_TAGS or node.tag not in _PLAIN_TAGS:
            return _join_surrogates(str(node.value))
        value = self._loader.construct_object(node, deep=True)
        return _join_surrogates(value) if isinstance(value, str) else value

    def _mapping(self, node: yaml.MappingNode, path: tuple) -> dict:
        out: dict = {}
        first_line: dict = {}
        merged: dict = {}
        for k, v in node.value:
            if k.tag == _YAML_TAG + "merge":  # `<<: *defaults` - keys written here win
                for src in v.value if isinstance(v, yaml.SequenceNode) else [v]:
                    value = self.build(src, path)
                    if isinstance(value, dict):
                        merged = {**value, **merged}
                    else:
                        self.issues.append(
                            Issue(
                                "'<<' merges a mapping (or a list of mappings) only",
                                src.start_mark.line + 1,
                                path,
                            )
                        )
                continue
            key = self.build(k, path)
            if isinstance(key, (list, dict)):
                key = str(key)
            line = k.start_mark.line + 1
            if key in first_line:
                self.issues.append(
                    Issue(_duplicate(key, first_line[key]), line, path + (key,), first_line=first_line[key])
                )
            else:
                first_line[key] = line
            out[key] = self.build(v, path + (key,))
            self.lines.by_path[path + (key,)] = line
        for key, value in merged.items():
            out.setdefault(key, value)
        return out


def _join_surrogates(s: str) -> str:
    """Join UTF-16 surrogate pairs written as two escapes ("\\ud83d\\udc1f" -> one emoji).

    Lone ones stay (and are reported).
    """
    if not _SURROGATE.search(s):
        return s
    try:
        return s.encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeDecodeError:
        return s


def _json_tree(text: str, lines: Lines, issues: list[Issue]) -> Any:
    """Values of a (syntactically valid) JSON document, with every key's line; duplicate keys reported."""
    from bisect import bisect_right
    from json.decoder import scanstring  # type: ignore[attr-defined]  # in CPython, not in typeshed

    ws = re.compile(r"[ \t\n\r]*")
    newlines = [i for i, ch in enumerate(text) if ch == "\n"]
    decoder = json.JSONDecoder()

    def line_at(i: int) -> int:
        return bisect_right(newlines, i - 1) + 1

    def past_ws(i: int) -> int:
        # `[ \t\n\r]*` matches anywhere (the empty string at least), so there is always a match
        return cast("re.Match[str]", ws.match(text, i)).end()

    def value(i: int, path: tuple) -> tuple[Any, int]:
        i = past_ws(i)
        lines.by_path.setdefault(path, line_at(i))
        ch = text[i]
        if ch == "{":
            out: dict = {}
            first: dict[str, int] = {}
            i = past_ws(i + 1)
            if text[i] == "}":
                return out, i + 1
            while True:
                i = past_ws(i)
                kline = line_at(i)
                key, i = scanstring(text, i + 1)
                i = past_ws(i) + 1  # past ':'
                if key in first:
                    issues.append(
                        Issue(_duplicate(key, first[key]), kline, path + (key,), first_line=first[key])
                    )
                else:
                    first[key] = kline
                out[key], i = value(i, path + (key,))
                lines.by_path[path + (key,)] = kline
                i = past_ws(i)
                if text[i] == "}":
                    return out, i + 1
                i += 1  # ','
        if ch == "[":
            items: list = []
            i = past_ws(i + 1)
            if text[i] == "]":
                return items, i + 1
            while True:
                item, i = value(i, path + (len(items),))
                items.append(item)
                i = past_ws(i)
                if text[i] == "]":
                    return items, i + 1
                i += 1  # ','
        return decoder.raw_decode(text, i)

    return value(0, ())[0]


def _looks_like_json(text: str, file: str | None) -> bool:
    if file and file.lower().endswith(".json"):
        return True
    return text.lstrip()[:1] in ("{", "[")


def _lone_surrogates(value: Any, path: tuple, lines: Lines, issues: list[Issue]) -> None:
    """Report text holding half of a UTF-16 surrogate pair (a broken `\\uXXXX` escape): unwritable."""

    def check(s: str, where: tuple) -> None:
        m = _SURROGATE.search(s)
        if m:
            issues.append(
                Issue(
                    f"text holds an unpaired UTF-16 surrogate '\\u{ord(m.group()):04x}' "
                    "(a broken \\u escape; write the character itself)",
                    lines.get(*where),
                    where,
                )
            )

    if isinstance(value, str):
        check(value, path)
    elif isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str):
                check(k, path + (k,))
            _lone_surrogates(v, path + (k,), lines, issues)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _lone_surrogates(v, path + (i,), lines, issues)


def _tree(
    text: str,
    file: str | None,
    kind: str,
    error: type[SpecError],
    allow_empty: bool,
    lines: Lines,
    issues: list[Issue],
) -> Any:
    strict_json = bool(file and file.lower().endswith(".json"))
    try:
        if _looks_like_json(text, file):
            try:
                json.loads(text)
            except json.JSONDecodeError as e:
                if strict_json:
                    raise error(
                        [Problem(f"invalid JSON: {e.msg} (column {e.colno})", file=file, line=e.lineno)]
                    ) from None
            else:
                return _json_tree(text, lines, issues)
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            what = getattr(e, "problem", None) or str(e)
            raise error(
                [Problem(f"invalid YAML: {what}", file=file, line=mark.line + 1 if mark else None)]
            ) from None
        if root is None:
            if allow_empty:
                return None
            raise error([Problem("the file is empty", file=file)])
        builder = _YamlBuilder(lines, issues, kind)
        try:
            return builder.build(root, ())
        finally:
            builder.close()
    except (RecursionError, _TooBig):
        raise error(
            [Problem("the document is nested too deeply or expands too far (aliases)", file=file)]
        ) from None


def read_document(
    text: str,
    file: str | None = None,
    *,
    kind: str = "workflow",
    error: type[SpecError] = SpecError,
    allow_empty: bool = False,
) -> Document:
    """Read YAML or JSON text strictly into plain values, their line numbers, and problems found on the way.

    Args:
        text: The document (a leading byte-order mark is dropped).
        file: Its name, shown in problems; a `.json` name means JSON only (no YAML fallback).
            Text starting with `{` or `[` is tried as JSON first and read as YAML flow style
            if it is not JSON.
        kind: What the document is ("workflow", "template"), for the wording of problems.
        error: The `SpecError` class raised when the text cannot be read at all.
        allow_empty: Read a document with no content (blank, or comments only) as `None`
            instead of raising "the file is empty".

    Returns:
        `Document(tree, lines, issues)`; the issues are problems to report (a refused tag, a
        duplicate key, a broken escape) while the tree still holds a value for each.

    Raises:
        error: invalid YAML or JSON, an empty file, or a document nested too deeply or
            expanding too far.
    """
    lines = Lines()
    issues: list[Issue] = []
    tree = _tree(text.removeprefix("\ufeff"), file, kind, error, allow_empty, lines, issues)
    _lone_surrogates(tree, (), lines, issues)
    return Document(tree, lines, issues)
