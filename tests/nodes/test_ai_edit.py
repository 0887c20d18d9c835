"""AI.ImageEdit against the fake KIE.ai: Kontext edits of an uploaded local image, outpainting to the canvas,
inpainting by mask or by words, style transfer, uploads reused by hash, refusals."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from fenta.engine.results import plan
from fenta.engine.runner import run
from fenta.engine.spec import load
from fenta.library import list_assets
from fenta.pricing import credits_to_usd
from tests.fakes.kie import fake_kie  # noqa: F401  (fixture)

WF = """
version: 1
name: edit
template: karaoke-bold
overrides: {{canvas: {{width: 180, height: 320, fps: 15}}}}
nodes:
  photo: {{type: Input.Asset, params: {{paths: [photo.png]}}}}
{more}
  edit:
    type: AI.ImageEdit
    params: {params}
    inputs: {inputs}
"""


def _wf(write, params, inputs="{image: photo.clips}", more=""):
    return load(write("wf.yaml", WF.format(params=json.dumps(params), inputs=inputs, more=more)))


@pytest.fixture
def photo(make_media):
    return make_media("photo.png", "color=c=orange:s=160x90", "-frames:v", "1")  # a 16:9 photo


def _uploaded(fake, url: str) -> bytes:
    return fake.uploads[url.rsplit("upload-", 1)[1]]


def test_a_kontext_edit_uploads_the_local_image_once_and_edits_it(fake_kie, write, photo):
    wf = _wf(write, {"model": "flux-kontext-pro", "operation": "edit", "prompt": "make it night"})
    res = run(wf, out="out")
    assert res.status == "completed", res.error
    (create,) = fake_kie.creates
    body = create.json()
    assert create.path == "/api/v1/flux/kontext/generate"
    assert body["prompt"] == "make it night" and body["model"] == "flux-kontext-pro"
    assert _uploaded(fake_kie, body["inputImage"]) == photo.read_bytes()
    (clip,) = res.outputs["edit"]["clips"]
    assert clip["kind"] == "image"
    (asset,) = [a for a in list_assets(kind="image") if a.origin == "ai"]
    assert asset.provenance["operation"] == "edit" and asset.provenance["model"] == "flux-kontext-pro"
    # another edit of the same photo (another node, another run) reuses the upload by its hash
    again = run(
        _wf(write, {"model": "flux-kontext-pro", "operation": "edit", "prompt": "make it snow"}), out="out"
    )
    assert again.status == "completed" and len(fake_kie.creates) == 2
    assert fake_kie.upload_requests == 1


def test_outpaint_pads_the_photo_to_the_canvas_without_cropping_and_asks_to_fill_the_border(
    fake_kie, write, photo
):
    res = run(
        _wf(write, {"model": "flux-kontext-pro", "operation": "outpaint", "prompt": "a sunny street"}),
        out="out",
    )
    assert res.status == "completed", res.error
    body = fake_kie.creates[0].json()
    assert (
        body["aspectRatio"] == "9:16"
        and "grey border" in body["prompt"]
        and "a sunny street" in body["prompt"]
    )
    import io

    padded = Image.open(io.BytesIO(_uploaded(fake_kie, body["inputImage"])))
    w, h = padded.size
    assert (w, h) == (160, 284) and abs(w / h - 180 / 320) < 0.01  # the whole photo, on a 9:16 canvas
    assert padded.getpixel((80, 142))[:3] != (128, 128, 128) and padded.getpixel((80, 5))[:3] == (
        128,
        128,
        128,
    )


def test_outpaint_with_a_mask_model_sends_the_border_as_the_mask(fake_kie, write, photo):
    res = run(_wf(write, {"model": "gpt-4o-image", "operation": "outpaint"}), out="out")
    assert res.status == "completed", res.error
    body = fake_kie.creates[0].json()
    import io

    mask = Image.open(io.BytesIO(_uploaded(fake_kie, body["maskUrl"]))).convert("L")
    assert mask.getpixel((80, 5)) == 0 and mask.getpixel((80, 142)) == 255  # black = paint the border
    assert body["size"] == "2:3" and len(fake_kie.uploads) == 2


def test_inpaint_with_a_mask_goes_to_a_mask_model(fake_kie, write, photo, make_media):
    make_media("mask.png", "color=c=black:s=160x90", "-frames:v", "1")
    more = "  mask: {type: Input.Asset, params: {paths: [mask.png]}}"
    res = run(
        _wf(
            write,
            {"model": "gpt-4o-image", "operation": "inpaint", "prompt": "a red balloon"},
            "{image: photo.clips, mask: mask.clips}",
            more,
        ),
        out="out",
    )
    assert res.status == "completed", res.error
    body = fake_kie.creates[0].json()
    assert body["prompt"] == "a red balloon" and body["maskUrl"] and body["filesUrl"]


def test_inpaint_by_a_described_region_works_on_any_edit_model(fake_kie, write, photo):
    res = run(
        _wf(
            write,
            {
                "model": "google/nano-banana-edit",
                "operation": "inpaint",
                "region": "the sky",
                "prompt": "stormy clouds",
            },
        ),
        out="out",
    )
    assert res.status == "completed", res.error
    inp = fake_kie.creates[0].json()["input"]
    assert inp["prompt"].startswith("Change only the sky: stormy clouds.") and len(inp["image_urls"]) == 1


def test_a_mask_on_a_model_without_masks_is_one_clear_error_before_any_request(
    fake_kie, write, photo, make_media
):
    make_media("mask.png", "color=c=black:s=160x90", "-frames:v", "1")
    more = "  mask: {type: Input.Asset, params: {paths: [mask.png]}}"
    res = run(
        _wf(
            write,
            {"model": "flux-kontext-pro", "operation": "inpaint", "prompt": "x"},
            "{image: photo.clips, mask: mask.clips}",
            more,
        ),
        out="out",
    )
    assert res.status == "failed" and "takes no mask" in res.error and "gpt-4o-image" in res.error
    assert fake_kie.creates == [] and fake_kie.upload_requests == 0


def test_style_transfer_from_a_style_image_sends_both_images(fake_kie, write, photo, make_media):
    make_media("style.png", "mandelbrot=s=90x90", "-frames:v", "1")
    more = "  look: {type: Input.Asset, params: {paths: [style.png]}}"
    res = run(
        _wf(
            write,
            {"model": "seedream/4.5-edit", "operation": "style"},
            "{image: photo.clips, style_image: look.clips}",
            more,
        ),
        out="out",
    )
    assert res.status == "completed", res.error
    inp = fake_kie.creates[0].json()["input"]
    assert len(inp["image_urls"]) == 2 and "style of the second image" in inp["prompt"]


def test_an_edit_refused_on_content_grounds_is_one_line_naming_the_prompt(fake_kie, write, photo):
    fake_kie.next_outcomes = ["policy"]
    res = run(
        _wf(write, {"model": "flux-kontext-pro", "operation": "edit", "prompt": "make it gory"}),
        out="out",
        retries=2,
    )
    assert res.status == "failed" and not res.retryable
    assert "refused the edit prompt 'make it gory'" in res.error and "content policy" in res.error
    assert len(fake_kie.creates) == 1


@pytest.mark.parametrize(
    "params,field",
    [
        ({"model": "flux-2/pro-text-to-image", "prompt": "x"}, "params.model"),
        ({"model": "flux-kontext-pro", "operation": "edit"}, "params.prompt"),
        (
            {"model": "flux-kontext-pro", "operation": "outpaint", "aspect_ratio": "tall"},
            "params.aspect_ratio",
        ),
        ({"model": "flux-kontext-pro", "operation": "edit", "prompt": "x", "region": "sky"}, "params.region"),
    ],
)
def test_bad_edit_params_are_spec_errors_naming_the_field(write, photo, params, field):
    from fenta.errors import SpecError

    with pytest.raises(SpecError) as e:
        _wf(write, params)
    assert field in str(e.value)


def test_the_estimate_is_one_edit_at_the_models_price(write, photo):
    assert plan(_wf(write, {"model": "flux-kontext-max", "operation": "edit", "prompt": "x"})).cost == {
        "kie": credits_to_usd(10)
    }
