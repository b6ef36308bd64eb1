"""Memory: weights per dtype and role, the KV cache per token (GQA-aware, sliding window), and whether a
scenario fits."""

from __future__ import annotations

from vlmscope.anatomy.index import ModuleIndex
from vlmscope.anatomy.roles import Roles
from vlmscope.data import DTYPE_BYTES, Anatomy, CostRequest


def kv_cache(index: ModuleIndex, roles: Roles, anatomy: Anatomy) -> tuple[int, int, int | None]:
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


def weights(anatomy: Anatomy) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Bytes of all weights per dtype, and per role per dtype."""
    p = anatomy.params
    roles = {"vision": p.vision, "connector": p.connector, "language": p.language, "lm_head": p.lm_head,
             "other": p.other}
    by_role = {role: {d: int(n * b) for d, b in DTYPE_BYTES.items()} for role, n in roles.items()}
    return {d: int(p.total * b) for d, b in DTYPE_BYTES.items()}, by_role


def scenario(anatomy: Anatomy, request: CostRequest, kv_per_token: int,
             window: int | None) -> tuple[int, bool | None]:
    """(bytes, fits) of the weights in the requested dtypes plus the KV cache for batch × context (capped
    by the sliding window); ``fits`` is None without a GPU size."""
    vision_dtype = request.vision_dtype or request.weights_dtype
    vision_bytes = int(anatomy.params.vision * DTYPE_BYTES[vision_dtype])
    rest = int((anatomy.params.total - anatomy.params.vision) * DTYPE_BYTES[request.weights_dtype])
    cached = min(request.context, window) if window else request.context
    total = vision_bytes + rest + request.batch * cached * kv_per_token
    return total, None if request.gpu_bytes is None else total <= request.gpu_bytes
