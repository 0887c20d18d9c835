"""Every shipped example validates, is listed in examples/README.md, and plans without a network call;
the per-template examples really render."""

from __future__ import annotations

import pytest
import yaml

import fenta
from fenta.media.probe import probe
from fenta.render.templates import list_templates
from tests.conftest import REPO

EXAMPLES_DIR = REPO / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.y*ml")) + sorted((EXAMPLES_DIR / "templates").glob("*.y*ml"))
TEMPLATE_EXAMPLES = sorted((EXAMPLES_DIR / "templates").glob("*.yaml"))


def _id(path) -> str:
    return path.relative_to(EXAMPLES_DIR).as_posix()


def test_there_are_examples():
    assert any(p.name == "quickstart.yaml" for p in EXAMPLES)


def test_every_shipped_template_has_an_example():
    assert {p.stem for p in TEMPLATE_EXAMPLES} == set(list_templates())


@pytest.mark.parametrize("path", EXAMPLES, ids=[_id(p) for p in EXAMPLES])
def test_each_example_validates_and_plans(path):
    wf = fenta.load(path)
    plan = fenta.plan(wf)
    assert sum(len(layer) for layer in plan.order) == len(wf.nodes)


@pytest.mark.parametrize("path", EXAMPLES, ids=[_id(p) for p in EXAMPLES])
def test_each_example_is_listed_in_the_examples_readme(path):
    assert f"`{_id(path)}`" in (EXAMPLES_DIR / "README.md").read_text()


@pytest.mark.parametrize("path", TEMPLATE_EXAMPLES, ids=[p.stem for p in TEMPLATE_EXAMPLES])
def test_each_template_example_renders_the_quickstart_script_in_its_aspect(path, tmp_path):
    doc = yaml.safe_load(path.read_text())
    assert doc["template"] == path.stem
    canvas = fenta.load(path).template["canvas"]
    scale = 180 / min(
        canvas["width"], canvas["height"]
    )  # 180 px short side keeps the render to a second or two
    w, h = int(canvas["width"] * scale) // 2 * 2, int(canvas["height"] * scale) // 2 * 2
    doc["overrides"] = {"canvas": {"width": w, "height": h}}
    doc["nodes"]["render"]["params"]["profile"] = "canvas"
    wf = fenta.loads(
        yaml.safe_dump(doc, allow_unicode=True),
        file=str(path),
        vars={"script": "Octopuses have three hearts and blue blood."},
    )
    result = fenta.run(wf, out=tmp_path / "out")
    info = probe(result.video)
    assert (info.width, info.height) == (w, h)
    assert info.has_audio and 1.0 < info.duration < 6.0
