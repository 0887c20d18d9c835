"""AI.ImageEdit: inpaint, outpaint, restyle or edit images with KIE.ai (Flux Kontext, GPT-4o image, Nano
Banana edit, Seedream edit), from any image clip (a stock photo, a library asset, a generated image).

- edit: an instruction ("make it night", "remove the car");
- inpaint: change one part - given by a mask (black = change, white = keep; models with `mask` in the table)
  or described in words (`region`, every model);
- outpaint: extend the picture to the template's canvas (or `aspect_ratio`) without cropping the subject:
  the image is padded locally to that shape with a flat grey border (and, for mask models, a mask of the
  border), and the model paints the border;
- style: restyle the whole picture as `prompt` says, or after a `style_image` (models taking 2+ images).

Local inputs are uploaded through KIE's file upload once per content and reused by hash; every edit is a paid
task run once (`kie_tasks`), recorded in the asset library with its provenance.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from ..hashing import file_sha256
from ..pricing import KieModel, credits_to_usd, kie_model, kie_models
from ..providers import client_for
from ..providers.kie import KieClient, build_request
from ..types import Clip
from .ai_params import aspect_for, clip_of, models_help
from .base import Node, NodeContext, Params, Ports, register
from .kie_tasks import (
    MAX_PARALLEL,
    UPLOAD_MARK,
    Paid,
    fetch_files,
    keep_in_library,
    label_for,
    run_paid,
    task_key,
)

__all__ = ["AIImageEdit", "edit_prompt", "pad_to_ratio"]

_BORDER = (128, 128, 128)
OPERATIONS = ("edit", "inpaint", "outpaint", "style")


class EditParams(Params):
    model: str = Field("flux-kontext-pro", description=models_help("image", edits=True))
    operation: Literal["edit", "inpaint", "outpaint", "style"] = Field(
        "edit",
        description="edit (an instruction), inpaint (change one part), outpaint (extend to the canvas), "
        "style (restyle).",
    )
    prompt: str | None = Field(
        None,
        description="The instruction (edit), what to paint (inpaint), the style (style), or what lies beyond "
        "the picture (outpaint, optional).",
    )
    region: str | None = Field(
        None, description="Inpaint without a mask: the part to change, in words (e.g. 'the sky')."
    )
    aspect_ratio: str | None = Field(
        None, description="Outpaint to this ratio, e.g. '9:16' (default: the template canvas)."
    )
    callback_url: str | None = Field(
        None, description="Your public endpoint for KIE callbacks (optional; polling stays on)."
    )
    timeout: float = Field(
        600, gt=0, description="Seconds to wait for one edit before giving up (resume continues it)."
    )


class EditInputs(Ports):
    image: list[Clip] = Field(description="The images to edit (one edit each).")
    mask: list[Clip] = Field(
        default_factory=list,
        description="Inpaint masks (black = change, white = keep); one per image, the last repeats.",
    )
    style_image: list[Clip] = Field(
        default_factory=list, description="A picture whose style to take (operation style)."
    )


class EditOutputs(Ports):
    clips: list[Clip]


def edit_prompt(
    operation: str,
    prompt: str | None,
    *,
    region: str | None = None,
    masked: bool = False,
    styled: bool = False,
) -> str:
    """The instruction sent for an edit."""
    text = " ".join((prompt or "").split())
    if operation == "inpaint" and not masked:
        return f"Change only {region}: {text}. Keep everything else exactly as it is."
    if operation == "outpaint":
        beyond = f" ({text})" if text else ""
        return (
            "Fill the flat grey border areas so the scene continues naturally beyond the original picture"
            f"{beyond}. Keep the original picture in the centre unchanged, uncropped and undistorted; "
            "no borders, frames or text."
        )
    if operation == "style":
        after = "in the style of the second image" if styled else f"as {text}"
        extra = f", {text}" if styled and text else ""
        return f"Restyle the whole picture {after}{extra}, keeping its composition, subjects and layout."
    return text


def pad_to_ratio(src: Path, ratio: float, out_dir: Path, *, mask: bool) -> tuple[Path, Path | None]:
    """`src` centred on a flat grey canvas of `ratio` (width / height) that contains it whole, and the mask of
    the added border (black = paint, white = keep) when `mask`. The files are named by content."""
    from PIL import Image

    with Image.open(src) as img:
        img = img.convert("RGB")
        w, h = img.size
        if w / h < ratio:
            cw, ch = round(h * ratio), h
        else:
            cw, ch = w, round(w / ratio)
        cw, ch = max(cw, w), max(ch, h)
        x, y = (cw - w) // 2, (ch - h) // 2
        canvas = Image.new("RGB", (cw, ch), _BORDER)
        canvas.paste(img, (x, y))
        padded = out_dir / f"{file_sha256(src)[:16]}-pad-{cw}x{ch}.png"
        canvas.save(padded, format="PNG")
        mask_path = None
        if mask:
            m = Image.new("RGB", (cw, ch), (0, 0, 0))
            m.paste(Image.new("RGB", (w, h), (255, 255, 255)), (x, y))
            mask_path = out_dir / f"{file_sha256(src)[:16]}-mask-{cw}x{ch}.png"
            m.save(mask_path, format="PNG")
    return padded, mask_path


@register
class AIImageEdit(Node):
    type = "AI.ImageEdit"
    version = "1"
    description = (
        "Edits images with KIE.ai: inpaint (mask or described region), outpaint to the template canvas, "
        "style transfer, instruction edits (Flux Kontext, GPT-4o image, Nano Banana edit, Seedream edit)."
    )
    Params = EditParams
    Inputs = EditInputs
    Outputs = EditOutputs
    resource = "kie"
    uses_template = True

    def estimate_cost(self, params: EditParams, template: dict[str, Any]) -> dict[str, float]:
        model = kie_model(params.model)
        return {"kie": credits_to_usd(model.credits(count=1))} if model else {}

    def validate_params(self, params: EditParams, template: dict[str, Any]) -> list[tuple[str, str]]:
        model = kie_model(params.model)
        editors = sorted(m.id for m in kie_models().values() if m.edits)
        if model is None or not model.edits:
            return [
                ("params.model", f"unknown image edit model '{params.model}'; known: {', '.join(editors)}")
            ]
        problems = []
        if params.operation not in model.edits:
            can = sorted(m.id for m in kie_models().values() if params.operation in m.edits)
            problems.append(
                ("params.operation", f"{model.id} cannot {params.operation}; use one of {', '.join(can)}")
            )
        if params.operation in ("edit", "inpaint") and not (params.prompt and params.prompt.strip()):
            what = "what to change" if params.operation == "edit" else "what to paint there"
            problems.append(("params.prompt", f"{params.operation} needs a prompt: {what}"))
        if params.region is not None and params.operation != "inpaint":
            problems.append(("params.region", "region is for operation inpaint"))
        if params.aspect_ratio is not None:
            try:
                a, b = (float(x) for x in params.aspect_ratio.split(":"))
                if a <= 0 or b <= 0:
                    raise ValueError
            except ValueError:
                problems.append(("params.aspect_ratio", f"'{params.aspect_ratio}' is not a ratio like 9:16"))
        return problems

    async def run(self, ctx: NodeContext, params: EditParams, inputs: EditInputs) -> EditOutputs:
        model = kie_model(params.model)
        assert model is not None  # validated at load time
        self._check_inputs(ctx, model, params, inputs)
        client: KieClient = client_for(ctx, KieClient)  # type: ignore[assignment]
        slots = ctx.services.setdefault("kie:slots", asyncio.Semaphore(MAX_PARALLEL))
        seen: dict[str, int] = {}

        async def one(i: int, clip: Clip) -> list[Clip]:
            mask = inputs.mask[min(i, len(inputs.mask) - 1)] if inputs.mask else None
            async with slots:
                return await self._edit(ctx, client, model, params, clip, mask, inputs.style_image, seen)

        results = await asyncio.gather(
            *(one(i, c) for i, c in enumerate(inputs.image)), return_exceptions=True
        )
        for r in results:  # every edit ran to its end first: nothing paid for is abandoned
            if isinstance(r, BaseException):
                raise r
        return EditOutputs(clips=[c for r in results for c in r])  # type: ignore[union-attr]

    def _check_inputs(
        self, ctx: NodeContext, model: KieModel, params: EditParams, inputs: EditInputs
    ) -> None:
        if not inputs.image:
            raise ctx.error("connect an 'image' input: the images to edit", field="inputs.image")
        for c in [*inputs.image, *inputs.mask, *inputs.style_image]:
            if c.kind != "image" or not c.path:
                raise ctx.error(
                    f"AI.ImageEdit edits still images; got a {c.kind} clip ({c.source or c.path})",
                    field="inputs.image",
                )
        masks = [m.id for m in kie_models().values() if m.mask]
        if inputs.mask and params.operation != "inpaint":
            raise ctx.error("a mask is for operation inpaint", field="inputs.mask")
        if inputs.mask and not model.mask:
            raise ctx.error(
                f"{model.id} takes no mask: describe the part in params.region, or use {', '.join(masks)}",
                field="inputs.mask",
            )
        if (
            params.operation == "inpaint"
            and not inputs.mask
            and not (params.region and params.region.strip())
        ):
            raise ctx.error(
                "inpaint needs a mask input or params.region (the part to change, in words)",
                field="params.region",
            )
        if (
            params.operation == "style"
            and not inputs.style_image
            and not (params.prompt and params.prompt.strip())
        ):
            raise ctx.error(
                "style needs params.prompt (the style) or a style_image input", field="params.prompt"
            )
        if inputs.style_image and model.max_images < 2:
            takes = sorted(m.id for m in kie_models().values() if m.edits and m.max_images >= 2)
            raise ctx.error(
                f"{model.id} takes one image, so no style_image; use one of {', '.join(takes)}",
                field="inputs.style_image",
            )

    async def _edit(
        self,
        ctx: NodeContext,
        client: KieClient,
        model: KieModel,
        params: EditParams,
        clip: Clip,
        mask: Clip | None,
        style_images: list[Clip],
        seen: dict[str, int],
    ) -> list[Clip]:
        source = Path(str(clip.path))
        canvas = (ctx.template or {}).get("canvas") or {"width": 1080, "height": 1920}
        target = params.aspect_ratio or f"{int(canvas['width'])}:{int(canvas['height'])}"
        tw, th = (float(x) for x in target.split(":"))
        mask_path = Path(str(mask.path)) if mask else None
        if params.operation == "outpaint":
            source, mask_path = await asyncio.to_thread(
                pad_to_ratio, source, tw / th, ctx.workdir, mask=model.mask
            )
            width, height = tw, th
        else:
            width, height = float(clip.width or tw), float(clip.height or th)
        files = [source] + ([Path(str(style_images[0].path))] if style_images else [])
        uploads = {file_sha256(p): p for p in files}
        marks = [UPLOAD_MARK + file_sha256(p) for p in files]
        mask_mark = None
        if mask_path is not None:
            uploads[file_sha256(mask_path)] = mask_path
            mask_mark = UPLOAD_MARK + file_sha256(mask_path)
        prompt = edit_prompt(
            params.operation,
            params.prompt,
            region=params.region,
            masked=mask_path is not None,
            styled=bool(style_images),
        )
        aspect = aspect_for(model, int(width * 1000), int(height * 1000))
        path, body = build_request(
            model,
            prompt=prompt,
            aspect_ratio=aspect,
            image_urls=marks,
            mask_url=mask_mark,
            callback_url=params.callback_url,
        )
        plain = task_key(model.id, path, body)
        variant = seen.get(plain, 0)
        seen[plain] = variant + 1
        key = task_key(model.id, path, body, variant)
        label = label_for(prompt, clip.scene, f"{params.operation} prompt")
        paid = Paid(
            key,
            model,
            model.family,
            path,
            body,
            label,
            model.credits(count=1),
            uploads,
            {"prompt": prompt, "operation": params.operation},
        )
        status = await run_paid(ctx, client, paid, timeout=params.timeout)
        files_out, fresh = await fetch_files(ctx, client, key, status.urls, status.task_id, ".png")
        if fresh:
            credits = float(
                ((ctx.job_store().provider_task(key) or {}).get("result") or {}).get("credits") or 0
            )
            provenance = {
                "provider": "kie",
                "model": model.id,
                "operation": params.operation,
                "prompt": prompt,
                "input": file_sha256(clip.path),  # type: ignore[arg-type]  # an image clip: it has a path
                "task_id": status.task_id,
                "credits": credits,
                "cost": credits_to_usd(credits),
            }
            await keep_in_library(ctx, files_out, status.urls, provenance)
        return [clip_of(f, clip.scene, prompt, "image") for f in files_out]
