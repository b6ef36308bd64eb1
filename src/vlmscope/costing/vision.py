"""FLOPs of the vision side: the encoder over one crop (fixed size) or over an image's patch grid (native
resolution), and the connector over the encoder output of all crops."""

from __future__ import annotations

import inspect as pyinspect
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from vlmscope.anatomy.blocks import takes
from vlmscope.anatomy.index import ModuleIndex
from vlmscope.anatomy.roles import Roles
from vlmscope.costing.counting import count, first_that_runs
from vlmscope.costing.echo import count_stacked, uniform
from vlmscope.costing.inputs import MetaPromotion, dtype_of
from vlmscope.costing.spans import spans_batched
from vlmscope.data import Anatomy


def vision_module(module: nn.Module) -> nn.Module:
    """The callable encoder inside a wrapper that only nests it (e.g. a transformers-4 style CLIPVisionModel)."""
    forward = type(module).forward
    if forward is nn.Module.forward and len(list(module.children())) == 1:
        return next(iter(module.children()))
    return module


def tower_flops(index: ModuleIndex, roles: Roles, frame: tuple[int, int], patch: int,
                padded: int = 0) -> tuple[tuple[int, torch.Tensor | None] | None, str]:
    """((FLOPs, output), method) of one vision-encoder pass over a (height, width) frame: the whole tower's
    forward, else patch embedding plus one forward per block (for towers with data-dependent code, e.g.
    ``.item()``). Output: the (meta) tensor the forward returned, its ``last_hidden_state``: a sequence
    (fewer states than patches where the tower merges inside, as MiniCPM-V's does) or a feature map
    (Florence-2's DaViT); None where unknown. ``padded``: the patches the processor pads a pass to (Gemma 4)."""
    return first_that_runs(("forward", lambda: _tower_forward(index, roles, frame, patch, padded)),
                           ("forward per block", lambda: (_tower_per_block(index, roles, frame, patch), None)))


def tower_inputs(tower: nn.Module, frames: int, frame: tuple[int, int], patch: int,
                 dtype: torch.dtype, padded: int = 0) -> dict[str, Any]:
    """The keyword inputs of one forward of a tower over ``frames`` frames of (height, width): the pixels as
    it takes them and what else its forward needs, read off its signature: Idefics2's patch mask, Pixtral's
    image sizes, Mllama's tiles (padded to ``max_num_tiles``) with their aspect ratio, and for towers fed
    flattened patches, each frame's patch grid (SigLIP2's spatial shapes, Gemma 4's patch positions,
    MiniCPM-V's target sizes; Gemma 4's padding to ``padded`` patches at (-1, -1), as its processor pads). Index
    tensors stay on the CPU: the forward reads them as numbers."""
    height, width = frame
    rows, cols = height // patch, width // patch
    pixels = torch.randn(frames, 3, height, width, dtype=dtype)
    if takes(tower, "patch_attention_mask"):
        return {"pixel_values": pixels, "patch_attention_mask": torch.ones(frames, rows, cols, dtype=torch.bool)}
    if takes(tower, "image_sizes"):  # each frame's own size, read as numbers (Pixtral)
        return {"pixel_values": pixels, "image_sizes": [(height, width)] * frames}
    if takes(tower, "aspect_ratio_ids"):  # every image's tiles, padded to the most it may have (Mllama)
        tiles = int(getattr(getattr(tower, "config", None), "max_num_tiles", 1))
        return {"pixel_values": torch.randn(frames, 1, tiles, 3, height, width, dtype=dtype),
                "aspect_ratio_ids": torch.ones(frames, 1, dtype=torch.long, device="cpu"),
                "aspect_ratio_mask": torch.ones(frames, 1, tiles, dtype=torch.long, device="cpu")}
    grids = torch.tensor([[rows, cols]] * frames, dtype=torch.long, device="cpu")
    patches = torch.randn(frames, rows * cols, 3 * patch * patch, dtype=dtype)
    if takes(tower, "spatial_shapes"):
        return {"pixel_values": patches, "spatial_shapes": grids,
                "pixel_attention_mask": torch.ones(frames, rows * cols, dtype=torch.long, device="cpu")}
    if takes(tower, "pixel_position_ids"):  # (x, y) of every patch
        ys, xs = torch.meshgrid(torch.arange(rows, device="cpu"), torch.arange(cols, device="cpu"), indexing="ij")
        where = torch.stack([xs, ys], dim=-1).reshape(1, rows * cols, 2).repeat(frames, 1, 1)
        if padded > rows * cols:
            where = torch.cat([where, torch.full((frames, padded - rows * cols, 2), -1, device="cpu")], dim=1)
            patches = torch.randn(frames, padded, 3 * patch * patch, dtype=dtype)
        return {"pixel_values": patches, "pixel_position_ids": where}
    if takes(tower, "target_sizes"):  # every frame's patches in one row, as MiniCPM-V's processor packs them
        row = torch.randn(1, 3, patch, frames * rows * cols * patch, dtype=dtype)
        return {"pixel_values": row, "target_sizes": grids.to(torch.int32)}
    return {_pixels_keyword(tower): pixels}


def _pixels_keyword(tower: nn.Module) -> str:
    """``pixel_values``, or the first parameter of a forward that names its pixels otherwise (Florence-2's
    DaViT: ``hidden_states``)."""
    if takes(tower, "pixel_values"):
        return "pixel_values"
    try:
        first = next(iter(pyinspect.signature(tower.forward).parameters.values()), None)
    except (TypeError, ValueError):
        first = None
    return first.name if first is not None and first.kind in (first.POSITIONAL_OR_KEYWORD, first.KEYWORD_ONLY) \
        else "pixel_values"


def _on_cpu(kwargs: dict[str, Any]) -> bool:
    return any(isinstance(v, torch.Tensor) and v.device.type == "cpu" for v in kwargs.values())


def tower_call(index: ModuleIndex, roles: Roles, frames: int, frame: tuple[int, int], patch: int,
               dtype: torch.dtype | None = None, padded: int = 0) -> tuple[nn.Module, dict[str, Any], bool]:
    """The encoder, its keyword inputs over ``frames`` frames of (height, width) (meta tensors, index
    tensors on the CPU), and whether its forward runs wholly on meta tensors (False: it reads index tensors
    as numbers, so new tensors must stay on the CPU, joined to meta where mixed)."""
    tower = vision_module(index.modules[roles.vision or ""])
    with torch.device("meta"):
        kwargs = tower_inputs(tower, frames, frame, patch, dtype or dtype_of(tower), padded)
    if takes(tower, "use_vit_merger"):  # MiniCPM-V: its "4x" mode (MiniCPM-OCR's default) skips the inner merger
        kwargs["use_vit_merger"] = getattr(index.model.config, "downsample_mode", None) != "4x"
    return tower, kwargs, not _on_cpu(kwargs)


def _tower_forward(index: ModuleIndex, roles: Roles, frame: tuple[int, int], patch: int,
                   padded: int) -> tuple[int, torch.Tensor | None]:
    tower, kwargs, on_meta = tower_call(index, roles, 1, frame, patch, padded=padded)
    out: list[Any] = []
    if on_meta:
        flops = count_stacked(lambda: out.append(tower(**kwargs)), index, roles.vision_stack)
        return flops, hidden_of(out[-1])

    def run() -> None:  # index tensors read as numbers: new tensors on the CPU, joined to meta where mixed
        with MetaPromotion(), unpadded():
            out.append(tower(**kwargs))

    return count_stacked(run, index, roles.vision_stack, on_meta=False), hidden_of(out[-1])


def hidden_of(output: Any) -> torch.Tensor | None:
    """A tower's output tensor: its ``last_hidden_state``, or the output itself."""
    hidden = getattr(output, "last_hidden_state", output)
    return hidden if isinstance(hidden, torch.Tensor) else None


def map_connector_flops(index: ModuleIndex, roles: Roles, feature_map: torch.Tensor,
                        crops: int) -> tuple[int | None, str]:
    """FLOPs of a lone connector over a tower's (batch, channels, height, width) feature map, as its forward
    takes it (Florence-2's projector: positions, pooled token and projection), for ``crops`` maps."""
    module = index.modules.get(roles.connector[0]) if len(roles.connector) == 1 else None
    if module is None:
        return None, "not counted (no single connector module)"
    counted, how = first_that_runs(("forward over the feature map", lambda: count(lambda: module(feature_map))))
    return (None if counted is None else counted * crops), how


def block_parts(index: ModuleIndex, roles: Roles, frame: tuple[int, int],
                patch: int) -> tuple[nn.Module, list[nn.Module], int, int] | None:
    """(patch embedding, blocks, patch tokens of one frame, width) of an encoder run block by block (its
    whole forward needs data); None without a patch embedding or a block stack."""
    if roles.patch_embedding is None or roles.vision_stack is None:
        return None
    embed = index.modules[roles.patch_embedding]
    width = int(getattr(embed, "out_channels", 0) or getattr(embed, "out_features", 0))
    return (embed, list(index.modules[roles.vision_stack].children()), (frame[0] // patch) * (frame[1] // patch),
            width)


def _tower_per_block(index: ModuleIndex, roles: Roles, frame: tuple[int, int], patch: int) -> int:
    parts = block_parts(index, roles, frame, patch)
    assert parts is not None
    embed, blocks, tokens, width = parts
    total = count(lambda: embed(torch.randn(1, 3, *frame)))
    if uniform(index, roles.vision_stack):  # identical blocks: one forward, counted N times
        return total + len(blocks) * count(lambda: blocks[0](torch.randn(1, tokens, width), None))
    return total + sum(_block_flops(b, tokens, width) for b in blocks)


def _block_flops(block: nn.Module, tokens: int, width: int) -> int:
    return count(lambda: block(torch.randn(1, tokens, width), None))


@contextmanager
def unpadded() -> Iterator[None]:
    """A mask selecting the tower's valid (unpadded) patches on meta tensors (``hidden[mask]``): the frames
    built here have no padding, so every entry is selected, which is what torch's meta ``nonzero`` then
    assumes."""
    from torch.fx.experimental import _config

    saved = _config.meta_nonzero_assume_all_nonzero
    _config.meta_nonzero_assume_all_nonzero = True
    try:
        yield
    finally:
        _config.meta_nonzero_assume_all_nonzero = saved


def dynamic_tower_flops(index: ModuleIndex, roles: Roles, grid: tuple[int, int],
                        merge: int) -> tuple[int | None, str]:
    """FLOPs of a native-resolution encoder (Qwen2-VL family) over one image's patch grid, its own merger
    inside: (FLOPs, method), as ``first_that_runs`` gives them (the method names the patch layout)."""
    return first_that_runs(*((layout, lambda call=call: count_stacked(call, index, roles.vision_stack, on_meta=False))
                             for layout, call in packed_tower_calls(index, roles, [grid], merge)))


def packed_tower_calls(index: ModuleIndex, roles: Roles, grids: list[tuple[int, ...]], merge: int,
                       dtype: torch.dtype | None = None) -> list[tuple[str, Callable[[], Any]]]:
    """One forward of a native-resolution encoder over the images of ``grids`` (rows, columns; or frames,
    rows, columns) packed into one sequence, as the model calls it, for each patch layout the patch embedding
    may take (flattened, or one small image per patch): (layout, call). The forward reads the grid as data
    (attention spans, rotary positions), so the grid stays a CPU tensor and the positions are precomputed by
    transformers' own helper; the patches are meta tensors, made before the call (the forward's input, as a
    processor hands it over)."""
    tower = index.modules[roles.vision or ""]
    grid_thw = torch.tensor([[1, *g] if len(g) == 2 else list(g) for g in grids], device="cpu")
    kwargs: dict[str, Any] = {}
    positions, _ = first_that_runs(("helper", lambda: _position_ids(grid_thw, merge)))
    if positions is not None:  # older transformers: the tower computes its positions itself
        kwargs["position_ids"] = positions
    if takes(tower, "merge_sizes"):  # a merge size per image (VideoLLaMA3)
        kwargs["merge_sizes"] = torch.tensor([merge] * len(grids), device="cpu")

    def call(shape: tuple[int, ...]) -> Callable[[], Any]:
        # Index tensors the forward builds from the grid (window indices, spans) must hold values: new
        # tensors stay on the CPU; the patches and every weight are meta tensors.
        patches = torch.randn(*shape, device="meta", dtype=dtype or dtype_of(tower))

        def run() -> Any:
            with MetaPromotion(), spans_batched(tower):
                return tower(patches, grid_thw=grid_thw, **kwargs)

        return run

    shapes = patch_shapes(index.modules[roles.patch_embedding or ""], int(grid_thw.prod(-1).sum()))
    return [(f"patches as {'×'.join(map(str, shape))}", call(shape)) for shape in shapes]


def patch_shapes(embed: nn.Module, n: int) -> list[tuple[int, ...]]:
    """Layouts in which a native-resolution tower may take ``n`` patches: flattened (a linear embedding's
    inputs, or channels × kernel), one channels × kernel image per patch, or that with a batch of one."""
    if isinstance(embed, nn.Linear):
        return [(n, embed.in_features)]
    kernel = getattr(embed, "kernel_size", (1,))
    kernel = kernel if isinstance(kernel, tuple) else (kernel,)
    channels = int(getattr(embed, "in_channels", 3))
    return [(n, channels * math.prod(kernel)), (n, channels, *kernel), (1, n, channels, *kernel)]


def _position_ids(grid_thw: torch.Tensor, merge: int) -> torch.Tensor:
    from transformers.vision_utils import get_vision_position_ids

    return get_vision_position_ids(grid_thw, merge).to("meta")


def connector_flops(index: ModuleIndex, roles: Roles, anatomy: Anatomy, crops: int, tokens: int,
                    width: int) -> tuple[int, str]:
    """FLOPs of the connector over the encoder output of all crops: each connector module's forward; a
    module whose forward cannot run on meta tensors is split into its children, and a child that still
    cannot run is counted analytically (2 × parameters × the tokens it holds: latents for a resampler)."""
    analytic: list[str] = []
    total = 0
    held = tokens + (1 if anatomy.vision is not None and anatomy.vision.class_token else 0)  # the encoder output
    for path in roles.connector:
        module = index.modules.get(path)
        if module is None:
            continue
        queried = _query_former_flops(module, crops, held, width, anatomy.connector.queries)
        if queried is not None:  # what follows (the projection) reads the queries, not the patches
            total += queried
            tokens = anatomy.connector.queries or tokens
            continue
        total += _module_flops(module, path, crops, tokens, width, anatomy.connector.queries, analytic)
    return total, ("forward" if not analytic else f"forward; analytic for {', '.join(analytic)}")


def _query_former_flops(module: nn.Module, crops: int, held: int, width: int, queries: int | None) -> int | None:
    """A query transformer (BLIP-2's Q-Former): learned queries that cross-attend to the encoder output, run
    as the model calls it, ``module(query_embeds=queries, encoder_hidden_states=image features)``. None for
    any other module, or one that needs more inputs (InstructBLIP's also reads the instruction's tokens)."""
    query_width = query_former_width(module, queries)
    if query_width is None:
        return None
    q = torch.randn(crops, queries or 0, query_width, device="meta")
    image = torch.randn(crops, held, width, device="meta")
    # No encoder mask: the model passes an all-ones one, which transformers drops for SDPA (and reads as data)
    counted, _ = first_that_runs(("query forward", lambda: count(
        lambda: module(query_embeds=q, encoder_hidden_states=image))))
    return counted


def query_former_width(module: nn.Module, queries: int | None) -> int | None:
    """The width of the learned queries a query transformer takes (``module(query_embeds=...,
    encoder_hidden_states=image features)``, BLIP-2's Q-Former); None for any other module, or one that needs
    more inputs (InstructBLIP's also reads the instruction's tokens)."""
    params = pyinspect.signature(module.forward).parameters
    if not queries or not {"query_embeds", "encoder_hidden_states"} <= params.keys():
        return None
    required = {n for n, p in params.items() if p.default is p.empty
                and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    first = next((m for m in module.modules() if isinstance(m, nn.Linear)), None)
    return None if required - {"query_embeds"} or first is None else first.in_features


def _module_flops(module: nn.Module, name: str, crops: int, tokens: int, width: int, queries: int | None,
                  analytic: list[str]) -> int:
    first = next((m for m in module.modules() if isinstance(m, nn.Linear)), None)
    if first is None:  # no Linear: a projection by its own weight (Gemma 3's pooled, normed, multiplied tokens)
        if not any(p.dim() >= 2 for p in module.parameters()):  # norms and the like: no matmul to count
            return 0
        encoded = torch.randn(crops, tokens, width, device="meta")
        counted, _ = first_that_runs(("forward", lambda: count(lambda: module(encoded))))
        if counted is not None:
            return counted
        analytic.append(name)
        return 2 * sum(p.numel() for p in module.parameters()) * crops * tokens
    n = tokens * width // first.in_features if first.in_features > width else tokens
    x = torch.randn(crops, n, first.in_features, device="meta")
    counted, _ = first_that_runs(("forward", lambda: count(lambda: module(x))))
    if counted is not None:  # else a forward that needs more inputs, or data-dependent code: one level down
        return counted
    children = [(f"{name}.{k}", c) for k, c in module.named_children()]
    if children and not _owns_queries(module):  # a ModuleList's members each over the tokens they take
        return sum(_module_flops(c, k, crops, n, first.in_features, queries, analytic) for k, c in children)
    if _owns_queries(module) and (counted := _resampler_flops(module, x)) is not None:
        return counted
    analytic.append(name)
    held = queries if queries and _owns_queries(module) else n
    return 2 * sum(p.numel() for p in module.parameters()) * crops * held


def _resampler_flops(module: nn.Module, context: torch.Tensor) -> int | None:
    """A resampler whose own forward needs data (e.g. to build a mask): run its blocks directly, each as
    block(queries, context), starting from its learned queries. None when the blocks do not take that."""
    latents = next((p for p in module.parameters(recurse=False) if p.dim() >= 2), None)
    blocks = next((c for c in module.children() if isinstance(c, nn.ModuleList)), None)
    if latents is None or blocks is None:
        return None

    def run() -> None:
        q = latents.reshape(-1, latents.shape[-1]).unsqueeze(0).expand(context.shape[0], -1, -1)
        for block in blocks:
            out = block(q, context, attention_mask=None)
            q = out[0] if isinstance(out, tuple) else out

    counted, _ = first_that_runs(("blocks", lambda: count(run)))
    return counted  # None: blocks with another signature; the caller counts analytically


def _owns_queries(module: nn.Module) -> bool:
    """Whether the module itself holds a learned query/latent tensor (a resampler)."""
    if isinstance(module, (nn.Linear, nn.Embedding, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        return False
    return any(p.dim() >= 2 for p in module.parameters(recurse=False))
