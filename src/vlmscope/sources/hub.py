"""Config files from the Hugging Face Hub: an allow-list of small JSON files, never weights or code.

Downloads go through huggingface_hub, so its cache, ``HF_TOKEN``, ``HF_ENDPOINT`` and ``HF_HUB_OFFLINE``
all apply. Code files are fetched only for ``--trust-remote-code`` (by transformers' own loader).
"""

from __future__ import annotations

import re
from pathlib import Path

from vlmscope.errors import HubError

CONFIG = "config.json"
OPTIONAL = ("preprocessor_config.json", "processor_config.json")
_REPO = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?")


def is_repo_id(ref: str) -> bool:
    """``org/name`` or ``org/name@revision``."""
    return _REPO.fullmatch(ref) is not None


def split(ref: str) -> tuple[str, str | None]:
    repo_id, _, revision = ref.partition("@")
    return repo_id, revision or None


def endpoint() -> str:
    from huggingface_hub import constants

    return str(constants.ENDPOINT)


def _offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _download(repo_id: str, filename: str, revision: str | None) -> Path:
    from huggingface_hub import hf_hub_download

    return Path(hf_hub_download(repo_id, filename, revision=revision))


def fetch(ref: str) -> dict[str, Path]:
    """Download (or find in the cache) config.json and the optional processor configs of ``ref``."""
    from huggingface_hub import errors as hub_errors

    repo_id, revision = split(ref)
    try:
        files = {CONFIG: _download(repo_id, CONFIG, revision)}
    except hub_errors.GatedRepoError as exc:
        raise HubError(ref, "the repository is gated: accept its terms on the Hub, then set HF_TOKEN") from exc
    except hub_errors.RepositoryNotFoundError as exc:
        raise HubError(ref, f"repository not found on {endpoint()} (if it is private, set HF_TOKEN)") from exc
    except hub_errors.RevisionNotFoundError as exc:
        raise HubError(ref, f"revision {revision!r} not found") from exc
    except hub_errors.RemoteEntryNotFoundError as exc:
        raise HubError(ref, "the repository has no config.json; it is not a transformers model") from exc
    except hub_errors.LocalEntryNotFoundError as exc:
        if _offline():
            raise HubError(ref, "offline (HF_HUB_OFFLINE=1) and its config.json is not in the cache; "
                                "run once online or unset HF_HUB_OFFLINE") from exc
        raise HubError(ref, f"cannot reach {endpoint()} and config.json is not in the cache") from exc
    except (OSError, hub_errors.HfHubHTTPError) as exc:
        raise HubError(ref, f"cannot download config.json from {endpoint()}: {exc}") from exc
    for name in OPTIONAL:
        try:
            files[name] = _download(repo_id, name, revision)
        except (hub_errors.EntryNotFoundError, OSError):
            continue  # optional: absent in the repo, or offline and not cached
    return files
