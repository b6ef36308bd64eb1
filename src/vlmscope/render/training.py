"""``vlmscope train``'s renderers: one row per model (table, Markdown), and the documented records (JSON, CSV)."""

from __future__ import annotations

from vlmscope.data import Anatomy
from vlmscope.data.training import Method, TrainSheet
from vlmscope.records import train_record
from vlmscope.render.data import dumps, records_csv
from vlmscope.render.rows import Table, printable, readable, short_count

Trained = tuple[Anatomy, TrainSheet]


def recipe_text(t: TrainSheet) -> str:
    """The recipe in words: method, precision, optimizer, shape, sharding."""
    r, s = t.recipe, t.shape
    how = "full fine-tune" + (f" (frozen: {', '.join(r.freeze)})" if r.freeze else "") if r.method == Method.full \
        else f"{'QLoRA (nf4 base)' if r.method == Method.qlora else 'LoRA'} rank {r.lora_rank} on " \
             f"{r.lora_targets} ({', '.join(r.lora_roles)})"
    precision = "DeepSpeed's bf16 (bf16 weights and gradients; fp32 master weights, Adam states and gradient " \
        "partitions)" if r.zero else "bf16 weights, gradients and states" if r.precision == "bf16" else \
        "mixed precision (fp32 weights, gradients and states; the forward under bf16 autocast)"
    images = f", {s.images} image(s) of {s.image_size[0]}×{s.image_size[1]}" if s.image_size and s.images else \
        f", {s.images} image(s) at the native size" if s.images else ", no images"
    return (f"{how}; {precision}; {r.optimizer}; micro-batch {s.micro_batch} × {s.seq_len:,} tokens{images}"
            f"{'; gradient checkpointing' if s.checkpointing else ''}; {r.sharded}")


def train_rows(done: list[Trained]) -> Table:
    """One row per model: parameters trained, bytes on each GPU (model states, activations, peak and its
    phase), the verdict, and how far the micro-batch and sequence go."""
    headers = ["Model", "Trains", "Weights", "Gradients", "Optimizer", "Activations", "Peak", "Fits",
               "Max micro-batch", "Max seq", "Step TFLOPs (all GPUs)"]
    rows = []
    for a, t in done:
        s, m = t.states, t.memory
        verdict = "?" if t.fits is None else "✓" if t.fits else "✗"
        rows.append(tuple(printable(c) for c in (
            a.display_name, f"{short_count(t.trainable.total)} ({t.trainable.total / max(1, a.params.total):.2%})",
            readable(s.per_gpu_params_bytes), readable(s.per_gpu_grads_bytes), readable(s.per_gpu_optimizer_bytes),
            readable(max(m.activation_forward_bytes, m.activation_backward_bytes)),
            f"{readable(m.peak_bytes)} ({m.peak_phase})", verdict,
            "—" if t.max_micro_batch is None else f"{t.max_micro_batch:,}",
            "—" if t.max_seq_len is None else f"{t.max_seq_len:,}",
            f"{t.step_flops / 1e12:,.1f}" if t.step_flops else "—")))
    notes = [recipe_text(done[0][1])] if done else []
    if done and done[0][1].gpu_bytes is not None:
        notes.append(f"usable memory per GPU: {readable(done[0][1].gpu_bytes)} (the GPU's less the reserve)")
    notes.append("bytes per GPU; peak: weights, gradients, optimizer states and the phase's activations at the "
                 "largest phase (forward, backward or optimizer step)")
    notes += [f"{a.display_name} fits with one change: {t.one_change}" for a, t in done if t.one_change]
    notes += [f"{a.display_name}: {w}" for a, t in done for w in t.warnings]
    return Table("Training step", tuple(headers), tuple(rows), tuple(printable(n) for n in notes))


def train_json(done: list[Trained]) -> str:
    """``train -f json``: a list with one object per model (docs/json.md)."""
    return dumps([train_record(a, t) for a, t in done])


def train_csv(done: list[Trained]) -> str:
    """``train -f csv``: one row per model, the JSON keys flattened."""
    return records_csv([train_record(a, t) for a, t in done])
