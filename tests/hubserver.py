"""A loopback stand-in for the Hugging Face Hub's file endpoints (HEAD/GET .../resolve/REV/FILE).

It speaks the headers huggingface_hub reads (X-Repo-Commit, ETag, X-Error-Code) and records every request,
so tests can assert which files were asked for. It binds 127.0.0.1 only.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse


@dataclass
class Repo:
    files: dict[str, bytes]
    gated: bool = False
    revisions: tuple[str, ...] = ("main",)


@dataclass
class FakeHub:
    repos: dict[str, Repo]
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # (method, repo, filename)

    def __post_init__(self) -> None:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:
                hub._answer(self, body=False)

            def do_GET(self) -> None:
                hub._answer(self, body=True)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def filenames(self) -> set[str]:
        return {name for _, _, name in self.requests}

    def _answer(self, handler: BaseHTTPRequestHandler, body: bool) -> None:
        parts = unquote(urlparse(handler.path).path).strip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            return self._error(handler, 404, "EntryNotFound")
        repo_id, revision, filename = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
        self.requests.append((handler.command, repo_id, filename))
        repo = self.repos.get(repo_id)
        if repo is None:
            return self._error(handler, 401, "RepoNotFound")
        if repo.gated and not handler.headers.get("Authorization"):
            return self._error(handler, 401, "GatedRepo")
        commits = {hashlib.sha1(f"{repo_id}@{r}".encode()).hexdigest(): r for r in repo.revisions}
        if revision not in repo.revisions and revision not in commits:  # a branch or tag, or its commit (the Hub's)
            return self._error(handler, 404, "RevisionNotFound")
        revision = commits.get(revision, revision)
        if filename not in repo.files:
            return self._error(handler, 404, "EntryNotFound")
        data = repo.files[filename]
        handler.send_response(200)
        handler.send_header("X-Repo-Commit", hashlib.sha1(f"{repo_id}@{revision}".encode()).hexdigest())
        handler.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if body:
            handler.wfile.write(data)

    @staticmethod
    def _error(handler: BaseHTTPRequestHandler, status: int, code: str) -> None:
        payload = f'{{"error": "{code}"}}'.encode()
        handler.send_response(status)
        handler.send_header("X-Error-Code", code)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(payload)
