"""Fail fast, with the local alternative, when a Hugging Face hub name cannot be reached.

Without this, `datasets` and `transformers` retry an unreachable hub for 30-50 s and end in
several chained tracebacks. `hub_unreachable_reason` answers in at most `timeout_s` (the
offline variables, then one TCP connection to the endpoint or the configured proxy);
`check_model_source` turns a `--model`/`--policy` value into one clear `UserError`.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from astro_env.errors import MissingFileError, UserError

_OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def hub_offline_flag() -> str | None:
    """The name of the set offline variable (HF_HUB_OFFLINE, ...), or None."""
    for var in _OFFLINE_VARS:
        if os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on"):
            return var
    return None


def hub_unreachable_reason(timeout_s: float = 3.0) -> str | None:
    """Why the hub cannot be used now ("HF_HUB_OFFLINE is set", "cannot connect to ..."), or None.

    Probes `$HF_ENDPOINT` (default https://huggingface.co), or the HTTPS proxy when one is
    configured, with one TCP connection; never takes longer than about `timeout_s` plus a DNS
    lookup. A None answer does not promise the download will succeed.
    """
    flag = hub_offline_flag()
    if flag:
        return f"{flag} is set"
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    proxy = next((os.environ[v] for v in _PROXY_VARS if os.environ.get(v)), None)
    url = urlparse(proxy if proxy else endpoint)
    host = url.hostname
    if not host:
        return None
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        return f"cannot connect to {host}:{port} ({exc.__class__.__name__}: {exc})"
    return None


def looks_like_path(name: str) -> bool:
    """Whether `name` is meant as a local path rather than a hub id `org/name` or `name`."""
    return (
        name.startswith(("/", "./", "../", "~", "."))
        or name.count("/") > 1
        or "\\" in name
        or name.endswith(("/", ".json", ".safetensors", ".bin", ".pt"))
    )


def _in_hub_cache(repo_id: str) -> bool:
    """Whether the local Hugging Face cache holds `repo_id`'s config.json (False without huggingface_hub)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    try:
        found = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # an id the hub library rejects is not cached
        return False
    return isinstance(found, str)


def check_model_source(name: str, flag: str = "--model", markers: tuple[str, ...] = ("config.json",)) -> None:
    """Return when `name` is a local model directory or a hub id the hub can be asked for.

    A hub id already in the local Hugging Face cache passes offline too. Raises
    `MissingFileError` for a path that does not exist, `UserError` for a directory without
    any of `markers` (config.json for a model) or an uncached hub id while the hub is unreachable; each message names `flag`
    and the local alternative (a `save_pretrained` directory).
    """
    path = Path(name).expanduser()
    if path.is_dir():
        if not any((path / marker).is_file() for marker in markers):
            raise UserError(f"{flag} {name}: the directory has no {' or '.join(markers)}, so it was not written by save_pretrained; pass a save_pretrained directory (e.g. a run's sft/ or rl/ folder).")
        return
    if path.exists():
        raise UserError(f"{flag} {name} is a file; pass a model directory written by save_pretrained.")
    if looks_like_path(name) or not name.strip():
        raise MissingFileError(f"{flag} {name}: no such directory; pass an existing save_pretrained directory or a hub id such as org/name.")
    if _in_hub_cache(name):
        return  # transformers loads it from the local cache, online or not
    reason = hub_unreachable_reason()
    if reason:
        raise UserError(f"{flag} {name} is not a local directory and the Hugging Face hub is unreachable ({reason}); pass a local save_pretrained directory instead.")
