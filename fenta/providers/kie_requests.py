"""KIE.ai request bodies: one generation of any model in the table, Veo extend, Suno music.

Market models are built from their table row (`fenta/pricing/kie.yaml`: `fields`, `values`,
`constants`), so a new Market model needs no code here. The dedicated families (4o image, Flux Kontext,
Veo, Runway, Suno) have their own documented bodies (api-contracts 1.5-1.9).
"""

from __future__ import annotations

from typing import Any

from ..errors import ProviderError
from ..pricing import KieModel

__all__ = [
    "FAMILY_PATHS",
    "VEO_EXTEND_PATH",
    "VEO_1080P_PATH",
    "VEO_4K_PATH",
    "build_request",
    "market_input",
    "veo_extend_request",
    "suno_request",
]

#: family -> (create path, status path)
FAMILY_PATHS: dict[str, tuple[str, str]] = {
    "market": ("/api/v1/jobs/createTask", "/api/v1/jobs/recordInfo"),
    "4o-image": ("/api/v1/gpt4o-image/generate", "/api/v1/gpt4o-image/record-info"),
    "flux-kontext": ("/api/v1/flux/kontext/generate", "/api/v1/flux/kontext/record-info"),
    "veo": ("/api/v1/veo/generate", "/api/v1/veo/record-info"),
    "runway": ("/api/v1/runway/generate", "/api/v1/runway/record-detail"),
    "suno": ("/api/v1/generate", "/api/v1/generate/record-info"),
}
VEO_EXTEND_PATH = "/api/v1/veo/extend"
VEO_1080P_PATH = "/api/v1/veo/get-1080p-video"
VEO_4K_PATH = "/api/v1/veo/get-4k-video"

#: How Veo uses its input images (`generationType`), by fenta's image mode.
_VEO_MODES = {
    "image": "FIRST_AND_LAST_FRAMES_2_VIDEO",
    "first-last": "FIRST_AND_LAST_FRAMES_2_VIDEO",
    "reference": "REFERENCE_2_VIDEO",
}


def market_input(
    model: KieModel,
    *,
    prompt: str,
    aspect_ratio: str | None = None,
    duration: int | None = None,
    resolution: str | None = None,
    image_urls: list[str] | None = None,
    last_frame: str | None = None,
) -> dict[str, Any]:
    """The `input` object of a Market create request, named and spelled as the model's row says."""
    inp: dict[str, Any] = {}

    def put(name: str, value: Any) -> None:
        field = model.field_name(name)
        if field is not None and value not in (None, "", []):
            inp[field] = model.value(name, value)

    put("prompt", prompt)
    put("aspect_ratio", aspect_ratio)
    if model.kind == "video" and model.durations:
        put("duration", str(duration or model.durations[0]))
    put("resolution", resolution)
    images = list(image_urls or [])
    field = model.field_name("image")
    if images and field:
        inp[field] = images[: model.max_images] if field.endswith("s") else images[0]
    put("last_frame", last_frame)
    inp.update(model.constants)
    return inp


def build_request(
    model: KieModel,
    *,
    prompt: str,
    aspect_ratio: str | None = None,
    duration: int | None = None,
    resolution: str | None = None,
    image_urls: list[str] | None = None,
    image_mode: str = "image",
    mask_url: str | None = None,
    callback_url: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """The create path and JSON body for one generation with `model`.

    `image_mode`: how `image_urls` are used - "image" (animate or edit the first; more are references
    where the model takes several), "first-last" (the first and last frame of a video), "reference"
    (Veo: 1-3 images the video stays true to). `mask_url`: an inpainting mask (4o image).
    """
    images = list(image_urls or [])
    fam = model.family
    body: dict[str, Any]
    if fam == "market":
        last = images[1] if image_mode == "first-last" and len(images) > 1 else None
        firsts = images[:1] if image_mode == "first-last" else images
        inp = market_input(
            model,
            prompt=prompt,
            aspect_ratio=aspect_ratio,
            duration=duration,
            resolution=resolution,
            image_urls=firsts,
            last_frame=last,
        )
        body = {"model": model.id, "input": inp}
    elif fam == "4o-image":
        body = {"prompt": prompt, "size": aspect_ratio or "1:1", "nVariants": 1}
        if images:
            body["filesUrl"] = images[: model.max_images]
        if mask_url:
            body["maskUrl"] = mask_url
    elif fam == "flux-kontext":
        body = {
            "prompt": prompt,
            "aspectRatio": aspect_ratio or "16:9",
            "model": model.id,
            "outputFormat": "png",
        }
        if images:
            body["inputImage"] = images[0]
    elif fam == "veo":
        body = {"prompt": prompt, "model": model.id, "aspect_ratio": aspect_ratio or "16:9"}
        if images:
            body["imageUrls"] = images[:3] if image_mode == "reference" else images[:2]
            body["generationType"] = _VEO_MODES.get(image_mode, _VEO_MODES["image"])
    elif fam == "runway":
        body = {
            "prompt": prompt,
            "duration": int(duration or (model.durations[0] if model.durations else 5)),
            "quality": resolution or model.default_resolution or "720p",
            "aspectRatio": aspect_ratio or "16:9",
            "waterMark": "",
        }
        if images:
            body["imageUrl"] = images[0]
    else:
        raise ProviderError(f"KIE.ai model family '{fam}' makes no images or video", provider="kie")
    if callback_url:
        body["callBackUrl"] = callback_url
    return FAMILY_PATHS[fam][0], body


def veo_extend_request(
    model: KieModel, *, task_id: str, prompt: str, callback_url: str | None = None
) -> dict:
    """The body of `POST /api/v1/veo/extend`: continue finished task `task_id` with `prompt`."""
    body: dict[str, Any] = {
        "taskId": task_id,
        "prompt": prompt,
        "model": "quality" if model.id == "veo3" else "fast",
    }
    if callback_url:
        body["callBackUrl"] = callback_url
    return body


def suno_request(
    model: KieModel,
    *,
    prompt: str | None,
    instrumental: bool,
    style: str | None = None,
    title: str | None = None,
    lyrics: str | None = None,
    negative_tags: str | None = None,
    callback_url: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """The path and body of a Suno generation (api-contracts 1.9).

    Custom mode (a `title` or `lyrics` given) sends style and title, and the lyrics as `prompt` for a
    song with vocals; otherwise `prompt` is the idea (mood, style, instruments) and Suno writes the rest.
    """
    custom = bool(title or lyrics)
    body: dict[str, Any] = {"customMode": custom, "instrumental": instrumental, "model": model.id}
    if custom:
        body["style"] = style or ""
        body["title"] = title or ""
        text = prompt if instrumental else lyrics
        if text:
            body["prompt"] = text
    else:
        body["prompt"] = ", ".join(p for p in (prompt, style) if p)
    if negative_tags:
        body["negativeTags"] = negative_tags
    if callback_url:
        body["callBackUrl"] = callback_url
    return FAMILY_PATHS["suno"][0], body
