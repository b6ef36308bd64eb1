"""The CLI through the real entry point (the installed ``vlmscope`` console script)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import GOLDEN, run_cli


def test_help_lists_the_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("compare", "show", "list"):
        assert command in result.stdout


def test_compare_markdown_is_the_golden_file(golden) -> None:  # type: ignore[no-untyped-def]
    """The main job: the seed's two tables, unchanged, then the cost table (native image sizes)."""
    result = run_cli("compare", "--format", "markdown")
    assert result.returncode == 0, result.stderr
    golden("compare_default.md", result.stdout)
    seed = (GOLDEN / "compare_seed.md").read_text()
    assert result.stdout.startswith(seed) and result.stdout[len(seed):].lstrip().startswith("### Cost")
    only_seed = run_cli("compare", "--format", "markdown", "--no-cost")
    assert only_seed.returncode == 0 and only_seed.stdout == seed


def test_compare_table_shows_both_tables() -> None:
    result = run_cli("compare", "llava-1.5-7b-hf", "idefics2-8b")
    assert result.returncode == 0, result.stderr
    for text in ("Overview", "Architecture", "7,063,427,072", "Perceiver resampler", "CLIP ViT-L/14 @336"):
        assert text in result.stdout


def test_compare_json_and_csv() -> None:
    data = json.loads(run_cli("compare", "Phi-3-vision-128k-instruct", "--format", "json").stdout)
    assert [d["params"]["total"] for d in data] == [4_146_621_440]
    lines = run_cli("compare", "llava-1.5-7b-hf", "mantis-8b-clip-llama3", "-f", "csv").stdout.splitlines()
    assert len(lines) == 3 and lines[0].startswith("model_id,")


def test_show_prints_facts_and_collapsed_tree() -> None:
    result = run_cli("show", "llava-1.5-7b-hf")
    assert result.returncode == 0, result.stderr
    assert "24 × CLIPEncoderLayer" in result.stdout and "32 × LlamaDecoderLayer" in result.stdout
    assert "tokens per image" in result.stdout
    md = run_cli("show", "llava-1.5-7b-hf", "--format", "markdown", "--depth", "2").stdout
    assert md.startswith("## LLaVA-1.5-7B (`llava-hf/llava-1.5-7b-hf`)") and "CLIPEncoderLayer" not in md
    data = json.loads(run_cli("show", "idefics2-8b", "-f", "json").stdout)
    assert data["connector"]["tokens_per_image"] == 320 and data["tree"][0].startswith("Idefics2ForConditionalGen")


def test_list_shows_the_catalog() -> None:
    result = run_cli("list")
    assert result.returncode == 0
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["model", "id", "short", "name", "origin", "base", "model", "config"] and len(rows) >= 19
    for title in ("short name", "origin", "base model", "config"):
        column = header.index(title)
        assert all(row[column - 2:column] == "  " and row[column] != " " for row in rows)  # aligned, however long
    phi = next(row for row in rows if row.startswith("microsoft/Phi-3-vision-128k-instruct "))
    llava = next(row for row in rows if row.startswith("llava-hf/llava-1.5-7b-hf "))
    assert phi.endswith("  reconstructed") and llava.endswith("  verbatim")
    assert phi.split()[2:4] == ["official", "—"]
    assert llava.split()[2:4] == ["conversion", "liuhaotian/llava-v1.5-7b"]
    vqa = next(row for row in rows if row.startswith("merve/paligemma_vqav2 "))
    assert vqa.split()[2:4] == ["fine-tune", "google/paligemma-3b-pt-224"]


def test_a_local_folder_is_titled_once(tmp_path: Path) -> None:
    from vlmscope.sources import catalog

    entry = catalog.find("llava-1.5-7b-hf")
    assert entry is not None
    folder = tmp_path / "my-finetune"
    folder.mkdir()
    (folder / "config.json").write_bytes((entry.folder / "config.json").read_bytes())
    table = run_cli("show", str(folder), "--depth", "0")
    assert table.returncode == 0 and "my-finetune (my-finetune)" not in table.stdout and "my-finetune" in table.stdout
    markdown = run_cli("show", str(folder), "-f", "markdown")
    assert markdown.stdout.splitlines()[0] == "## `my-finetune`"


def test_unknown_model_is_one_line_and_exit_2() -> None:
    result = run_cli("compare", "llava-1.5")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("vlmscope: error: unknown model 'llava-1.5'")
    assert "Traceback" not in result.stderr


def test_debug_shows_the_traceback() -> None:
    result = run_cli("show", "llava-1.5", "--debug")
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "UnknownModelError" in result.stderr


def test_compare_debug_fails_fast_with_the_traceback() -> None:
    result = run_cli("compare", "llava-1.5-7b-hf", "llava-1.5", "--no-cost", "--debug", "-f", "json")
    assert result.returncode != 0 and result.stdout == ""
    assert "Traceback" in result.stderr and "UnknownModelError" in result.stderr


def test_report_goes_on_past_a_failing_model(tmp_path: Path) -> None:
    """report takes the batch path of compare: one error line for the model that failed, the others
    written, exit 2; --jobs spreads the builds."""
    out = tmp_path / "r.html"
    result = run_cli("report", "llava-1.5-7b-hf", "no-such-model", "fuyu-8b", "--jobs", "2", "--no-cost",
                     "-o", str(out))
    assert result.returncode == 2
    assert result.stderr.count("vlmscope: error:") == 1 and "no-such-model" in result.stderr
    assert result.stdout.startswith(f"wrote {out} (2 models,")
    page = out.read_text()
    assert "llava-hf/llava-1.5-7b-hf" in page and "adept/fuyu-8b" in page


def test_bad_configs_exit_2_with_one_line(tmp_path: Path) -> None:
    cases = {
        "malformed": ('{"model_type": ', "not valid JSON"),
        "no-type": ('{"architectures": []}', "no 'model_type' field"),
        "unknown-arch": ('{"model_type": "llava", "architectures": ["LlavaForNothing"]}',
                         "architecture 'LlavaForNothing' is not in transformers"),
        "unknown-type": ('{"model_type": "made_up_vlm"}', "model_type 'made_up_vlm' is unknown"),
    }
    for name, (config, message) in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        (folder / "config.json").write_text(config)
        result = run_cli("show", str(folder))
        assert result.returncode == 2, (name, result.stderr)
        assert message in result.stderr and result.stderr.count("\n") == 1, (name, result.stderr)


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("vlmscope ")


def test_zoo_json_through_the_entry_point() -> None:
    result = run_cli("zoo", "llava", "fuyu", "chameleon", "--format", "json")
    assert result.returncode == 0, result.stderr
    data = {d["model_type"]: d for d in json.loads(result.stdout)}
    assert data["llava"]["status"] == "ok" and data["llava"]["anatomy"]["params"]["total"] > 0
    assert data["fuyu"]["anatomy"]["vision"]["class"] == "none"
    assert data["chameleon"]["status"] == "error" and data["chameleon"]["reason"]
    assert "anatomy" not in data["chameleon"]


def test_zoo_rejects_unknown_model_types() -> None:
    result = run_cli("zoo", "not_a_vlm")
    assert result.returncode == 2 and "not image-text-to-text model_types" in result.stderr
def test_show_json_has_the_cost_object() -> None:
    result = run_cli("show", "llava-v1.6-mistral-7b-hf", "--image-size", "1024x768", "--context", "8192",
                     "-f", "json")
    assert result.returncode == 0, result.stderr
    cost = json.loads(result.stdout)["cost"]
    assert cost["image_size"] == [1024, 768] and cost["visual_tokens"] == 2340
    assert set(cost["flops"]) >= {"vision", "prefill", "decode_per_token"}
    assert set(cost["weights_bytes"]) >= {"fp32", "bf16", "int8", "int4"}
    assert cost["kv_cache_bytes_per_token"] == 131_072


def test_compare_cost_table() -> None:
    result = run_cli("compare", "llava-1.5-7b-hf", "idefics2-8b", "--cost", "-f", "markdown")
    assert result.returncode == 0, result.stderr
    assert "### Cost" in result.stdout and "| LLaVA-1.5-7B | 336×336 | 576 |" in result.stdout


@pytest.mark.parametrize("args, message", [(("--image-size", "big"), "bad --image-size 'big'"),
                                           (("--dtype", "fp12"), "bad dtype 'fp12'")])
def test_bad_cost_options(args: tuple[str, ...], message: str) -> None:
    result = run_cli("show", "llava-1.5-7b-hf", *args)
    assert result.returncode == 2 and message in result.stderr


def test_warnings_reach_the_json_and_the_terminal() -> None:
    data = json.loads(run_cli("show", "llava-1.5-7b-hf", "--context", "8192", "-f", "json").stdout)["cost"]
    assert data["warnings"] == ["context 8,192 is beyond the language model's max_position_embeddings (4,096)"]
    assert data["assumptions"] == ["images at the model's own size, 336×336 (no --image-size given)"]
    table = run_cli("show", "llava-1.5-7b-hf", "--context", "8192", "--depth", "0", env={"COLUMNS": "200"})
    assert "Warning" in table.stdout and "max_position_embeddings (4,096)" in table.stdout


def test_version_works_on_every_command() -> None:
    for command in ((), ("compare",), ("show",), ("diff",), ("report",), ("zoo",), ("list",)):
        result = run_cli(*command, "--version")
        assert result.returncode == 0 and result.stdout.startswith("vlmscope "), (command, result.stderr)


def test_report_takes_the_request_options(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    result = run_cli("report", "llava-1.5-7b-hf", "--image-size", "1024x768", "--text-tokens", "64",
                     "--context", "2048", "-o", str(out))
    assert result.returncode == 0, result.stderr
    page = out.read_text()
    assert "1024×768" in page and "640 (visual + 64 text)" in page and "context 2,048" in page


@pytest.mark.parametrize("size, expected", [("24GB", 24 * 10**9), ("80GiB", 80 * 2**30), ("512 MiB", 512 * 2**20),
                                            ("1.5TB", 1_500_000_000_000)])
def test_gpu_memory_takes_units(size: str, expected: int) -> None:
    data = json.loads(run_cli("show", "llava-1.5-7b-hf", "--gpu-mem", size, "--reserve", "0 MiB",
                              "-f", "json").stdout)["cost"]
    assert data["fit"]["gpu_bytes"] == expected and data["fit"]["reserve_bytes"] == 0 and "scenario" not in data
    assert data["fit"]["fits"] is (data["fit"]["peak_bytes"] <= expected - data["fit"]["reserve_bytes"])


def test_a_reserve_as_large_as_the_gpu_is_one_line() -> None:
    result = run_cli("show", "llava-1.5-7b-hf", "--gpu-mem", "512MiB", "--depth", "0")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "reserve_bytes" in result.stderr


def test_gpu_memory_without_a_unit_is_refused_and_labels_say_gib() -> None:
    bare = run_cli("show", "llava-1.5-7b-hf", "--gpu-mem", "24")
    assert bare.returncode == 2 and "write a size with its unit" in bare.stderr
    shown = run_cli("show", "llava-1.5-7b-hf", "--gpu-gb", "18.5", "--depth", "0", env={"COLUMNS": "200"})
    assert "✓ fits: peak" in shown.stdout and "of 17.5 GiB (18.5 GiB less a 1 GiB reserve)" in shown.stdout
    assert "512 KiB per token" in shown.stdout


@pytest.mark.parametrize("command", ["compare", "show", "diff", "report", "list", "zoo"])
def test_help_has_no_stray_line_breaks(command: str) -> None:
    """At 200 columns each paragraph of a command's description is one line: the docstring's own line
    breaks are not printed mid-sentence."""
    import inspect

    from vlmscope.cli import app

    info = next(i for i in app.registered_commands if (i.name or i.callback.__name__.replace("_", "-")) == command
                or i.callback.__name__ == command)
    paragraphs = [" ".join(p.split()) for p in (inspect.getdoc(info.callback) or "").split("\n\n")]
    result = run_cli(command, "--help", env={"COLUMNS": "200"})
    assert result.returncode == 0
    lines = [line.strip() for line in result.stdout.splitlines()]
    for paragraph in paragraphs:  # a paragraph longer than the width still fills its first line
        assert paragraph in lines if len(paragraph) < 190 else any(x.startswith(paragraph[:150]) for x in lines)


@pytest.mark.parametrize("command", [["fit", "--gpu", "h100-sxm", "-f", "json"], ["report", "--no-cost"],
                                     ["compare", "--no-cost", "-f", "json"]])
def test_set_picks_the_models_of_batch_commands(command: list[str], monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    """--set today names the default models of compare, fit and report alike (a two-model set stands in
    for today's thirteen here: the command reads the set, not a list of its own)."""
    from typer.testing import CliRunner

    from vlmscope import api
    from vlmscope.cli import app

    two = ("HuggingFaceTB/SmolVLM-256M-Instruct", "microsoft/Florence-2-base")
    monkeypatch.setitem(api.MODEL_SETS, "today", two)
    extra = ["-o", str(tmp_path / "r.html")] if command[0] == "report" else []
    result = CliRunner().invoke(app, [*command, "--set", "today", *extra])
    assert result.exit_code == 0, result.output
    written = (tmp_path / "r.html").read_text() if extra else result.output
    assert all(model in written for model in two) and "llava" not in written.lower()


@pytest.mark.parametrize("command", [["compare"], ["fit", "--gpu", "h100"], ["report"]])
def test_a_second_image_size_is_refused_not_dropped(command: list[str], tmp_path: Path) -> None:
    """compare, fit and report cost one image size: a second --image-size is one error line naming both, and
    exit 2, before any model is built (show takes several)."""
    result = run_cli(*command, "llava-1.5-7b-hf", "--image-size", "640x480", "--image-size", "1024x768",
                     *(["-o", str(tmp_path / "r.html")] if command[0] == "report" else []))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "640x480, 1024x768" in result.stderr and "show" in result.stderr
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("args, message", [
    (("show", "llava-1.5-7b-hf", "--video", "10s@2:640x480"), "takes none (transformers has no video processor for "
                                                             "model_type 'llava')"),
    (("show", "Qwen2.5-VL-7B-Instruct", "--video", "10s:640x480"), "bad video '10s:640x480': use DURATION@FPS:WxH"),
    (("fit", "Qwen2.5-VL-7B-Instruct", "--gpu", "h100", "--video", "1f:8x8", "--video-recipe", "ollama"),
     "bad video_recipe 'ollama'"),
    (("show", "llava-onevision-qwen2-7b-ov-hf", "--video", "60s@2:640x360", "--video-recipe", "sglang"),
     "bad video recipe 'sglang': use one for LlavaOnevisionVideoProcessor: transformers, vllm (SGLang 0.5.23's "
     "LLaVA processor has no video loader: clients send the frames as images; cost them with --image)"),
    (("compare", "Qwen2.5-VL-7B-Instruct", "--video", "100000h@60:8x8"), "video frames = 21600000000 is over")])
def test_bad_videos_are_one_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    """Through the entry point (in-process): a model without video, a clip in no known form, a recipe that is
    none, a clip over the limits: one line naming the value, exit 2."""
    from typer.testing import CliRunner

    from vlmscope.cli import app

    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("vlmscope: error")]
    assert len(errors) == 1 and message in errors[0], result.output


def test_video_through_the_entry_point_reaches_the_json() -> None:
    """show --video: the clip's tokens in cost.videos and in the prompt, the settings taken from class defaults
    in the notes, qwen-vl-utils' count beside them."""
    from typer.testing import CliRunner

    from vlmscope.cli import app

    result = CliRunner().invoke(app, ["show", "Qwen3-VL-4B-Instruct", "--images", "0", "--video", "20s@30:640x360",
                                      "--text-tokens", "10", "-f", "json"])
    assert result.exit_code == 0, result.output
    cost = json.loads(result.output[result.output.index("{"):])["cost"]
    clip = cost["videos"][0]
    assert clip["video"] == "20s@30:640x360" and clip["frames"] == 600 and clip["frames_kept"] == 40
    assert clip["tokens"] == clip["encoder_passes"] * (clip["tokens_per_pass"] + 2)
    # 20 timestamps by Qwen's tokenizer: '<', each digit, '.', the tenth, ' seconds', '>' (10 under 10 s, 10 over)
    assert clip["timestamps"] == 20 and clip["text_tokens"] == 10 * 6 + 10 * 7
    assert cost["prefill_tokens"] == clip["tokens"] + clip["text_tokens"] + 10
    assert any("Qwen3VLVideoProcessor's own defaults" in n and "fps=2" in n for n in cost["assumptions"])


def test_runtime_recipes_through_the_entry_point() -> None:
    """show --video-recipe: a 60 s 30 fps 720p clip on Qwen2.5-VL-7B, whose processor samples nothing itself, as
    transformers, vLLM and SGLang would feed it (every frame at 1288×728; 120 at 1288×728; 120 at 1008×560);
    each sheet names the other recipes' counts, and its prompt is its own."""
    from typer.testing import CliRunner

    from vlmscope.cli import app

    found = {}
    for recipe in ("transformers", "vllm", "sglang"):
        result = CliRunner().invoke(app, ["show", "Qwen2.5-VL-7B-Instruct", "--images", "0", "--video",
                                          "60s@30:1280x720", "--video-recipe", recipe, "-f", "json"])
        assert result.exit_code == 0, result.output
        found[recipe] = json.loads(result.output[result.output.index("{"):])["cost"]
    tokens = {r: (c["videos"][0]["tokens"], c["prefill_tokens"]) for r, c in found.items()}
    assert tokens == {"transformers": (1_076_400,) * 2, "vllm": (71_760,) * 2, "sglang": (43_200,) * 2}
    notes = " ".join(found["vllm"]["assumptions"])
    assert "--video-recipe transformers" in notes and "--video-recipe sglang" in notes
    # the class defaults the processor still reads are said; the sampling vLLM's loader decides is not
    defaults = next(n for n in found["vllm"]["assumptions"] if "Qwen2VLVideoProcessor's own defaults" in n)
    assert "cap_pixels_per_frame=null" in defaults and "fps=" not in defaults and "do_sample_frames" not in defaults


def test_report_takes_a_video(tmp_path: Path) -> None:
    """report --images 0 --video: the clip's row in the model's cost sheet, its tokens the processor's."""
    from typer.testing import CliRunner

    from vlmscope.cli import app

    out = tmp_path / "r.html"
    result = CliRunner().invoke(app, ["report", "Qwen2.5-VL-7B-Instruct", "--images", "0", "--video",
                                      "20s@2:640x360", "-o", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "Video 20s@2:640x360</th><td>5,980 tokens; 20 encoder passes (Qwen2VLVideoProcessor" in page
