"""vlmscope attacked as a hostile user would: untrusted config files, Hub ids, output paths, terminals and
broken runs. Every attack gets what users expect: one line on stderr and exit 2 (or a correct result),
nothing written outside ``-o`` and the cache, no hang. docs/security.md lists the same attacks.

Offline: Hub attacks run against servers on 127.0.0.1; the terminal is a pty; ``-o`` attacks use a FIFO
and a planted symlink, never a real device node.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import signal
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT, run_cli, run_cold, vlmscope_exe
from vlmscope.sources import catalog

LLAVA = json.loads((catalog.find("llava-1.5-7b-hf").folder / "config.json").read_text())  # type: ignore[union-attr]


def _llava(**changes: object) -> dict[str, object]:
    """LLaVA-1.5's config with dotted keys changed: {"text_config.hidden_size": 7}."""
    config = json.loads(json.dumps(LLAVA))
    for dotted, value in changes.items():
        *path, key = dotted.split(".")
        target = config
        for part in path:
            target = target[part]
        target[key] = value
    return config


def _folder(tmp: Path, config: object, pre: object | None = None, name: str = "model") -> str:
    folder = tmp / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))
    if pre is not None:
        (folder / "preprocessor_config.json").write_text(json.dumps(pre))
    return str(folder)


def _phi3v(**pre: object) -> tuple[dict[str, object], dict[str, object]]:
    entry = catalog.find("Phi-3-vision-128k-instruct")
    assert entry is not None
    return json.loads(entry.config_path.read_text()), pre


# (attack, config, preprocessor, the line stderr must hold). Each runs `vlmscope show FOLDER`: exit 2, one line.
BAD_CONFIGS: list[tuple[str, object, object | None, str]] = [
    ("text num_hidden_layers 100000", _llava(**{"text_config.num_hidden_layers": 100_000}), None,
     "num_hidden_layers = 100000 is over vlmscope's limit of 1000"),
    ("vision layers 10**6", _llava(**{"vision_config.num_hidden_layers": 10**6}), None,
     "num_hidden_layers = 1000000 is over vlmscope's limit of 1000"),
    ("crop_to_patches with max_patches 100000", _llava(), {"crop_to_patches": True, "max_patches": 100_000},
     "max_patches = 100000 is over vlmscope's limit of 10000"),
    ("Phi-3-V num_crops 10**18", *_phi3v(num_crops=10**18), "num_crops = 1000000000000000000 is over"),
    ("hidden_size 'abc'", _llava(**{"text_config.hidden_size": "abc"}), None, "hidden_size = 'abc' is not a positive"),
    ("hidden_size 1.5", _llava(**{"text_config.hidden_size": 1.5}), None, "hidden_size = 1.5 is not a positive"),
    ("hidden_size NaN", '{"model_type": "llava", "text_config": {"model_type": "llama", "hidden_size": NaN}}', None,
     "hidden_size = nan is not a positive"),
    ("hidden size not divisible by the heads", _llava(**{"text_config.hidden_size": 4097}), None,
     "is not a multiple of the number of attention heads"),
    ("zero heads", _llava(**{"text_config.num_attention_heads": 0}), None, "num_attention_heads = 0 is not"),
    ("zero KV heads", _llava(**{"text_config.num_key_value_heads": 0}), None, "num_key_value_heads = 0 is not"),
    ("KV heads that do not divide the heads", _llava(**{"text_config.num_attention_heads": 32,
                                                        "text_config.num_key_value_heads": 5}), None,
     "num_attention_heads = 32 is not divisible by num_key_value_heads = 5"),
    ("patch size 0", _llava(**{"vision_config.patch_size": 0}), None, "patch_size = 0 is not a positive integer"),
    ("patch size larger than the image", _llava(**{"vision_config.patch_size": 500}), None,
     "patch_size = 500 is larger than image_size = 336"),
    ("negative image size", _llava(**{"vision_config.image_size": -336}), None, "image_size = -336 is not"),
    ("vision layers -3", _llava(**{"vision_config.num_hidden_layers": -3}), None,
     "num_hidden_layers = -3 is not a number of layers"),
    ("text_config \"x\"", _llava(text_config="x"), None, "text_config = 'x' is not an object"),
    ("architectures [123]", _llava(architectures=[123]), None, "architectures = [123] is not a list of class names"),
    ("5000-digit integer", '{"model_type": "llava", "image_token_index": ' + "9" * 5000 + "}", None,
     "not readable JSON"),
    ("JSON nested 100k deep", '{"model_type": "llava", "x": ' + "[" * 100_000 + "]" * 100_000 + "}", None,
     "nested deeper than JSON can be read"),
    ("max_patches \"many\"", _llava(), {"crop_to_patches": True, "max_patches": "many"},
     "max_patches = 'many' is not a positive integer"),
    ("size [1, 2]", _llava(), {"size": [1, 2]}, "size = [1, 2] is not an object of sizes"),
    ("image_grid_pinpoints [[0, 0]]", _llava(image_grid_pinpoints=[[0, 0]]), None,
     "image_grid_pinpoints = 0 is not a positive integer"),
]


@pytest.mark.parametrize("attack, config, pre, message", BAD_CONFIGS, ids=[a[0] for a in BAD_CONFIGS])
def test_bad_config_is_one_line_and_exit_2(tmp_path: Path, attack: str, config: object, pre: object | None,
                                          message: str) -> None:
    start = time.monotonic()
    result = run_cli("show", _folder(tmp_path, config, pre), env={"VLMSCOPE_NO_CACHE": "1"})
    assert result.returncode == 2, (attack, result.stderr[-500:])
    assert result.stderr.count("\n") == 1 and message in result.stderr, (attack, result.stderr)
    assert time.monotonic() - start < 60, attack


def test_a_config_of_three_million_keys_is_refused_unread(tmp_path: Path) -> None:
    folder = tmp_path / "big"
    folder.mkdir()
    with (folder / "config.json").open("w") as handle:
        handle.write('{"model_type": "llava"')
        for i in range(3_000_000):
            handle.write(f',"k{i}":0')
        handle.write("}")
    result = run_cli("show", str(folder), env={"VLMSCOPE_NO_CACHE": "1"})
    assert result.returncode == 2 and "over the limit of 4,194,304" in result.stderr, result.stderr


def test_too_many_items_in_a_small_file_are_refused(tmp_path: Path) -> None:
    config = '{"model_type": "llava", "x": [' + ",".join("0" * 1 for _ in range(300_000)) + "]}"
    result = run_cli("show", _folder(tmp_path, config), env={"VLMSCOPE_NO_CACHE": "1"})
    assert result.returncode == 2 and "number of keys and list items" in result.stderr, result.stderr


def test_big_but_legitimate_values_keep_working(tmp_path: Path) -> None:
    wide = run_cli("show", _folder(tmp_path, _llava(**{"text_config.hidden_size": 10**7,
                                                       "text_config.intermediate_size": 10**7}), name="wide"),
                   "-f", "json", env={"VLMSCOPE_NO_CACHE": "1"})
    assert wide.returncode == 0, wide.stderr
    assert json.loads(wide.stdout)["language"]["hidden_size"] == 10**7
    huge = run_cli("show", "llava-1.5-7b-hf", "--image-size", "100000x100000", "-f", "json")
    assert huge.returncode == 0, huge.stderr
    assert json.loads(huge.stdout)["cost"]["visual_tokens"] == 576


def test_a_visual_token_count_past_the_ceiling_is_refused(tmp_path: Path) -> None:
    entry = catalog.find("MonoQwen2-VL-v0.1")
    assert entry is not None
    config = json.loads(entry.config_path.read_text())
    folder = _folder(tmp_path, config, {"min_pixels": 3136, "max_pixels": 10**12})
    result = run_cli("show", folder, "--image-size", "100000x100000", env={"VLMSCOPE_NO_CACHE": "1"})
    assert result.returncode == 2 and "is over vlmscope's limit of 1000000" in result.stderr, result.stderr


@pytest.mark.parametrize("args, message", [
    (("--gpu-gb", "nan"), "bad gpu_gb nan"), (("--gpu-gb", "-1"), "bad gpu_gb -1.0"),
    (("--gpu-mem", "-3GB"), "bad --gpu-mem '-3GB'"),
    (("--image-size", "2000000x10"), "image_size = 2000000 is over vlmscope's limit"),
    (("--images", "100000"), "images = 100000 is over"),
])
def test_bad_request_values(args: tuple[str, ...], message: str) -> None:
    result = run_cli("show", "llava-1.5-7b-hf", *args)
    assert result.returncode == 2 and message in result.stderr and result.stderr.count("\n") == 1, result.stderr


@pytest.mark.parametrize("ref, message", [
    ("~nouser_vlmscope/x", "cannot expand the path"),
    ("org/name@../../../../tmp/x", "not a valid revision"),
    ("org/name@/etc", "not a valid revision"),
    ("a/..", "not a valid Hub repo id"),
    ("a/.", "not a valid Hub repo id"),
    ("org/" + "n" * 300, "not a valid Hub repo id"),
    ("x" * 100_000, "unknown model"),
    ("org/name@" + "r" * 100_000, "not a valid revision"),
])
def test_bad_references_are_bounded_lines(ref: str, message: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused before any request: the endpoint is a port nobody listens on, and huggingface_hub's cache (it
    reads both from the environment once, at import) an empty folder."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    result = run_cli("show", ref)
    assert not any(tmp_path.iterdir())
    assert result.returncode == 2, result.stderr[-300:]
    assert message in result.stderr and result.stderr.count("\n") == 1 and len(result.stderr) < 340


# --- Writing the report ----------------------------------------------------------------------------------


def _report(out: str | Path) -> subprocess.CompletedProcess[str]:
    return run_cli("report", "llava-1.5-7b-hf", "--no-cost", "-o", str(out))


def test_a_planted_symlink_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "r.html.tmp").symlink_to(victim)
    result = _report(tmp_path / "r.html")
    assert result.returncode == 0, result.stderr
    assert victim.read_text() == "precious" and (tmp_path / "r.html.tmp").is_symlink()
    assert "<!DOCTYPE html>" in (tmp_path / "r.html").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html", "r.html.tmp", "victim.txt"]  # no leftovers


def test_a_fifo_target_is_refused_and_kept(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.html"
    os.mkfifo(fifo)
    result = _report(fifo)
    assert result.returncode == 2 and "is a FIFO, not a regular file" in result.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and "wrote" not in result.stdout


def test_a_symlink_target_is_refused(tmp_path: Path) -> None:
    (tmp_path / "link.html").symlink_to(tmp_path / "elsewhere.html")
    result = _report(tmp_path / "link.html")
    assert result.returncode == 2 and "is a symlink" in result.stderr
    assert not (tmp_path / "elsewhere.html").exists()


@pytest.mark.parametrize("target", ["", "/", ".", "..", "no-such-folder/r.html"])
def test_bad_output_paths_are_one_line(target: str, tmp_path: Path) -> None:
    result = run_cli("report", "llava-1.5-7b-hf", "--no-cost", "-o", target)
    assert result.returncode == 2 and "bad --output" in result.stderr and result.stderr.count("\n") == 1


def test_a_replaced_report_keeps_its_mode(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    out.write_text("old")
    out.chmod(0o640)
    result = _report(out)
    assert result.returncode == 0 and result.stdout.startswith(f"wrote {out} (1 model,")
    assert stat.S_IMODE(out.stat().st_mode) == 0o640 and out.read_text() != "old"


def test_a_replaced_file_keeps_no_setuid_bit(tmp_path: Path) -> None:
    """The permission bits of a replaced file are kept; setuid, setgid and sticky are not."""
    from vlmscope.files import write_atomic

    out = tmp_path / "r.html"
    out.write_text("old")
    out.chmod(0o6755)
    write_atomic(out, b"new")
    assert stat.S_IMODE(out.stat().st_mode) == 0o755 and out.read_bytes() == b"new"


# --- The Hub -----------------------------------------------------------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server on 127.0.0.1 that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    server.close()


def _closed_port() -> str:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"http://127.0.0.1:{port}"


def _hub_env(endpoint: str, home: Path, **extra: str) -> dict[str, str]:
    return {"HF_ENDPOINT": endpoint, "HF_HOME": str(home), "HF_HUB_OFFLINE": "0", "HF_TOKEN": "",
            "VLMSCOPE_NO_CACHE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", **extra}


def test_a_silent_endpoint_meets_the_deadline(silent_server: str, tmp_path: Path) -> None:
    start = time.monotonic()
    result = run_cold("show", "acme/model", env=_hub_env(silent_server, tmp_path, VLMSCOPE_HUB_TIMEOUT="2"))
    took = time.monotonic() - start
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "no answer within 2 s" in result.stderr and "VLMSCOPE_HUB_TIMEOUT" in result.stderr
    assert took < 30, took


def test_no_network_fails_fast_in_one_line(tmp_path: Path) -> None:
    start = time.monotonic()
    result = run_cold("show", "acme/model", env=_hub_env(_closed_port(), tmp_path))
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "cannot reach" in result.stderr and "not in the cache" in result.stderr
    assert time.monotonic() - start < 15


@pytest.fixture(scope="module")
def filled_hub_cache(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """An HF_HOME holding acme/llava-copy, downloaded once from a loopback Hub; and its commit hash."""
    home = tmp_path_factory.mktemp("hf-home")
    return home, _fill_cache(home)


def _fill_cache(home: Path) -> str:
    from hubserver import FakeHub, Repo

    entry = catalog.find("llava-1.5-7b-hf")
    assert entry is not None
    files = {n: (entry.folder / n).read_bytes() for n in ("config.json", "preprocessor_config.json")}
    with FakeHub({"acme/llava-copy": Repo(files)}) as hub:
        assert run_cold("show", "acme/llava-copy", "-f", "json", env=_hub_env(hub.url, home)).returncode == 0
    import hashlib

    return hashlib.sha1(b"acme/llava-copy@main").hexdigest()


def test_a_cached_commit_is_answered_without_the_network(silent_server: str,
                                                        filled_hub_cache: tuple[Path, str]) -> None:
    home, commit = filled_hub_cache
    start = time.monotonic()
    result = run_cold("show", f"acme/llava-copy@{commit}", "-f", "json", env=_hub_env(silent_server, home))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["params"]["total"] == 7_063_427_072 and result.stderr == ""
    assert time.monotonic() - start < 30


def test_a_cached_branch_falls_back_quickly_and_says_so(filled_hub_cache: tuple[Path, str]) -> None:
    home, _ = filled_hub_cache
    start = time.monotonic()
    result = run_cold("show", "acme/llava-copy", "-f", "json", env=_hub_env(_closed_port(), home))
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("vlmscope: warning: acme/llava-copy: cannot")
    assert "using the cached config files" in result.stderr
    assert time.monotonic() - start < 30


# --- Terminals, Markdown, CSV ------------------------------------------------------------------------------

HOSTILE = "evil\x1b[2J\x1b]0;pwned\x07"


def _hostile_model(tmp: Path, name: str = HOSTILE) -> str:
    return _folder(tmp, _llava(**{"text_config._name_or_path": HOSTILE}), name=name)


def test_json_and_html_carry_no_raw_control_or_bidi_character(tmp_path: Path) -> None:
    """A name with ESC, BEL, a C1 control (U+009B) and a bidi override (U+202E): JSON escapes them as
    \\uXXXX (and parses back to the same name), the HTML report shows them as visible escapes."""
    from typer.testing import CliRunner

    from vlmscope.cli.app import app

    name = "evil\x1b[2J\x07\x9b31m\u202egnp.exe"
    folder = _folder(tmp_path, _llava(), name=name)  # the folder's name is the model's id
    shown = CliRunner().invoke(app, ["show", folder, "-f", "json", "--no-cache"])
    assert shown.exit_code == 0, shown.output[-300:]
    assert not any(ch in shown.output for ch in "\x1b\x07\x9b\u202e")
    assert json.loads(shown.output)["model_id"] == name
    out = tmp_path / "r.html"
    reported = CliRunner().invoke(app, ["report", folder, "-o", str(out), "--no-cache"])
    assert reported.exit_code == 0, reported.output[-300:]
    page = out.read_text(encoding="utf-8")
    assert not any(ch in page for ch in "\x1b\x07\x9b\u202e") and "\\u202e" in page


def _in_pty(*args: str) -> bytes:
    """What a terminal receives from ``vlmscope ARGS`` (run on a pseudo-terminal)."""
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "160", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([vlmscope_exe(), *args], stdout=slave, stderr=slave, stdin=slave, env=env, cwd=ROOT)
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    proc.wait(60)
    os.close(master)
    return out


def test_escape_sequences_never_reach_a_terminal(tmp_path: Path) -> None:
    folder = _hostile_model(tmp_path)
    out = _in_pty("show", folder, "--no-cache")
    assert b"\x1b]" not in out and b"\x1b[2J" not in out and b"\x07" not in out
    assert b"evil\\x1b[2J\\x1b]0;pwned\\x07" in out  # shown, as visible escapes
    piped = run_cli("show", folder)
    assert "\x1b" not in piped.stdout and "evil\\x1b[2J" in piped.stdout
    error = _in_pty("show", str(tmp_path / "missing\x1b]0;x\x07"))
    assert b"\x1b]" not in error and b"missing\\x1b]0;x\\x07" in error


def test_csv_cells_cannot_start_a_formula(tmp_path: Path) -> None:
    folder = _hostile_model(tmp_path, name="=HYPERLINK(1)")
    result = run_cli("compare", folder, "--no-cost", "-f", "csv")
    assert result.returncode == 0, result.stderr
    row = result.stdout.splitlines()[1]
    assert row.startswith("'=HYPERLINK(1),") and "\x1b" not in result.stdout


def test_markdown_keeps_hostile_names_inside_their_spans(tmp_path: Path) -> None:
    name = "a`b<img src=x onerror=alert(1)>|c"
    folder = _folder(tmp_path, _llava(**{"text_config._name_or_path": "x\ny"}), name=name)
    result = run_cli("show", folder, "-f", "markdown")
    assert result.returncode == 0, result.stderr
    title = result.stdout.splitlines()[0]
    assert title == f"## ``{name}``"  # a local folder: its name is its id, said once
    assert "<img" not in result.stdout.replace(f"``{name}``", "")
    source = next(line for line in result.stdout.splitlines() if line.startswith("- Config source"))
    assert "&lt;img" in source and "\\|" in source and "\\`" in source


# --- Parts of a run ----------------------------------------------------------------------------------------


def test_a_killed_worker_costs_only_its_model(tmp_path: Path) -> None:
    """A model whose build kills its process (as the OOM killer would): one error line for it, the others
    printed, exit 2."""
    import shutil

    killer = tmp_path / "killer"
    shutil.copytree(ROOT / "tests" / "fixtures" / "killer", killer)
    result = run_cli("compare", "llava-1.5-7b-hf", str(killer), "fuyu-8b", "--jobs", "2", "--no-cost",
                     "--trust-remote-code", "-f", "json", env={"VLMSCOPE_NO_CACHE": "1", "HF_HOME": str(tmp_path)})
    assert result.returncode == 2
    assert [d["model_id"] for d in json.loads(result.stdout)] == ["llava-hf/llava-1.5-7b-hf", "adept/fuyu-8b"]
    assert result.stderr.count("vlmscope: error:") == 1 and "the process building it died" in result.stderr


def _children(pid: int) -> set[int]:
    """The processes ``pid`` started (Linux /proc), and theirs."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found |= {int(p) for p in (task / "children").read_text().split()}
    return found | {g for c in found for g in _children(c)}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_stopped_batch_stops_its_workers(tmp_path: Path, signum: int = signal.SIGTERM) -> None:
    """SIGTERM to the main process of a --jobs 2 run: it exits promptly and no worker outlives it. (SIGINT
    takes the same path, as KeyboardInterrupt; both failed this test before.)"""
    env = {**os.environ, "VLMSCOPE_NO_CACHE": "1", "HF_HOME": str(tmp_path)}
    process = subprocess.Popen([vlmscope_exe(), "compare", "--set", "today", "--jobs", "2"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    workers: set[int] = set()
    while time.monotonic() < deadline and len(workers) < 2:
        time.sleep(0.2)
        workers = {c for c in _children(process.pid) if _alive(c)}
    assert len(workers) >= 2, "the workers did not start"
    time.sleep(2)  # the workers are busy building models
    process.send_signal(signum)
    code = process.wait(timeout=30)
    assert code in (130, 143, -signum), (code, process.stderr.read() if process.stderr else "")
    time.sleep(1)
    assert not [w for w in workers if _alive(w)], "workers outlived the batch"


def _terminated(ref: str, *args: Any, **kwargs: Any) -> Any:
    """A model whose worker is sent SIGTERM while it builds (as the batch's terminate() sends it), and which
    would go on to another model if the signal did not end its process."""
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)
    raise AssertionError(f"{ref}: the worker outlived SIGTERM")


def test_a_terminated_worker_dies(monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch worker sent SIGTERM mid-model dies, as terminate() means: it does not inherit the main process's
    handler (which raises SystemExit, which concurrent.futures' worker would catch and hand back as the model's
    result before taking the next model). Each model then runs alone, and dies again: one error line each."""
    from vlmscope import api

    monkeypatch.setattr(api, "_collected", _terminated)
    outcomes = api._in_processes(["a", "b"], 2, False, False, None, None)
    assert [o.error for o in outcomes] == [f"{r}: the process building it died (killed by a signal, or out of "
                                           "memory); the other models are unaffected" for r in "ab"]


CORRUPTIONS: dict[str, Callable[[Path], None]] = {
    "wrong types": lambda p: p.write_text(json.dumps(_retyped(json.loads(p.read_text())))),
    "nulls": lambda p: p.write_text(json.dumps(dict.fromkeys(json.loads(p.read_text())))),
    "nested 100k deep": lambda p: p.write_text("[" * 100_000 + "]" * 100_000),
    "a FIFO": lambda p: (p.unlink(), os.mkfifo(p)),  # type: ignore[func-returns-value]
    "a symlink to /dev/zero": lambda p: (p.unlink(), p.symlink_to("/dev/zero")),  # type: ignore[func-returns-value]
}


def _retyped(data: object) -> object:
    """Every int a string and every string a list, at any depth of objects."""
    if isinstance(data, dict):
        return {k: _retyped(v) for k, v in data.items()}
    return str(data) if isinstance(data, int) else [data] if isinstance(data, str) else data


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_a_corrupt_cache_entry_is_never_trusted(corruption: str, tmp_path: Path, llava15,  # type: ignore[no-untyped-def]
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from vlmscope import cache
    from vlmscope.data import Anatomy, CostSheet

    monkeypatch.setenv("VLMSCOPE_CACHE", str(tmp_path))
    for kind, value in zip((Anatomy, CostSheet), llava15, strict=True):
        cache.store("entry", value)
        assert cache.load("entry", kind) == value
        CORRUPTIONS[corruption](tmp_path / "entry.json")
        start = time.monotonic()
        assert cache.load("entry", kind) is None  # rebuilt by the caller, never read as data
        assert time.monotonic() - start < 5  # a FIFO or /dev/zero is not read


def test_a_corrupt_cache_entry_is_rebuilt_through_the_cli(tmp_path: Path) -> None:
    env = {"VLMSCOPE_CACHE": str(tmp_path)}
    fresh = run_cli("show", "llava-1.5-7b-hf", "-f", "json", env=env)
    entries = sorted(tmp_path.glob("*.json"))
    assert fresh.returncode == 0 and entries
    for entry in entries:
        CORRUPTIONS["wrong types"](entry)
    again = run_cli("show", "llava-1.5-7b-hf", "-f", "json", env=env)
    assert again.returncode == 0 and again.stderr == "" and again.stdout == fresh.stdout


def test_security_page_lists_every_attack() -> None:
    page = (ROOT / "docs" / "security.md").read_text()
    for attack, *_ in BAD_CONFIGS:
        assert f"| {attack} |" in page, attack


def _phi3v_config(**changes: object) -> dict[str, object]:
    """Phi-3-vision's config with dotted keys changed; None removes the key."""
    config, _ = _phi3v()
    for dotted, value in changes.items():
        *path, key = dotted.split(".")
        target: Any = config
        for part in path:
            target = target[part]
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    return config


# Values that reached "internal error" before: each is now the config's error, one line naming the key and
# what it accepts. (attack, config, preprocessor, message); run in-process through the same pipeline the
# CLI calls (the CLI's one line and exit 2 for any VlmscopeError are tested above).
BAD_VALUES: list[tuple[str, object, object | None, str]] = [
    ("head_dim 0", _llava(**{"text_config.head_dim": 0}), None, "cannot be built from this config: ZeroDivisionError"),
    ("llama3 RoPE low_freq_factor 0", _llava(**{"text_config.rope_scaling": {
        "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192}}), None, "low_freq_factor = 0 is not a positive number"),
    ("llama3 RoPE equal factors", _llava(**{"text_config.rope_scaling": {
        "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 4.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192}}), None, "low_freq_factor = high_freq_factor = 4.0"),
    ("pad_token_id beyond the vocabulary", _llava(**{"text_config.pad_token_id": 10**6}), None,
     "pad_token_id = 1000000 is outside the vocabulary"),
    ("flash_attention_2 not installed", _llava(attn_implementation="flash_attention_2"), None,
     "cannot be built from this config: ImportError: FlashAttention2"),
    ("a vision model_type as the text config", _llava(**{"text_config.model_type": "clip_vision_model"}), None,
     "transformers rejects it"),
    ("num_query_tokens -5", _llava(num_query_tokens=-5), None, "num_query_tokens = -5 is not a positive integer"),
    ("mm_tokens_per_image 0", _llava(mm_tokens_per_image=0), None, "mm_tokens_per_image = 0 is not a positive"),
    ("torch_dtype not a dtype", _llava(torch_dtype="float\x1b[31m99"), None,
     "torch_dtype = 'float\\x1b[31m99' is not a torch dtype"),
    ("negative sliding_window", _llava(**{"text_config.sliding_window": -5}), None,
     "sliding_window = -5 is not an integer ≥ 0"),
    ("KV heads 7 against the default 32 heads", _llava(**{"text_config.num_key_value_heads": 7}), None,
     "num_attention_heads = 32 (the class default where the file has none) is not divisible by"),
    ("pinpoints smaller than a tile", _llava(image_grid_pinpoints=[[10, 10]]), None,
     "image_grid_pinpoints entry [10, 10] is smaller than the vision encoder's tile"),
    ("modules_to_not_convert a string", _llava(quantization_config={
        "quant_method": "awq", "bits": 4, "group_size": 128, "modules_to_not_convert": "0123456789"}), None,
     "modules_to_not_convert = '0123456789' is not a list of module names"),
    ("llm_int8_skip_modules an int", _llava(quantization_config={
        "quant_method": "bitsandbytes", "load_in_4bit": True, "llm_int8_skip_modules": 5}), None,
     "llm_int8_skip_modules = 5 is not a list of module names"),
    ("load_in_4bit \"false\"", _llava(quantization_config={"quant_method": "bitsandbytes", "load_in_4bit": "false"}),
     None, "load_in_4bit = 'false' is not true or false"),
    ("Phi-3-V img_processor missing", _phi3v_config(img_processor=None), None,
     "its phi3_v skeleton cannot be built from it"),
    ("Phi-3-V image_dim_out 'abc'", _phi3v_config(**{"img_processor.image_dim_out": "abc"}), None,
     "its phi3_v skeleton cannot be built from it"),
    ("Phi-3-V image_dim_out -5", _phi3v_config(**{"img_processor.image_dim_out": -5}), None,
     "its phi3_v skeleton cannot be built from it"),
    ("Phi-3-V embd_layer a string", _phi3v_config(embd_layer="x"), None, "its phi3_v skeleton cannot be built"),
    ("Phi-3-V unknown projection_cls", _phi3v_config(**{"embd_layer.projection_cls": "zz"}), None,
     "projection_cls 'zz' is not one the published code supports"),
    ("Phi-3-V rope_scaling of an unknown type", _phi3v_config(rope_scaling={
        "type": "weird", "short_factor": [1.0], "long_factor": [1.0]}), None, "its phi3_v skeleton cannot be built"),
    ("Idefics2 size a bare int", json.loads((catalog.find("idefics2-8b").folder  # type: ignore[union-attr]
                                             / "config.reconstructed.json").read_text()), {"size": 5},
     "size = 5 is not an object of sizes"),
    ("Idefics3 max_image_size not an object", json.loads((catalog.find("SmolVLM-256M-Instruct").folder  # type: ignore[union-attr]
                                                          / "config.json").read_text()),
     {"max_image_size": 512, "do_image_splitting": True}, "max_image_size = 512 is not an object of sizes"),
]


@pytest.mark.parametrize("attack, config, pre, message", BAD_VALUES, ids=[a[0] for a in BAD_VALUES])
def test_a_bad_value_is_the_configs_error(tmp_path: Path, attack: str, config: object, pre: object | None,
                                          message: str) -> None:
    import vlmscope
    from vlmscope.data import CostRequest
    from vlmscope.errors import VlmscopeError

    with pytest.raises(VlmscopeError) as refused:
        vlmscope.cost(_folder(tmp_path, config, pre), CostRequest(image_size=(1024, 768)), use_cache=False)
    assert message in str(refused.value), (attack, str(refused.value))
    assert "\n" not in str(refused.value) and "\x1b" not in str(refused.value)


@pytest.mark.parametrize("args, message", [
    (("show", "llava-1.5-7b-hf", "--gpu-mem", "9" * 400 + "GB"), "bad --gpu-mem '999"),
    (("fit", "llava-1.5-7b-hf", "--gpu-mem", "2000000EB"), "bad --gpu-mem"),
    (("show", "llava-1.5-7b-hf", "--gpu-gb", "1e300"), "at most 2^30 (1 EiB)"),
    (("show", "llava-1.5-7b-hf", "--gpu-gb", "1e200"), "at most 2^30 (1 EiB)"),
    (("show", "llava-1.5-7b-hf", "--image-size", "¹⁰²⁴x768"), "write WIDTHxHEIGHT in digits 0-9"),
    (("show", "llava-1.5-7b-hf", "--image-size", "9" * 5000 + "x768"), "write WIDTHxHEIGHT in digits 0-9"),
    (("report", "llava-1.5-7b-hf", "-o", "a" * 300 + ".html"), "File name too long"),
])
def test_a_bad_cli_value_is_one_line(args: tuple[str, ...], message: str) -> None:
    from typer.testing import CliRunner

    from vlmscope.cli.app import app

    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 2, (args[:3], result.output[-300:])
    assert message in result.output and result.output.count("\n") == 1 and "internal error" not in result.output


def test_security_page_lists_every_bad_value() -> None:
    page = (ROOT / "docs" / "security.md").read_text()
    for attack, *_ in BAD_VALUES:
        assert f"| {attack} |" in page, attack


@pytest.mark.parametrize("args, message", [
    (("show", "llava-1.5-7b-hf", "--images", "abc"), "Invalid value for '--images'"),
    (("compare", "--jobs", "99"), "less than or equal to 16 (got '99')"),
    (("show", "llava-1.5-7b-hf", "--nope"), "No such option: --nope"),
    (("shw", "x"), "No such command 'shw'"),
])
def test_a_command_line_click_cannot_parse_is_one_line(args: tuple[str, ...], message: str) -> None:
    """Through the console-script entry point: one line naming the value and the help to read, exit 2."""
    result = run_cli(*args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1 and "--help'" in result.stderr and "╭" not in result.stderr


def test_image_sizes_per_run_are_bounded() -> None:
    from typer.testing import CliRunner

    from vlmscope.cli.app import app

    sizes = [arg for i in range(200) for arg in ("--image-size", f"{100 + i}x100")]
    result = CliRunner().invoke(app, ["show", "llava-1.5-7b-hf", *sizes])
    assert result.exit_code == 2 and "one run costs at most 32 sizes" in result.output
