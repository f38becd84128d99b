"""Hub reachability and model-source checks: one clear error at once, naming the local alternative."""

from __future__ import annotations

import socket

import pytest

from astro_env.errors import MissingFileError, UserError
from astro_env.hub import check_model_source, hub_unreachable_reason, looks_like_path


@pytest.fixture
def closed_endpoint(monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once the socket is closed
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    return port


def test_offline_variable_is_the_reason(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub_unreachable_reason() == "HF_HUB_OFFLINE is set"


def test_closed_endpoint_is_unreachable(closed_endpoint):
    assert f"cannot connect to 127.0.0.1:{closed_endpoint}" in hub_unreachable_reason(timeout_s=1.0)


def test_listening_endpoint_is_reachable(monkeypatch):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.getsockname()[1]}")
        assert hub_unreachable_reason() is None


@pytest.mark.parametrize("name, is_path", [("/x/y", True), ("./m", True), ("runs/a/sft", True), ("org/name", False), ("gpt2", False), ("m.safetensors", True)])
def test_looks_like_path(name, is_path):
    assert looks_like_path(name) is is_path


def test_model_sources(tmp_path, closed_endpoint):
    with pytest.raises(MissingFileError, match="--policy .*no such directory; pass an existing save_pretrained"):
        check_model_source(str(tmp_path / "missing" / "model"), "--policy")
    with pytest.raises(UserError, match="no config.json"):
        check_model_source(str(tmp_path), "--model")
    with pytest.raises(UserError, match="hub is unreachable .*cannot connect.*local save_pretrained"):
        check_model_source("org/model", "--model")
    (tmp_path / "config.json").write_text("{}")
    check_model_source(str(tmp_path))  # a saved model directory passes


def test_a_cached_hub_model_passes_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cache = tmp_path / "hub"
    snapshot = cache / "models--org--cached" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (cache / "models--org--cached" / "refs").mkdir()
    (cache / "models--org--cached" / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    import huggingface_hub.file_download as fd

    monkeypatch.setattr(fd, "HF_HUB_CACHE", str(cache), raising=False)
    check_model_source("org/cached")
    with pytest.raises(UserError, match="HF_HUB_OFFLINE is set"):
        check_model_source("org/not-cached")
