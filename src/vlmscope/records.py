"""The JSON / CSV contract of docs/json.md: one model's record, its cost object, the flat form for CSV.

Values only: the facts as they are, no display strings. Renderers turn these into JSON and CSV.
"""

from __future__ import annotations

from typing import Any

from vlmscope.data import Anatomy, CostSheet, Fit, Latency, VideoTokens, VisionFacts, ZooEntry
from vlmscope.data.training import TrainSheet


def record(a: Anatomy) -> dict[str, Any]:
    """The documented JSON object for one model (docs/json.md)."""
    v, c, lang, h = a.vision, a.connector, a.language, a.lm_head
    return {
        "model_id": a.model_id,
        "display_name": a.display_name,
        "model_class": a.model_class,
        "model_type": a.model_type,
        "architecture": a.architecture,
        "params": {"total": a.params.total, "vision": a.params.vision, "connector": a.params.connector,
                   "language": a.params.language, "lm_head": a.params.lm_head, "other": a.params.other},
        "vision": _vision_record(v),
        "connector": {"class": c.class_name, "projection": c.projection, "pooling": c.pooling,
                      "tokens_per_image": c.tokens_per_image, "tokens_rule": c.tokens_rule,
                      "separators": [s.text for s in c.separators], "paths": list(c.paths)},
        "language": {"class": lang.class_name, "family": lang.family, "layers": lang.layers,
                     "hidden_size": lang.hidden_size, "intermediate_size": lang.intermediate_size,
                     "heads": lang.heads, "kv_heads": lang.kv_heads, "vocab_size": lang.vocab_size,
                     "attention": lang.attention, "mlp": lang.mlp.class_name, "mlp_gated": lang.mlp.gated,
                     "activation": lang.mlp.activation, "norm": lang.norm.class_name, "norm_eps": lang.norm.eps,
                     "max_position_embeddings": lang.max_position_embeddings, "path": lang.path},
        "lm_head": {"in_features": h.in_features, "out_features": h.out_features, "tied": h.tied, "path": h.path},
        "attention_backends": list(a.attention_backends),
        "card": None if a.card is None else {
            "display_name": a.card.display_name.value,
            "training_method": a.card.training_method.value if a.card.training_method else None,
            "training_method_source": a.card.training_method.source if a.card.training_method else None,
            "model_card_url": a.card.model_card_url,
            "origin": a.card.origin.value if a.card.origin else None,
            "base_model": a.card.base_model.value if a.card.base_model else None,
            "base_model_source": a.card.base_model.source if a.card.base_model else None},
        "source": {"origin": a.source.origin, "location": a.source.location, "files": list(a.source.files),
                   "reconstructed": a.source.reconstructed},
    }


def _vision_record(v: VisionFacts | None) -> dict[str, Any]:
    if v is None:
        return {"class": "none", "family": "none", **dict.fromkeys(
            ("layers", "hidden_size", "intermediate_size", "heads", "patch_size", "image_size", "positions",
             "class_token", "native_resolution", "embeddings", "attention", "mlp", "mlp_gated", "activation",
             "norm", "norm_eps", "path"))}
    return {"class": v.class_name, "family": v.family, "layers": v.layers, "hidden_size": v.hidden_size,
            "intermediate_size": v.intermediate_size, "heads": v.heads, "patch_size": v.patch_size,
            "image_size": v.image_size, "positions": v.positions, "class_token": v.class_token,
            "native_resolution": v.native_resolution, "embeddings": v.embeddings, "attention": v.attention,
            "mlp": v.mlp.class_name,
            "mlp_gated": v.mlp.gated, "activation": v.mlp.activation, "norm": v.norm.class_name,
            "norm_eps": v.norm.eps, "path": v.path}


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} → {"a.b": 1}; lists become ";"-joined strings (for CSV)."""
    flat: dict[str, Any] = {}
    for k, v in data.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            flat.update(flatten(v, f"{name}."))
        elif isinstance(v, list):
            flat[name] = ";".join(map(str, v))
        else:
            flat[name] = v
    return flat


def video_record(v: VideoTokens) -> dict[str, Any]:
    """One video of ``cost.videos`` (docs/json.md)."""
    unit = v.unit.grid or v.unit.frame
    return {"video": str(v.video), "frames": v.video.frames, "fps": v.video.fps, "width": v.video.width,
            "height": v.video.height, "frames_kept": v.frames, "tokens": v.tokens, "fewest_tokens": v.fewest,
            "timestamps": v.timestamps,
            "text_tokens": v.text_tokens,
            "encoder_passes": v.units, "tokens_per_pass": v.unit.tokens,
            "pass_grid" if v.unit.grid else "pass_frame": None if unit is None else list(unit),
            "processor": v.processor, "recipe": v.recipe, "rule": v.rule}


def cost_record(c: CostSheet) -> dict[str, Any]:
    """The documented ``cost`` object (docs/json.md): the sheet's parts, flattened as the format has always
    had them."""
    f, t, r, m, kv = c.flops, c.tokens, c.request, c.memory, c.kv
    return {
        "image_size": list(t.image_size), "images": r.images, "visual_tokens": t.per_image, "crops": t.crops,
        "tokens_rule": t.rule, "text_tokens": r.text_tokens, "prefill_tokens": t.prefill,
        "videos": [video_record(v) for v in t.videos],
        "context": r.context, "batch": r.batch,
        "flops": {"vision": f.vision, "prefill": f.prefill, "decode_per_token": f.decode_per_token,
                  "unit": "FLOPs (a multiply-add counts 2; not MACs)", "method": f.method},
        "weights_bytes": dict(m.weights_by_dtype),
        "weights_bytes_by_role": {role: dict(v) for role, v in m.role_weights_by_dtype.items()},
        "kv_cache_bytes_per_token": kv.bytes_per_token, "kv_layers": kv.layers, "sliding_window": kv.window,
        "kv_cache": {
            "per_layer_bytes_per_token": list(kv.per_token), "layer_caps": list(kv.caps),
            "state_bytes": kv.state_bytes, "cross_bytes_per_state": kv.cross_bytes_per_state,
            "cross_states": kv.cross_states, "method": kv.method},
        "fit": None if c.fit is None else fit_record(c.fit),
        "assumptions": list(c.assumptions),
        "warnings": list(c.warnings),
        "memory": {
            "weights_bytes": m.weights_bytes, "kv_cache_bytes": m.kv_cache_bytes,
            "activation_peak_bytes": m.activation_peak_bytes, "peak_bytes": m.peak_bytes,
            "method": m.method, "quant": m.quant, "quantized": m.quantized_roles,
            "weights_bytes_by_role": dict(m.weights_by_role), "checkpoint_dtype": m.checkpoint_dtype,
            "kv_sliding_layers": kv.sliding, "untraced": list(m.untraced),
            "vision_peak_bytes": m.vision_peak_bytes, "language_peak_bytes": m.language_peak_bytes},
        "latency": latency_record(c.latency),
    }


def latency_record(lat: Latency | None) -> dict[str, Any] | None:
    return None if lat is None else {
        "gpu": lat.gpu, "prefill_s_lower_bound": lat.prefill_s_lower_bound,
        "decode_s_per_token_lower_bound": lat.decode_s_per_token_lower_bound,
        "tokens_per_s_upper_bound": lat.tokens_per_s_upper_bound, "bound_by": lat.bound_by}


def fit_record(f: Fit) -> dict[str, Any]:
    """One object of ``fit -f json`` (docs/json.md)."""
    return {"model_id": f.model_id, "display_name": f.display_name, "fits": f.fits, "gpu": f.gpu,
            "gpu_bytes": f.gpu_bytes, "reserve_bytes": f.reserve_bytes,
            "request": {"image_size": list(f.image_size), "images": f.images, "videos": list(f.videos),
                        "text_tokens": f.text_tokens, "context": f.context, "batch": f.batch},
            "weights_bytes": f.weights_bytes, "kv_cache_bytes": f.kv_cache_bytes,
            "activation_peak_bytes": f.activation_peak_bytes, "peak_bytes": f.peak_bytes,
            "headroom_bytes": f.headroom_bytes, "max_context": f.max_context, "max_batch": f.max_batch,
            "context_limit": f.context_limit, "quant": f.quant, "latency": latency_record(f.latency),
            "method": f.method, "warnings": list(f.warnings)}


def zoo_record(e: ZooEntry) -> dict[str, Any]:
    """One model_type of the zoo: model_type, status, and its anatomy (ok) or the reason it failed."""
    item: dict[str, Any] = {"model_type": e.model_type, "status": e.status}
    if e.anatomy is not None:
        item["anatomy"] = record(e.anatomy)
    else:
        item["reason"] = e.reason
    return item


def train_record(a: Anatomy, t: TrainSheet) -> dict[str, Any]:
    """One object of ``train -f json`` (docs/json.md): the model, and under ``train`` the step's figures."""
    r, s, m, p = t.recipe, t.states, t.memory, t.trainable
    lora = r.method != "full"
    per_gpu = {"params_bytes": s.per_gpu_params_bytes, "grads_bytes": s.per_gpu_grads_bytes,
               "optimizer_bytes": s.per_gpu_optimizer_bytes, "cpu_bytes": s.cpu_bytes}
    train = {
        "recipe": {"method": str(r.method), "lora_rank": r.lora_rank if lora else None,
                   "lora_targets": r.lora_targets if lora else None, "lora_roles": list(r.lora_roles) if lora else None,
                   "freeze": list(r.freeze), "precision": str(r.precision), "optimizer": str(r.optimizer),
                   "gpus": r.gpus, "zero": r.zero, "fsdp": r.fsdp, "offload": r.offload},
        "shape": {"micro_batch": t.shape.micro_batch, "seq_len": t.shape.seq_len, "images": t.shape.images,
                  "image_size": list(t.shape.image_size) if t.shape.image_size else None,
                  "gradient_checkpointing": t.shape.checkpointing, "visual_tokens_per_sample": t.visual_tokens},
        "trainable_params": {"total": p.total, "vision": p.vision, "connector": p.connector, "language": p.language,
                             "lm_head": p.lm_head, "adapted_modules": p.adapted_modules, "frozen": p.frozen},
        "memory": {"params_bytes": s.params_bytes, "grads_bytes": s.grads_bytes, "optimizer_bytes": s.optimizer_bytes,
                   "activation_peak_bytes": max(m.activation_forward_bytes, m.activation_backward_bytes),
                   "step_temporaries_bytes": m.step_temporaries_bytes, "peak_bytes": m.peak_bytes,
                   "peak_phase": m.peak_phase, "phases": m.phases, "method": t.method, "states_method": s.method},
        "gpu_bytes": t.gpu_bytes, "fits": t.fits, "max_micro_batch": t.max_micro_batch, "max_seq_len": t.max_seq_len,
        "step_flops": t.step_flops, "one_change": t.one_change, "warnings": list(t.warnings),
    }
    if r.gpus > 1:
        train["per_gpu"] = per_gpu
    return {"model_id": a.model_id, "display_name": a.display_name, "train": train}
