"""A hostile Hub endpoint (a mirror in HF_ENDPOINT, a proxy, plain-HTTP interception) on 127.0.0.1: it
chooses neither a path nor a size. Its commit and ETag must be hex digests before anything is written, a
body is read to the config limit and no further, and a refused answer leaves nothing behind, in the cache
or anywhere else."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import run_cold
from vlmscope.errors import HubError
from vlmscope.limits import MAX_CONFIG_BYTES
from vlmscope.sources import hub, hubcache

CONFIG = b'{"model_type": "llava"}'
COMMIT = hashlib.sha1(b"commit").hexdigest()
ETAG = f'"{hashlib.sha1(CONFIG).hexdigest()}"'

Answer = Callable[[BaseHTTPRequestHandler], None]


def _plain(headers: dict[str, str], body: bytes = CONFIG) -> Answer:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        for key, value in {"Content-Length": str(len(body)), **headers}.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(body)
    return answer


def _endless(handler: BaseHTTPRequestHandler) -> None:
    """A body without a length that never ends (a 6 GiB stream, cut by the client)."""
    handler.send_response(200)
    handler.send_header("X-Repo-Commit", COMMIT)
    handler.send_header("ETag", ETAG)
    handler.end_headers()
    chunk = b" " * 65536
    try:
        for _ in range(6 * 2**30 // len(chunk)):
            handler.wfile.write(chunk)
    except OSError:
        pass  # the client stopped reading


@pytest.fixture
def server() -> Iterator[tuple[list[Answer], list[str], str]]:
    """(the answer to give, the paths asked for, the endpoint)."""
    answers: list[Answer] = []
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            if self.path.endswith("/config.json"):
                answers[0](self)
            else:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        yield answers, asked, f"http://127.0.0.1:{http.server_address[1]}"
    finally:
        http.shutdown()
        http.server_close()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "home" / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", "")
    return tmp_path


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if not p.is_dir())


@pytest.mark.parametrize("headers, said", [
    ({"X-Repo-Commit": COMMIT, "ETag": '"../../../../owned.txt"'}, "malformed ETag '\"../../../../owned.txt\"'"),
    ({"X-Repo-Commit": COMMIT, "ETag": '"/tmp/owned.txt"'}, "malformed ETag"),
    ({"X-Repo-Commit": COMMIT, "X-Linked-Etag": '"../x"', "ETag": ETAG}, "malformed ETag"),
    ({"X-Repo-Commit": "../../../owned", "ETag": ETAG}, "malformed X-Repo-Commit '../../../owned'"),
    ({"X-Repo-Commit": COMMIT.upper(), "ETag": ETAG}, "malformed X-Repo-Commit"),
    ({"ETag": ETAG}, "malformed X-Repo-Commit None"),
])
def test_a_server_chooses_no_path(server: tuple[list[Answer], list[str], str], home: Path,
                                  monkeypatch: pytest.MonkeyPatch, headers: dict[str, str], said: str) -> None:
    from huggingface_hub import constants

    answers, _, url = server
    answers.append(_plain(headers))
    monkeypatch.setattr(constants, "ENDPOINT", url)
    with pytest.raises(HubError, match="refused, nothing written") as refused:
        hub.fetch("acme/model")
    assert said in str(refused.value)
    assert _files(home) == []


def test_a_server_chooses_no_size(server: tuple[list[Answer], list[str], str], home: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A declared 1 GiB config is refused unread; an endless stream is cut one byte past the limit. Neither
    leaves a file (no blob, no partial download)."""
    from huggingface_hub import constants

    answers, _, url = server
    monkeypatch.setattr(constants, "ENDPOINT", url)
    declared = _plain({"X-Repo-Commit": COMMIT, "ETag": ETAG, "Content-Length": str(2**30)}, b"{}")
    for answer in (declared, _endless):
        answers[:] = [answer]
        with pytest.raises(HubError, match=f"larger than the {MAX_CONFIG_BYTES // 2**20} MiB limit"):
            hub.fetch("acme/model")
        assert _files(home) == []


def test_an_honest_answer_is_cached_in_huggingface_hubs_layout(server: tuple[list[Answer], list[str], str],
                                                               home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The blob under its ETag, the snapshot entry a relative symlink to it, the branch's ref; read back
    without a request for the commit, and a planted snapshot link out of the repo's folder is not read."""
    from huggingface_hub import constants

    answers, asked, url = server
    answers.append(_plain({"X-Repo-Commit": COMMIT, "ETag": ETAG}))
    monkeypatch.setattr(constants, "ENDPOINT", url)
    files = hub.fetch("acme/model")
    folder = hubcache.repo_folder("acme/model")
    entry = folder / "snapshots" / COMMIT / "config.json"
    assert files == {"config.json": entry} and entry.read_bytes() == CONFIG
    assert entry.is_symlink() and str(entry.readlink()) == f"../../blobs/{ETAG.strip(chr(34))}"
    assert (folder / "refs" / "main").read_text() == COMMIT
    before = len(asked)
    assert hub.fetch(f"acme/model@{COMMIT}") == files and len(asked) == before  # a cached commit: no request
    outside = home / "secret.json"
    outside.write_text("{}")
    entry.unlink()
    entry.symlink_to(outside)
    assert hubcache.read("acme/model", COMMIT, "config.json") is None


def test_the_cli_refuses_a_hostile_etag_in_one_line(server: tuple[list[Answer], list[str], str],
                                                    tmp_path: Path) -> None:
    answers, _, url = server
    answers.append(_plain({"X-Repo-Commit": COMMIT, "ETag": '"../../../../owned.txt"'}))
    env = {"HF_ENDPOINT": url, "HF_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "0", "HF_TOKEN": "",
           "VLMSCOPE_NO_CACHE": "1"}
    result = run_cold("show", "acme/model", env=env)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "malformed ETag" in result.stderr
    assert _files(tmp_path) == []
