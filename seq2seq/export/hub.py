"""Model folders on the Hugging Face hub: fetch one (cached, offline-capable), publish one.

Fetching is ``huggingface_hub.snapshot_download``: files land in the hub cache
(``HF_HUB_CACHE``, by default ``~/.cache/huggingface/hub``) and a second call reads them
from there; with ``HF_HUB_OFFLINE=1`` only the cache is read. Publishing is
``HfApi.create_repo`` (``exist_ok``) and ``HfApi.upload_folder``, with the token of
``hf auth login`` or ``HF_TOKEN``.
"""

from __future__ import annotations

import re
from pathlib import Path

from seq2seq.checkpoint import CheckpointError

_REPO = re.compile(r"(?P<repo>[\w.-]+/[\w.-]+)(@(?P<revision>[\w./-]+))?")


class HubError(RuntimeError):
    """Publishing failed; the message says where and why."""


def parse_repo(reference: str) -> tuple[str, str | None]:
    """``org/name[@revision]`` -> (repo id, revision or None)."""
    match = _REPO.fullmatch(reference)
    if not match:
        raise CheckpointError(f"hf://{reference}: not a hub model name (hf://org/name or "
                              "hf://org/name@revision)")
    return match["repo"], match["revision"]


def download(reference: str) -> Path:
    """The local snapshot folder of hub model ``org/name[@revision]``, fetched if needed."""
    from huggingface_hub import snapshot_download

    repo_id, revision = parse_repo(reference)
    try:
        return Path(snapshot_download(repo_id, revision=revision, repo_type="model"))
    except Exception as error:  # noqa: BLE001 - network, auth, cache: all mean "not available"
        raise CheckpointError(f"hf://{reference}: cannot fetch the model folder: "
                              f"{_first_sentence(error)}") from None


def push(folder: str | Path, repo_id: str, *, private: bool = False,
         commit_message: str = "Upload model folder (seq2seq-export)") -> str:
    """Upload ``folder`` to the model repository ``repo_id`` (created if missing); returns
    the commit's URL."""
    from huggingface_hub import HfApi

    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo_id):
        raise HubError(f"--push-to-hub {repo_id}: not a repository name (org/name)")
    api = HfApi()
    try:
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        commit = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model",
                                   commit_message=commit_message)
    except Exception as error:  # noqa: BLE001 - network, auth, quota: reported as they are
        raise HubError(f"--push-to-hub {repo_id}: {_first_sentence(error)}") from None
    return str(getattr(commit, "commit_url", commit))


def _first_sentence(error: Exception) -> str:
    text = " ".join(str(error).split())
    return (text.split(". ")[0] if text else type(error).__name__).rstrip(".")
