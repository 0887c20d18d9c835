"""Input.Text: a script the user wrote, inline or in a text file."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from ..types import Scene
from .base import CheckContext, Node, Params, Ports, local_path, register


class TextParams(Params):
    text: str | None = Field(None, description="The narration. Blank lines separate scenes.")
    path: str | None = Field(
        None,
        description="A UTF-8 text file holding the narration instead of `text` (relative to the workflow).",
    )

    @field_validator("text")
    @classmethod
    def _not_blank(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("text is empty")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> TextParams:
        if self.text is None and self.path is None:
            raise ValueError("give the narration as 'text' or a file holding it as 'path'")
        if self.text is not None and self.path is not None:
            raise ValueError("give 'text' or 'path', not both")
        return self


class TextOutputs(Ports):
    text: str
    scenes: list[Scene]


def _read(path: Path) -> str:
    """The file's text (UTF-8, a leading byte-order mark dropped).

    Raises:
        OSError, UnicodeDecodeError: the file cannot be read as UTF-8.
    """
    return path.read_text(encoding="utf-8-sig")


@register
class InputText(Node):
    type = "Input.Text"
    description = "A script you wrote (inline, or a text file with `path`); blank lines split it into scenes."
    Params = TextParams
    Outputs = TextOutputs

    def validate(self, params: TextParams, ctx: CheckContext) -> list[tuple[str, str]]:
        problems = super().validate(params, ctx)
        if params.path is not None:
            path = ctx.path(params.path)
            try:
                text = _read(path)
            except FileNotFoundError:
                problems.append(("params.path", f"file not found: {path}"))
            except IsADirectoryError:
                problems.append(("params.path", f"a folder, not a text file: {path}"))
            except UnicodeDecodeError:
                problems.append(("params.path", f"not a UTF-8 text file: {path}"))
            except OSError as e:
                problems.append(("params.path", f"cannot read {path}: {e.strerror or e}"))
            else:
                if not text.strip():
                    problems.append(("params.path", f"the file is empty: {path}"))
        return problems

    def local_paths(self, params: TextParams) -> list[tuple[str, str]]:
        return [("params.path", params.path)] if params.path is not None else []

    def fingerprint(self, params: TextParams, inputs, *, workflow_file: str | None = None) -> str | None:
        # The file may change under the same name: its text joins the cache key.
        if params.path is None:
            return None
        try:
            return hashlib.sha256(local_path(workflow_file, params.path).read_bytes()).hexdigest()
        except OSError:
            return None

    async def run(self, ctx, params: TextParams, inputs) -> TextOutputs:
        source = params.text
        if source is None:
            path = ctx.local_file(params.path or "", field="params.path")
            try:
                source = _read(path)
            except (OSError, UnicodeDecodeError) as e:
                why = "not a UTF-8 text file" if isinstance(e, UnicodeDecodeError) else (e.strerror or str(e))
                raise ctx.error(f"cannot read {path}: {why}", field="params.path") from None
        parts = [p.strip() for p in re.split(r"\n\s*\n", source) if p.strip()]
        if not parts:
            raise ctx.error(
                "the narration is empty", field="params.path" if params.text is None else "params.text"
            )
        text = " ".join(" ".join(p.split()) for p in parts)
        return TextOutputs(text=text, scenes=[Scene(narration=" ".join(p.split())) for p in parts])
