"""``vlmscope train`` through the CLI: JSON figures, the search's edges against the traced step itself, and bad
input as one line with exit 2."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from test_step import _config
from typer.testing import CliRunner

from conftest import run_cli
from vlmscope import api
from vlmscope.cli import app
from vlmscope.data import CostRequest
from vlmscope.data.training import TrainRecipe, TrainShape


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny-llava-cli")
    (path / "config.json").write_text(json.dumps(_config().to_dict()))
    return path


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exit_code == 1 and result.exception is not None:  # an exception the CLI let through: show it
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_json_figures_and_the_largest_micro_batch(folder: Path) -> None:
    """The micro-batch and sequence ``train`` reports as the largest that fit do fit, one more does not."""
    code, out, err = _invoke("train", str(folder), "--method", "lora", "--lora-rank", "4", "--gpu-mem", "40MiB",
                             "--reserve", "0GiB", "--seq-len", "256", "-f", "json")
    assert code == 0, err
    (item,) = json.loads(out)
    t = item["train"]
    assert t["trainable_params"]["total"] == t["trainable_params"]["language"] > 0
    assert t["memory"]["peak_bytes"] == max(t["memory"]["phases"].values()) <= t["gpu_bytes"] == 40 * 2**20
    assert t["fits"] is True and t["shape"]["visual_tokens_per_sample"] == 16  # (56 / 14)²
    recipe = TrainRecipe(method="lora", lora_rank=4)
    gpu = CostRequest(gpu_bytes=40 * 2**20, reserve_bytes=0)
    for key, shape_of in (("max_micro_batch", lambda n: TrainShape(micro_batch=n, seq_len=256)),
                          ("max_seq_len", lambda n: TrainShape(seq_len=n))):
        most = t[key]
        assert most is not None and most >= 1
        assert api.train(str(folder), recipe, shape_of(most), gpu=gpu)[1].fits is True
        assert api.train(str(folder), recipe, shape_of(most + 1), gpu=gpu)[1].fits is False


def test_mixed_precision_traces_autocast(folder: Path) -> None:
    """--precision mixed: fp32 weights, gradients and states; the step traced with fp32 weights under the
    emulated CUDA autocast, and said so in the method; it holds more than the bf16 step (bf16 copies of the
    weights beside fp32 ones, fp32 norms and residuals), with the same FLOPs."""
    mixed = api.train(str(folder), TrainRecipe(precision="mixed"), TrainShape(seq_len=256))[1]
    pure = api.train(str(folder), TrainRecipe(), TrainShape(seq_len=256))[1]
    assert "autocast" in mixed.method and "autocast" not in pure.method
    assert not [w for w in mixed.warnings if "autocast" in w]
    assert mixed.states.params_bytes == 2 * pure.states.params_bytes
    assert mixed.memory.activation_forward_bytes > pure.memory.activation_forward_bytes
    assert mixed.step_flops == pure.step_flops


def test_mixed_precision_follows_what_each_sharding_runs(folder: Path) -> None:
    """accelerate runs bf16 autocast for every distributed type but DeepSpeed: with --zero the step is DeepSpeed's
    bf16 engine (no autocast: the bf16 step's activations); with --fsdp the forward runs under autocast over the
    bf16 weights FSDP gathers (no weight casts to hold: less than over fp32 weights, as DDP holds them)."""
    shape = TrainShape(seq_len=256)
    ddp = api.train(str(folder), TrainRecipe(precision="mixed"), shape)[1]
    zero = api.train(str(folder), TrainRecipe(precision="mixed", zero=3, gpus=8), shape)[1]
    zero_bf16 = api.train(str(folder), TrainRecipe(zero=3, gpus=8), shape)[1]
    fsdp = api.train(str(folder), TrainRecipe(precision="mixed", fsdp=True, gpus=8), shape)[1]
    fsdp_bf16 = api.train(str(folder), TrainRecipe(fsdp=True, gpus=8), shape)[1]
    assert "autocast" not in zero.method
    assert zero.memory.activation_forward_bytes == zero_bf16.memory.activation_forward_bytes
    assert "autocast" in fsdp.method and "FSDP gathers" in fsdp.method and "fp32 weights" in ddp.method
    assert fsdp.memory.activation_forward_bytes < ddp.memory.activation_forward_bytes
    assert fsdp.memory.activation_forward_bytes != fsdp_bf16.memory.activation_forward_bytes  # fp32 norms, loss


def test_eight_bit_adamw_step_makes_no_temporaries(folder: Path) -> None:
    """bitsandbytes' 8-bit AdamW is not run (CUDA kernels), and nothing is warned: its states are counted
    (``states.optimizer_bytes``) and its step, fused kernels updating in place, adds nothing above them."""
    sheet = api.train(str(folder), TrainRecipe(optimizer="adamw-8bit"), TrainShape(seq_len=256))[1]
    assert not sheet.warnings and "in place" in sheet.method
    assert sheet.memory.step_temporaries_bytes == 0
    assert sheet.memory.optimizer_bytes == sheet.states.per_gpu_bytes


def test_table_names_the_recipe_and_sharding(folder: Path) -> None:
    code, out, err = _invoke("train", str(folder), "--zero", "3", "--gpus", "8", "--gc", "--images", "2",
                             "-f", "markdown")
    assert code == 0, err
    assert "Training step" in out and "ZeRO-3 over 8 GPUs" in out and "gradient checkpointing" in out
    csv_code, csv_out, _ = _invoke("train", str(folder), "--fsdp", "--gpus", "4", "-f", "csv")
    assert csv_code == 0 and csv_out.splitlines()[0].startswith("model_id,") and len(csv_out.splitlines()) == 2


@pytest.mark.parametrize(("args", "words"), [
    (["--method", "dora"], "method"),
    (["--zero", "2", "--optimizer", "sgd"], "adamw or adamw-fused with --zero"),
    (["--offload"], "offload"),
    (["--lora-roles", "audio", "--method", "lora"], "lora_roles"),
    (["--seq-len", "4"], "seq_len"),
    (["--method", "lora", "--lora-targets", "nothing_here"], "none matched"),
])
def test_bad_input_is_one_line(folder: Path, args: list[str], words: str) -> None:
    code, out, err = _invoke("train", str(folder), *args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and words in err and "Traceback" not in err


def test_one_bad_model_does_not_stop_the_others(folder: Path) -> None:
    code, out, err = _invoke("train", "no/such-model-here", str(folder), "-f", "json")
    assert code == 2 and len(json.loads(out)) == 1 and err.count("vlmscope: error:") == 1


def test_catalog_model_through_the_entry_point() -> None:
    """LLaVA-1.5-7B, LoRA with checkpointing on a 24 GiB card, through the console script's entry point."""
    result = run_cli("train", "llava-1.5-7b-hf", "--method", "lora", "--gc", "--gpu-mem", "24GiB", "-f", "json")
    assert result.returncode == 0, result.stderr
    (item,) = json.loads(result.stdout)
    t = item["train"]
    assert t["trainable_params"]["total"] == 39_976_960  # rank 16 on every language Linear (peft agrees)
    assert t["memory"]["params_bytes"] == 2 * 7_063_427_072 + 4 * 39_976_960
    assert t["fits"] is True and t["max_micro_batch"] >= 1 and t["shape"]["visual_tokens_per_sample"] == 576


@pytest.mark.parametrize("recipe", [TrainRecipe(), TrainRecipe(precision="mixed")], ids=["bf16", "mixed"])
def test_a_step_that_does_not_fit_names_one_change_that_does(folder: Path, recipe: TrainRecipe) -> None:
    """A full fine-tune on too small a card: the change named, applied, fits; the peak it quotes is that step's.
    With checkpointing already on, a mixed-precision step's first change is pure bf16."""
    shape = TrainShape(seq_len=256, checkpointing=recipe.precision == "mixed")
    _, unbounded = api.train(str(folder), recipe, shape)
    gpu = CostRequest(gpu_bytes=unbounded.memory.peak_bytes - 1, reserve_bytes=0)  # one byte short
    _, sheet = api.train(str(folder), recipe, shape, gpu=gpu)
    assert sheet.fits is False and sheet.one_change is not None
    flag, peak = sheet.one_change.split(" (peak ")
    assert (flag == "--precision bf16") == (recipe.precision == "mixed")
    changed = {"--gc": (recipe, replace(shape, checkpointing=True)),
               "--precision bf16": (replace(recipe, precision="bf16"), shape),
               "--freeze vision,connector": (replace(recipe, freeze=("vision", "connector")), shape),
               "--optimizer adamw-8bit": (replace(recipe, optimizer="adamw-8bit"), shape),
               "--method lora": (replace(recipe, method="lora"), shape)}[flag]
    _, fixed = api.train(str(folder), *changed, gpu=gpu)
    assert fixed.fits is True and fixed.memory.peak_bytes == int(peak.removesuffix(" bytes)").replace(",", ""))


def test_report_gains_a_training_section_when_asked(folder: Path, tmp_path: Path) -> None:
    """`report --train lora`: the Training table, its rows the `train` command's own for the same recipe."""
    out = tmp_path / "r.html"
    code, _, err = _invoke("report", str(folder), "--train", "lora", "--no-cost", "-o", str(out))
    assert code == 0, err
    page = out.read_text()
    _, sheet = api.train(str(folder), TrainRecipe(method="lora"))
    from vlmscope.render.rows import readable

    assert "<h2>Training</h2>" in page and f"{readable(sheet.memory.peak_bytes)} (backward)" in page
    plain = tmp_path / "plain.html"
    assert _invoke("report", str(folder), "--no-cost", "-o", str(plain))[0] == 0
    assert "<h2>Training</h2>" not in plain.read_text()
    assert _invoke("report", str(folder), "--train", "dora", "-o", str(plain))[0] == 2
