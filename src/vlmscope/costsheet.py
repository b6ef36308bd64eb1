"""What a VLM costs: visual tokens, FLOPs from real forwards on meta tensors, weight memory, KV cache.

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` while each component's own forward runs
on meta tensors (no data, no memory): the vision encoder per crop, the connector, the language model's
prefill over visual plus text tokens (through ``inputs_embeds``), and one decode step against a cache of
``context`` tokens. They are FLOPs (a multiply-add counts 2), not MACs. The LM head is counted for one
position (the next-token logits), as generation computes it.
"""

from __future__ import annotations

import inspect as pyinspect
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten, tree_map
from torch.utils.flop_counter import FlopCounterMode

from vlmscope.costtypes import DTYPE_BYTES, CostRequest, CostSheet, Flops
from vlmscope.roles import Roles, find_roles
from vlmscope.schema import Anatomy
from vlmscope.sources import ModelSource
from vlmscope.tokens import ImageTokens, config_size, encoded, flat_patch_side, flat_patch_tokens, image_tokens
from vlmscope.walk import ModuleIndex


def _count(fn: Any, on_meta: bool = True) -> int:
    """FLOPs of ``fn``; new tensors default to the meta device unless ``on_meta`` is False (for forwards
    that build index tensors from data, which must stay real)."""
    with torch.device("meta" if on_meta else "cpu"), FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


class _Measured(nn.Module):
    """The stack's first block, with the FLOPs of each of its calls noted (a nested counter)."""

    def __init__(self, block: nn.Module, flops: list[int]) -> None:
        super().__init__()
        self.block = block
        self.flops = flops
        self.last: Any = None
        self.inputs: Any = None
        self.alike = True  # every echoed block was called with inputs like the first block's

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        self.inputs = (args, kwargs)
        with FlopCounterMode(display=False) as counter:
            out = self.block(*args, **kwargs)
        self.flops.append(int(counter.get_total_flops()))
        self.last = out
        return out

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.block, name)


class _Echo(nn.Module):
    """Stands in for a block identical to the first: passes the hidden state through unchanged (same shape),
    shaped like the first block's output, and computes nothing. Other attributes come from the block."""

    def __init__(self, block: nn.Module, first: _Measured) -> None:
        super().__init__()
        object.__setattr__(self, "_original", block)
        object.__setattr__(self, "_first", first)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        first = self._first
        if not _same(first.inputs, (args, kwargs)):  # e.g. window vs full attention spans per block
            first.alike = False
        hidden = args[0] if args else kwargs["hidden_states"]
        last = first.last
        if isinstance(last, tuple):
            return (hidden, *last[1:])
        if last is not None and not isinstance(last, torch.Tensor):
            raise TypeError(f"block output {type(last).__name__} cannot be echoed")
        return hidden

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(object.__getattribute__(self, "_original"), name)


def _same(a: Any, b: Any) -> bool:
    """Whether two block inputs cost the same: meta tensors by shape and dtype, real tensors (data such as
    attention spans) by value, containers element-wise, anything else by identity or equality."""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a.shape != b.shape or a.dtype != b.dtype or a.device != b.device:
            return False
        return a.device.type == "meta" or bool(torch.equal(a, b))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if a is b:
        return True
    try:
        return bool(a == b)
    except Exception:
        return False


@contextmanager
def _echoed(index: ModuleIndex, stack: str, flops: list[int]) -> Iterator[_Measured]:
    """Temporarily run the stack's first block for real (noting its FLOPs and inputs) and echo the others."""
    parent, _, attr = stack.rpartition(".")
    owner = index.modules[parent]
    blocks = getattr(owner, attr)
    first = _Measured(blocks[0], flops)
    setattr(owner, attr, nn.ModuleList([first, *(_Echo(b, first) for b in list(blocks)[1:])]))
    try:
        yield first
    finally:
        setattr(owner, attr, blocks)


def _uniform(index: ModuleIndex, stack: str | None) -> int:
    """Number of blocks in ``stack`` when all are alike (one class, one parameter count, one layer kind),
    else 0."""
    if stack is None or not isinstance(index.modules.get(stack), nn.ModuleList):
        return 0
    kids = index.children(stack)
    alike = len({type(index.modules[k]) for k in kids}) == 1 and len({index.count(k) for k in kids}) == 1
    config = getattr(index.modules[stack.rpartition(".")[0]], "config", None)
    kinds = getattr(config, "layer_types", None) or ()
    # layers of several kinds (sliding-window / full / linear attention) keep caches of different shapes
    return len(kids) if alike and len(kids) > 1 and len(set(kinds)) <= 1 else 0


def count_stacked(fn: Any, index: ModuleIndex, stack: str | None, on_meta: bool = True) -> int:
    """FLOPs of ``fn`` (a forward through a stack of N identical blocks) from one forward that runs only the
    first block for real.

    Every other block of the stack is echoed (its input hidden state passed on unchanged, which has the
    shape the real block would return), so everything around the stack — embeddings, norms, taps of
    intermediate layers, heads — runs as in the real forward; the first block's FLOPs are counted N times.
    A FLOP count depends only on shapes, so this equals the full forward (the test suite checks it against
    full forwards over the catalog and the zoo). Stacks of unlike blocks, or of layers of several kinds
    (``layer_types``: sliding-window and full attention keep caches of different shapes), run in full, as
    does any forward the echo cannot stand in for."""
    n = _uniform(index, stack)
    if not n:
        return _count(fn, on_meta)
    assert stack is not None
    flops: list[int] = []
    try:
        with _echoed(index, stack, flops) as first:
            outer = _count(fn, on_meta)
    except Exception:  # a forward that needs what the echoed blocks do not give: run it in full
        return _count(fn, on_meta)
    if len(flops) != 1 or not first.alike:  # blocks ran more than once, or got other inputs: run in full
        return _count(fn, on_meta)
    return outer + (n - 1) * flops[0]


def _vision_module(module: nn.Module) -> nn.Module:
    """The callable encoder inside a wrapper that only nests it (e.g. a transformers-4 style CLIPVisionModel)."""
    forward = type(module).forward
    if forward is nn.Module.forward and len(list(module.children())) == 1:
        return next(iter(module.children()))
    return module


def _tower_flops(index: ModuleIndex, roles: Roles, size: int, patch: int) -> tuple[int, str]:
    """FLOPs of one vision-encoder pass at the native size: the whole tower's forward, else patch
    embedding plus one forward per block."""
    tower = _vision_module(index.modules[roles.vision or ""])
    pixels = (1, 3, size, size)
    kwargs: dict[str, Any] = {}
    if "patch_attention_mask" in pyinspect.signature(tower.forward).parameters:
        kwargs["patch_attention_mask"] = torch.ones(1, size // patch, size // patch, dtype=torch.bool, device="meta")
    try:
        return count_stacked(lambda: tower(pixel_values=torch.randn(pixels), **kwargs), index,
                             roles.vision_stack), "forward"
    except Exception:  # data-dependent code (e.g. .item()) cannot run on meta: go per block
        pass
    assert roles.patch_embedding is not None and roles.vision_stack is not None
    embed = index.modules[roles.patch_embedding]
    blocks = list(index.modules[roles.vision_stack].children())
    tokens = (size // patch) ** 2
    width = int(getattr(embed, "out_channels", 0) or getattr(embed, "out_features", 0))
    total = _count(lambda: embed(torch.randn(pixels)))
    if _uniform(index, roles.vision_stack):  # identical blocks: one forward, counted N times
        total += len(blocks) * _count(lambda: blocks[0](torch.randn(1, tokens, width), None))
    else:
        total += sum(_count(lambda b=b: b(torch.randn(1, tokens, width), None)) for b in blocks)
    return total, "forward per block"


class _MetaPromotion(TorchFunctionMode):
    """Where one operation mixes meta tensors with real (CPU) tensors — values a forward computed from the
    patch grid, such as interpolation weights — the real ones join the meta device. Operations on real
    tensors alone (attention spans, split sizes) keep their values."""

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        tensors = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        if any(t.device.type == "meta" for t in tensors) and any(
                t.device.type != "meta" and t.dim() > 0 for t in tensors):
            args, kwargs = tree_map(
                lambda t: t.to("meta") if isinstance(t, torch.Tensor) and t.device.type != "meta" else t,
                (args, kwargs))
        return func(*args, **kwargs)


def _dynamic_tower_flops(index: ModuleIndex, roles: Roles, grid: tuple[int, int], merge: int) -> int:
    """FLOPs of a native-resolution encoder (Qwen2-VL family) over one image's patch grid. Its forward reads
    the grid as data (attention spans, rotary positions), so the grid stays a CPU tensor and the positions
    are precomputed by transformers' own helper; the flattened patches are meta tensors. The tower's own
    merger runs inside this forward."""
    tower = index.modules[roles.vision or ""]
    embed = index.modules[roles.patch_embedding or ""]
    kernel = getattr(embed, "kernel_size", (1,))
    dim = int(getattr(embed, "in_channels", 3)) * math.prod(kernel if isinstance(kernel, tuple) else (kernel,))
    rows, cols = grid
    grid_thw = torch.tensor([[1, rows, cols]], device="cpu")
    kwargs: dict[str, Any] = {}
    try:
        from transformers.vision_utils import get_vision_position_ids

        kwargs["position_ids"] = get_vision_position_ids(grid_thw, merge).to("meta")
    except Exception:  # older helpers: the tower computes its positions itself
        pass
    # Index tensors the forward builds from the grid (window indices, spans) must hold values: new tensors
    # stay on the CPU; the patches and every weight are meta tensors.
    patches = torch.randn(rows * cols, dim, device="meta")

    def run() -> None:
        with _MetaPromotion():
            tower(patches, grid_thw=grid_thw, **kwargs)

    return count_stacked(run, index, roles.vision_stack, on_meta=False)


def _connector_flops(index: ModuleIndex, roles: Roles, anatomy: Anatomy, crops: int, tokens: int,
                     width: int) -> tuple[int, str]:
    """FLOPs of the connector over the encoder output of all crops: each connector module's forward; a
    module whose forward cannot run on meta tensors is split into its children, and a child that still
    cannot run is counted analytically (2 × parameters × the tokens it holds: latents for a resampler)."""
    analytic: list[str] = []
    total = 0
    for path in roles.connector:
        module = index.modules.get(path)
        if module is not None:
            total += _module_flops(module, path, crops, tokens, width, anatomy.connector.queries, analytic)
    return total, ("forward" if not analytic else f"forward; analytic for {', '.join(analytic)}")


def _module_flops(module: nn.Module, name: str, crops: int, tokens: int, width: int, queries: int | None,
                  analytic: list[str]) -> int:
    first = next((m for m in module.modules() if isinstance(m, nn.Linear)), None)
    if first is None:
        return 0
    n = tokens * width // first.in_features if first.in_features > width else tokens
    x = torch.randn(crops, n, first.in_features, device="meta")
    try:
        return _count(lambda: module(x))
    except Exception:  # a forward that needs more inputs, or data-dependent code: go one level down
        pass
    children = [(f"{name}.{k}", c) for k, c in module.named_children()]
    if children and not isinstance(module, nn.ModuleList) and not _owns_queries(module):
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

    try:
        return _count(run)
    except Exception:  # blocks with another signature: let the caller count analytically
        return None


def _owns_queries(module: nn.Module) -> bool:
    """Whether the module itself holds a learned query/latent tensor (a resampler)."""
    if isinstance(module, (nn.Linear, nn.Embedding, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        return False
    return any(p.dim() >= 2 for p in module.parameters(recurse=False))


def _lm(index: ModuleIndex, roles: Roles) -> nn.Module:
    return index.modules[roles.language_root]


def _head_flops(anatomy: Anatomy) -> int:
    return 2 * anatomy.lm_head.in_features * anatomy.lm_head.out_features


def _prefill_flops(lm: nn.Module, anatomy: Anatomy, tokens: int, index: ModuleIndex, roles: Roles) -> int:
    width = anatomy.language.hidden_size
    # use_cache=True: with a cache, transformers skips a data-dependent packed-sequence check on the mask.
    run = lambda: lm(inputs_embeds=torch.randn(1, tokens, width), use_cache=True)  # noqa: E731
    return count_stacked(run, index, roles.language_stack) + _head_flops(anatomy)


def _filled_cache(lm: nn.Module, context: int) -> Any:
    """A transformers DynamicCache holding ``context`` tokens of meta keys and values for every layer."""
    from transformers import DynamicCache

    config: Any = getattr(lm, "config")  # noqa: B009 - typed as Any on purpose
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    with torch.device("meta"):
        cache = DynamicCache(config=config)
        for layer in range(config.num_hidden_layers):
            keys = torch.empty(1, config.num_key_value_heads, context, head_dim)
            cache.update(keys, keys.clone(), layer)
    return cache


def _decode_flops(lm: nn.Module, anatomy: Anatomy, context: int, index: ModuleIndex, roles: Roles) -> int:
    """One token against a cache of ``context`` tokens. The cache is filled directly (same shapes as a
    prefill would leave); where the config does not say how, a real prefill fills it. Every run gets a
    fresh cache: a decode step appends to the cache it is given."""
    width = anatomy.language.hidden_size
    try:
        _filled_cache(lm, 1)  # does the config say how to fill a cache?
    except (AttributeError, TypeError, ValueError):
        with torch.device("meta"):
            out = lm(inputs_embeds=torch.randn(1, context, width), use_cache=True)
        cache = out.get("cache") if hasattr(out, "get") else None
        return _count(lambda: lm(inputs_embeds=torch.randn(1, 1, width), cache=cache, use_cache=True)) \
            + _head_flops(anatomy)

    def run() -> None:
        lm(inputs_embeds=torch.randn(1, 1, width), cache=_filled_cache(lm, context), use_cache=True)

    return count_stacked(run, index, roles.language_stack) + _head_flops(anatomy)


def _kv(index: ModuleIndex, roles: Roles, anatomy: Anatomy) -> tuple[int, int, int | None]:
    """(bf16 KV bytes per token, self-attention layers, sliding window) of the language model."""
    lang = anatomy.language
    blocks = list(index.modules[roles.language_stack].children())
    layers = sum(1 for b in blocks if "CrossAttention" not in type(b).__name__)
    attn = next((m for m in blocks[0].modules() if "Attention" in type(m).__name__), None)
    head_dim = getattr(attn, "head_dim", None) or lang.hidden_size // (lang.heads or 1)
    config = getattr(attn, "config", None)
    window = getattr(config, "sliding_window", None) if config is not None else None
    if config is not None and getattr(config, "use_sliding_window", True) is False:
        window = None
    per_token = layers * 2 * (lang.kv_heads or lang.heads or 0) * int(head_dim) * 2
    return per_token, layers, window if isinstance(window, int) else None


def _weights(anatomy: Anatomy) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    p = anatomy.params
    roles = {"vision": p.vision, "connector": p.connector, "language": p.language, "lm_head": p.lm_head,
             "other": p.other}
    by_role = {role: {d: int(n * b) for d, b in DTYPE_BYTES.items()} for role, n in roles.items()}
    return {d: int(p.total * b) for d, b in DTYPE_BYTES.items()}, by_role


def cost_sheet(model: nn.Module, source: ModelSource, anatomy: Anatomy, request: CostRequest) -> CostSheet:
    """The cost sheet of one model for one request, from forwards on meta tensors."""
    index = ModuleIndex(model)
    roles = find_roles(index)
    v = anatomy.vision
    native = (v.image_size, v.image_size) if v and v.image_size and not v.native_resolution else (0, 0)
    width, height = request.image_size or native
    img = ImageTokens(None, 0, "no vision encoder, or no image size: pass one (--image-size)")
    c = anatomy.connector
    embed = index.modules[roles.patch_embedding] if roles.patch_embedding and roles.vision is None else None
    flat = flat_patch_side(embed, source.config)
    if v is None and flat:  # patches go straight into the language model (Fuyu)
        width, height = request.image_size or config_size(source.config)
        if width and height:
            img = flat_patch_tokens(flat, source.preprocessor or {}, width, height)
    if v and v.patch_size and width and height:
        enc = encoded(v, c.queries, c.merge, c.avg_pool, c.merge_hint)
        if enc.image_size or enc.dynamic:
            img = image_tokens(enc, source, width, height)
    prefill_tokens = img.tokens * request.images + request.text_tokens if img.tokens is not None else None
    flops = _flops(index, roles, anatomy, img, request, prefill_tokens)
    weights, by_role = _weights(anatomy)
    kv, kv_layers, window = _kv(index, roles, anatomy)
    vision_dtype = request.vision_dtype or request.weights_dtype
    vision_bytes = int(anatomy.params.vision * DTYPE_BYTES[vision_dtype])
    rest = int((anatomy.params.total - anatomy.params.vision) * DTYPE_BYTES[request.weights_dtype])
    cached = min(request.context, window) if window else request.context
    scenario = vision_bytes + rest + request.batch * cached * kv
    fits = None if request.gpu_gb is None else scenario <= request.gpu_gb * 1024**3
    return CostSheet(
        image_size=(width, height), images=request.images, visual_tokens=img.tokens, crops=img.crops,
        tokens_rule=img.rule, text_tokens=request.text_tokens, prefill_tokens=prefill_tokens,
        context=request.context, batch=request.batch, flops=flops, weights_bytes=weights,
        role_weights_bytes=by_role, kv_cache_bytes_per_token=kv, kv_layers=kv_layers, sliding_window=window,
        scenario_bytes=scenario, weights_dtype=request.weights_dtype, vision_dtype=vision_dtype,
        gpu_gb=request.gpu_gb, fits=fits,
    )


def _flops(index: ModuleIndex, roles: Roles, anatomy: Anatomy, img: ImageTokens, request: CostRequest,
           prefill_tokens: int | None) -> Flops:
    v = anatomy.vision
    methods: list[str] = []
    vision: int | None = None
    if v is not None and v.image_size and v.patch_size and img.tokens is not None and not v.native_resolution:
        try:
            tower, how = _tower_flops(index, roles, v.image_size, v.patch_size)
            out_tokens = (v.image_size // v.patch_size) ** 2
            crops = img.crops * request.images
            connector, how_c = _connector_flops(index, roles, anatomy, crops, out_tokens, v.hidden_size)
            vision = tower * crops + connector
            methods += [f"vision: {how}", f"connector: {how_c}"]
        except Exception as exc:  # a tower whose forward cannot run on meta tensors, even block by block
            methods.append(f"vision: not counted ({_why(exc)})")
    elif v is None and img.grid is not None:  # flattened patches: the patch projection is the vision compute
        rows, cols = img.grid
        embed = index.modules[roles.patch_embedding or ""]
        width = int(getattr(embed, "in_features", 0))
        vision, how_c = _connector_flops(index, roles, anatomy, request.images, rows * cols, width)
        methods.append(f"patch projection: {how_c}")
    elif v is not None and (not v.image_size or v.native_resolution) and img.grid is not None:
        try:
            vision = _dynamic_tower_flops(index, roles, img.grid, anatomy.connector.merge) * request.images
            methods.append("vision: forward over the patch grid (with its merger)")
        except Exception as exc:  # a native-resolution tower with another calling convention
            methods.append(f"vision: not counted ({_why(exc)})")
    lm = _lm(index, roles)
    try:
        prefill = _prefill_flops(lm, anatomy, prefill_tokens, index, roles) if prefill_tokens else None
        decode: int | None = _decode_flops(lm, anatomy, request.context, index, roles)
        methods.append("language: forward")
    except Exception as exc:  # e.g. remote code whose language model has no inputs_embeds forward
        prefill = decode = None
        methods.append(f"language: not counted ({_why(exc)})")
    return Flops(vision, prefill, decode, "; ".join(methods))


def _why(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}" if str(exc) else type(exc).__name__


def forward_tokens_per_crop(model: nn.Module, source: ModelSource, anatomy: Anatomy) -> int | None:
    """Visual tokens one crop becomes, read off real forwards on meta tensors: the vision tower's output
    length, the model's feature selection, then the connector's output length. None when the connector
    reshapes features outside its modules (merges, HD crops) or its forward needs data."""
    index = ModuleIndex(model)
    roles = find_roles(index)
    v = anatomy.vision
    if v is None or not v.image_size or not v.patch_size or roles.vision is None:
        return None
    tower = _vision_module(index.modules[roles.vision])
    try:
        with torch.device("meta"):
            hidden = tower(pixel_values=torch.randn(1, 3, v.image_size, v.image_size)).last_hidden_state
    except Exception:  # a tower that cannot run on meta tensors
        return None
    tokens, width = int(hidden.shape[1]), int(hidden.shape[2])
    strategy = source.config.get("vision_feature_select_strategy")
    if strategy == "default" or (strategy is None and v.class_token):
        tokens -= 1  # transformers keeps [:, 1:]
    x = torch.randn(1, tokens, width, device="meta")
    for path in roles.connector:
        module = index.modules.get(path)
        if module is None:
            continue
        first = next((m for m in module.modules() if isinstance(m, nn.Linear)), None)
        if first is None:
            continue
        if first.in_features != x.shape[-1]:
            return None  # features are reshaped between tower and connector: nothing to confirm here
        try:
            with torch.device("meta"):
                x = module(x)
        except Exception:
            return None
    return int(x.shape[1])
