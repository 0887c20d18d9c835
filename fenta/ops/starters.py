"""`fenta init`: a commented, runnable starter workflow and a `.env.example`, written without any network.

The starters are data (`fenta/starters/<kind>.yaml`, with `__NAME__` and `__TEMPLATE__` filled in
here). The keys listed in `.env.example` come from the written workflow itself (`engine.keys`), so
the list always matches what `fenta run` will ask for.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import PathError, Problem, SpecError

__all__ = ["KINDS", "Started", "init", "make_folder", "starter_text", "template_for"]

#: The starter kinds, and what each one makes.
KINDS = {
    "quickstart": "offline: a fixed narration, espeak voice, generated backgrounds (no keys)",
    "stock": "an LLM-written script (OpenRouter) over Pexels stock footage",
    "ai": "an LLM-written script (OpenRouter) over KIE.ai-generated images",
}
#: A plain file name in any alphabet (workflow names may be Cyrillic, like their render files).
_NAME = re.compile(r"^[^\W_][\w-]*$")
_ENV_HEAD = "# Keys fenta reads (copy this file to .env, or export them). Never commit .env.\n"
_KEY_HELP = {
    "OPENROUTER_API_KEY": "https://openrouter.ai/settings/keys (LLM scripts: Script.Gen, `fenta new`)",
    "PEXELS_API_KEY": "https://www.pexels.com/api/ (stock footage: Input.Stock)",
    "KIE_API_KEY": "https://kie.ai/api-key (AI images and clips: AI.Image, AI.Video)",
}


@dataclass
class Started:
    """What `init` wrote.

    Attributes:
        workflow: The starter workflow file.
        env_example: The `.env.example` file.
        env_status: "written", "updated" (keys appended to an existing file) or "unchanged".
        keys: The key variables the workflow needs.
        kind: The starter kind.
    """

    workflow: Path
    env_example: Path
    env_status: str
    kind: str
    keys: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "workflow": str(self.workflow),
            "env_example": str(self.env_example),
            "env_status": self.env_status,
            "kind": self.kind,
            "keys": self.keys,
        }


def starter_text(kind: str, name: str, template: str) -> str:
    """The starter workflow of `kind`, named `name`, using `template` (as YAML text)."""
    if kind not in KINDS:
        raise SpecError([Problem(f"unknown kind '{kind}' (choose {', '.join(KINDS)})", field="--kind")])
    import yaml

    text = files("fenta").joinpath(f"starters/{kind}.yaml").read_text(encoding="utf-8")
    # A name YAML reads as something else (2024, null, true) is quoted, so it stays the name.
    value = name if isinstance(yaml.safe_load(name), str) else json.dumps(name)
    text = text.replace("\nname: __NAME__\n", f"\nname: {value}\n")
    return text.replace("__NAME__", name).replace("__TEMPLATE__", template)


def init(
    name: str = "my-video",
    *,
    kind: str = "quickstart",
    template: str = "karaoke-bold",
    folder: str | Path = ".",
    force: bool = False,
    settings: Settings | None = None,
) -> Started:
    """Write `<folder>/<name>.yaml` (a starter workflow) and `<folder>/.env.example`.

    An existing workflow file is kept unless `force`; an existing `.env.example` only gets the
    lines for keys it does not mention yet.

    Raises:
        SpecError: an unknown kind, template, or a name that is not a plain file name (exit 2).
        PathError: the file exists (without `force`) or the folder cannot be written (exit 2).
    """
    from ..engine.keys import key_needs
    from ..engine.spec import loads

    if not _NAME.match(name):
        raise SpecError(
            [
                Problem(
                    f"name '{name}' must be a plain file name: letters (any alphabet), digits, '-' "
                    "and '_', starting with a letter or digit",
                    field="NAME",
                )
            ]
        )
    if kind not in KINDS:
        raise SpecError([Problem(f"unknown kind '{kind}' (choose {', '.join(KINDS)})", field="--kind")])
    folder = Path(folder)
    template = template_for(template, folder)
    target = folder / f"{name}.yaml"
    if target.exists() and not force:
        raise PathError(f"{target} already exists; pass force=True to replace it, or choose another name=")
    text = starter_text(kind, name, template)
    make_folder(folder, "folder=")  # first: a template path relative to it must resolve
    # A starter that does not validate is a bug here, never a half-written file.
    wf = loads(text, file=str(target))
    keys = [k.var for k in key_needs(wf, settings or Settings.from_env())]
    try:
        _write(target, text)
        env_path = folder / ".env.example"
        env_status = _write_env_example(env_path, keys, kind)
    except OSError as e:
        raise PathError(f"cannot write in {folder}: {e.strerror or e}") from None
    return Started(workflow=target, env_example=env_path, env_status=env_status, kind=kind, keys=keys)


def make_folder(folder: Path, option: str) -> None:
    """Create `folder` (and its parents) for a file about to be written.

    `option` is the parameter that named it, as the SDK spells it (`out=`); the CLI re-words it.

    Raises:
        PathError: it, or a folder above it, is a file; or it cannot be created (exit 2, one line).
    """
    for above in (folder, *folder.parents):
        if above.exists():
            if not above.is_dir():
                raise PathError(f"{above} is a file, not a folder: give {option} a path inside a folder")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PathError(f"cannot write in {folder}: {e.strerror or e}") from None


def template_for(template: str, folder: Path) -> str:
    """`template` as a workflow written into `folder` must name it: a shipped name as it is, a
    template file as a path relative to `folder` (a workflow's paths are relative to the workflow).

    Raises:
        SpecError: an unknown template or an invalid template file (exit 2), naming --template.
    """
    from ..template import TemplateError, list_templates, resolve_template

    try:
        resolve_template(template)
    except TemplateError as e:
        raise SpecError([Problem(p.message, field="--template") for p in e.problems]) from None
    if template in list_templates():
        return template
    return Path(os.path.relpath(Path(template).resolve(), folder.resolve())).as_posix()


def _write(path: Path, text: str) -> None:
    """Write through a temporary name, so a crash never leaves half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _key_lines(keys: list[str]) -> str:
    return "".join(f"# {_KEY_HELP.get(k, k)}\n{k}=\n" for k in keys)


def _write_env_example(path: Path, keys: list[str], kind: str) -> str:
    """Create `.env.example` listing `keys`, or append the keys an existing one lacks."""
    if path.exists():
        have = path.read_text(encoding="utf-8")
        present = set(re.findall(r"^\s*([A-Z][A-Z0-9_]*)\s*=", have, flags=re.M))
        missing = [k for k in keys if k not in present]
        if not missing:
            return "unchanged"
        _write(path, have.rstrip("\n") + "\n\n" + _key_lines(missing))
        return "updated"
    if keys:
        body = _ENV_HEAD + f"# The {kind} starter needs:\n" + _key_lines(keys)
    else:
        body = (
            _ENV_HEAD
            + f"# The {kind} starter needs no keys: it runs offline. Other kinds and `fenta new` use:\n"
        )
        body += "".join(f"# {k}=    {_KEY_HELP[k]}\n" for k in _KEY_HELP)
    _write(path, body)
    return "written"
