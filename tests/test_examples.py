"""Every shipped example validates, is listed in examples/README.md, and plans without a network call."""

from __future__ import annotations

import pytest

import fenta
from tests.conftest import REPO

EXAMPLES = sorted((REPO / "examples").glob("*.y*ml"))


def test_there_are_examples():
    assert any(p.name == "quickstart.yaml" for p in EXAMPLES)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_each_example_validates_and_plans(path):
    wf = fenta.load(path)
    plan = fenta.plan(wf)
    assert sum(len(layer) for layer in plan.order) == len(wf.nodes)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_each_example_is_listed_in_the_examples_readme(path):
    assert f"`{path.name}`" in (REPO / "examples" / "README.md").read_text()
