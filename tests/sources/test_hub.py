"""Hub sources through a real HTTP server on 127.0.0.1 (HF_ENDPOINT points at it), via the real CLI."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import run_cli, run_cold
from hubserver import FakeHub, Repo
from vlmscope.sources import catalog
from vlmscope.sources.hub import CONFIG, OPTIONAL, TOKENIZER

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TOY_CODE = ("configuration_toyvlm.py", "modeling_toyvlm.py")


def _llava_files() -> dict[str, bytes]:
    entry = catalog.find("llava-1.5-7b-hf")
    assert entry is not None
    names = ("config.json", "preprocessor_config.json", "processor_config.json")
    return {name: (entry.folder / name).read_bytes() for name in names}


def _toy_files() -> dict[str, bytes]:
    config = {"model_type": "toy_vlm", "architectures": ["ToyVlmForCausalLM"],
              "auto_map": {"AutoConfig": "configuration_toyvlm.ToyVlmConfig",
                           "AutoModelForCausalLM": "modeling_toyvlm.ToyVlmForCausalLM"}}
    files = {name: (FIXTURES / "remote_code" / name).read_bytes() for name in TOY_CODE}
    return {"config.json": json.dumps(config).encode(), **files}


@pytest.fixture(scope="module")
def hub() -> Iterator[FakeHub]:
    repos = {
        "acme/llava-copy": Repo(_llava_files(), revisions=("main", "v2")),
        "acme/gated-vlm": Repo(_llava_files(), gated=True),
        "acme/weights-only": Repo({"model.safetensors": b"\0" * 16, "README.md": b"# hi"}),
        "acme/toy-remote": Repo(_toy_files()),
    }
    with FakeHub(repos) as server:
        yield server


def _env(hub: FakeHub, home: Path, offline: bool = False) -> dict[str, str]:
    return {"HF_ENDPOINT": hub.url, "HF_HOME": str(home), "HF_HUB_OFFLINE": "1" if offline else "0",
            "HF_TOKEN": "", "VLMSCOPE_NO_CACHE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}


@pytest.fixture
def hub_cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run_cli`` against a server, as a cold process with ``_env`` would run: huggingface_hub reads its
    settings from the environment once, at import, so they are set here where it keeps them (a cold process
    each is seconds more a call; test_hub_repo_gives_the_same_anatomy_as_the_catalog and the remote-code tests
    run cold, so the environment's own way is tested too)."""
    from huggingface_hub import constants

    def run(hub: FakeHub, home: Path, *args: str, offline: bool = False) -> subprocess.CompletedProcess[str]:
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
        monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(home / "token"))
        monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens"))
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
        return run_cli(*args, env={"HF_TOKEN": "", "VLMSCOPE_NO_CACHE": "1"})

    return run


def test_hub_repo_gives_the_same_anatomy_as_the_catalog(hub: FakeHub, tmp_path: Path) -> None:
    result = run_cold("show", "acme/llava-copy", "-f", "json", env=_env(hub, tmp_path))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["params"]["total"] == 7_063_427_072
    assert data["source"]["origin"] == "hub" and data["source"]["location"] == f"{hub.url}/acme/llava-copy"
    assert data["source"]["files"] == ["config.json", "preprocessor_config.json", "processor_config.json"]
    assert data["connector"]["tokens_per_image"] == 576


def test_revision_and_offline_cache(hub: FakeHub, tmp_path: Path, hub_cli) -> None:  # type: ignore[no-untyped-def]
    assert hub_cli(hub, tmp_path, "show", "acme/llava-copy@v2", "-f", "json").returncode == 0
    missing = hub_cli(hub, tmp_path, "show", "acme/llava-copy@nope")
    assert missing.returncode == 2 and "revision 'nope' not found" in missing.stderr
    before = len(hub.requests)
    cached = hub_cli(hub, tmp_path, "show", "acme/llava-copy@v2", "-f", "json", offline=True)
    assert cached.returncode == 0, cached.stderr
    assert len(hub.requests) == before  # offline: served from the huggingface_hub cache, no request
    cold = hub_cli(hub, tmp_path / "fresh", "show", "acme/llava-copy", offline=True)
    assert cold.returncode == 2
    assert "offline (HF_HUB_OFFLINE=1) and its config.json is not in the cache" in cold.stderr


@pytest.mark.parametrize("ref, message", [
    ("acme/missing", "repository not found on http://127.0.0.1"),
    ("acme/gated-vlm", "the repository is gated: accept its terms on the Hub, then set HF_TOKEN"),
    ("acme/weights-only", "the repository has no config.json"),
])
def test_hub_errors_are_one_line(hub: FakeHub, tmp_path: Path, ref: str, message: str,
                                 hub_cli) -> None:  # type: ignore[no-untyped-def]
    result = hub_cli(hub, tmp_path, "show", ref)
    assert result.returncode == 2
    assert message in result.stderr and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_remote_code_runs_only_with_the_flag(hub: FakeHub, tmp_path: Path) -> None:
    refused = run_cold("show", "acme/toy-remote", env=_env(hub, tmp_path))
    assert refused.returncode == 2 and "--trust-remote-code" in refused.stderr
    assert not hub.filenames() & set(TOY_CODE), "code was fetched without the flag"
    result = run_cold("show", "acme/toy-remote", "-f", "json", "--trust-remote-code", env=_env(hub, tmp_path))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["model_class"] == "ToyVlmForCausalLM"
    assert (data["vision"]["layers"], data["language"]["layers"]) == (3, 2)
    assert data["connector"]["projection"] == "Linear(32→64)"
    assert data["params"]["total"] == sum(data["params"][k] for k in ("vision", "connector", "language", "lm_head"))


def test_local_folder_with_remote_code(tmp_path: Path) -> None:
    folder = tmp_path / "toy"
    folder.mkdir()
    for name, data in _toy_files().items():
        (folder / name).write_bytes(data)
    assert run_cli("show", str(folder)).returncode == 2
    result = run_cold("show", str(folder), "-f", "json", "--trust-remote-code", env={"HF_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["model_class"] == "ToyVlmForCausalLM" and data["vision"]["layers"] == 3


def test_one_failing_model_does_not_stop_the_others(hub: FakeHub, tmp_path: Path) -> None:
    result = run_cli("compare", "llava-1.5-7b-hf", "acme/missing", "idefics2-8b", "-f", "json")  # offline: not cached
    assert result.returncode == 2
    assert [d["model_id"] for d in json.loads(result.stdout)] == ["llava-hf/llava-1.5-7b-hf",
                                                                  "HuggingFaceM4/idefics2-8b"]
    assert result.stderr.count("vlmscope: error:") == 1 and "acme/missing" in result.stderr


def test_jobs_give_the_same_result(hub: FakeHub, tmp_path: Path, hub_cli) -> None:  # type: ignore[no-untyped-def]
    """The same batch in this process and over two worker processes of a cold one."""
    args = ("compare", "llava-1.5-7b-hf", "acme/llava-copy", "mantis-8b-clip-llama3", "-f", "json")
    serial = hub_cli(hub, tmp_path, *args)
    parallel = run_cold(*args, "--jobs", "2", env=_env(hub, tmp_path))
    assert serial.returncode == parallel.returncode == 0, parallel.stderr
    assert serial.stdout == parallel.stdout
    assert [d["cost"]["visual_tokens"] for d in json.loads(parallel.stdout)] == [576, 576, 576]


def test_only_allow_listed_files_were_requested(tmp_path: Path, hub_cli) -> None:  # type: ignore[no-untyped-def]
    """Whatever vlmscope asks of a Hub (a model, a weights-only repo, remote code without and with the
    flag), it requests config files only, and code only from the repo whose code was trusted. Its own
    server, so the test holds whatever ran before it; the trusted code runs in a process of its own."""
    repos = {"acme/llava-copy": Repo(_llava_files()), "acme/toy-remote": Repo(_toy_files()),
             "acme/weights-only": Repo({"model.safetensors": b"\0" * 16, "README.md": b"# hi"})}
    with FakeHub(repos) as server:
        for ref in ("acme/llava-copy", "acme/weights-only", "acme/toy-remote"):
            hub_cli(server, tmp_path, "show", ref)
        run_cold("show", "acme/toy-remote", "--trust-remote-code", env=_env(server, tmp_path))
        requested = list(server.requests)
    assert {repo for _, repo, _ in requested} == set(repos)
    assert {name for _, _, name in requested} <= {CONFIG, *OPTIONAL, *TOY_CODE}, requested
    assert {repo for _, repo, name in requested if name in TOY_CODE} == {"acme/toy-remote"}


def test_a_videos_timestamps_are_counted_by_the_repos_tokenizer(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The text a video processor writes (Qwen3-VL's timestamps) is counted by the repo's tokenizer.json, which
    is fetched only then (not for a sheet without a video), once, and read from the cache offline; a repo
    without one leaves the text uncounted, and says so. In this process: huggingface_hub's settings, which it
    reads from the environment once, are set here as a cold process would read them."""
    from huggingface_hub import constants

    folder = Path(catalog.find("Qwen3-VL-4B-Instruct").folder)  # type: ignore[union-attr]
    files = {name: (folder / name).read_bytes() for name in (CONFIG, *OPTIONAL) if (folder / name).is_file()}
    cut = json.loads((folder / "text_tokenizer.json").read_text())["tokenizer"]
    repos = {"acme/qwen3-vl": Repo({**files, TOKENIZER: json.dumps(cut).encode()}), "acme/qwen3-vl-bare": Repo(files)}
    video = ("--images", "0", "--video", "20s@30:640x360", "-f", "json")
    with FakeHub(repos) as server:
        monkeypatch.setattr(constants, "ENDPOINT", server.url)
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        env = {"HF_TOKEN": "", "VLMSCOPE_NO_CACHE": "1"}
        assert run_cli("show", "acme/qwen3-vl", "-f", "json", env=env).returncode == 0
        assert TOKENIZER not in server.filenames()
        done = run_cli("show", "acme/qwen3-vl", *video, env=env)
        assert done.returncode == 0, done.stderr
        cost = json.loads(done.stdout)["cost"]
        clip = cost["videos"][0]
        assert clip["text_tokens"] == 10 * 6 + 10 * 7 and cost["prefill_tokens"] == clip["tokens"] + 130
        assert server.requests.count(("GET", "acme/qwen3-vl", TOKENIZER)) == 1
        bare = json.loads(run_cli("show", "acme/qwen3-vl-bare", *video, env=env).stdout)["cost"]
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
        offline = run_cli("show", "acme/qwen3-vl", *video, env=env)
    assert json.loads(offline.stdout)["cost"]["videos"][0]["text_tokens"] == 130
    assert bare["videos"][0]["text_tokens"] is None and bare["prefill_tokens"] == bare["videos"][0]["tokens"]
    assert any("no tokenizer of the model's" in n for n in bare["assumptions"])


def test_a_tokenizer_past_its_limit_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tokenizer.json larger than MAX_TOKENIZER_BYTES (here 1 kB) is refused unread and nothing is written:
    the text is not counted."""
    from huggingface_hub import constants

    from vlmscope.sources import hub
    from vlmscope.sources.resolve import resolve

    folder = Path(catalog.find("Qwen3-VL-4B-Instruct").folder)  # type: ignore[union-attr]
    files = {name: (folder / name).read_bytes() for name in (CONFIG, *OPTIONAL) if (folder / name).is_file()}
    with FakeHub({"acme/big": Repo({**files, TOKENIZER: b"{" + b" " * 5000 + b"}"})}) as server:
        monkeypatch.setattr(constants, "ENDPOINT", server.url)
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(hub, "MAX_TOKENIZER_BYTES", 1000)
        resolve("acme/big")
        assert hub.fetch_tokenizer("acme/big") is None
        assert server.requests[-1] == ("GET", "acme/big", TOKENIZER)
    assert not list((tmp_path / "hub").rglob(TOKENIZER))
