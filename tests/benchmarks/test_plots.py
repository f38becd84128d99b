import json

import pytest

from benchmarks.plots import pearson_title, plot_backtracks_vs_accuracy, plot_grpo_curves, plot_pass_vs_tokens

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _ink(path) -> float:
    """Share of pixels that are not the (white) background: how much the figure draws."""
    from matplotlib.image import imread

    pixels = imread(str(path))[..., :3]
    return float((pixels.min(axis=-1) < 0.9).mean())


@pytest.mark.slow
def test_grpo_curves_png(tmp_path):
    paths = {}
    for arm, slope in (("direct", 0.01), ("astro", 0.02)):
        path = tmp_path / f"{arm}.jsonl"
        path.write_text("".join(json.dumps({"step": s, "reward_mean": slope * s, "completion_len": 50 + s}) + "\n" for s in range(5)))
        paths[arm] = path
    out = plot_grpo_curves(paths, tmp_path / "plots" / "grpo.png")
    assert out.read_bytes().startswith(PNG_MAGIC)
    empty = plot_grpo_curves({"astro": tmp_path / "absent.jsonl"}, tmp_path / "empty.png")
    assert _ink(out) > _ink(empty)  # two arms' curves draw more than axes alone


def test_grpo_curves_tolerate_missing_files(tmp_path):
    out = plot_grpo_curves({"astro": tmp_path / "absent.jsonl"}, tmp_path / "grpo.png")
    assert out.read_bytes().startswith(PNG_MAGIC)


def test_backtracks_vs_accuracy_png(tmp_path):
    points = [("base", 0.0, 0.1), ("astro-sft", 1.0, 0.3), ("astro-rl", 2.0, 0.5)]
    out = plot_backtracks_vs_accuracy(points, tmp_path / "bt.png")
    assert out.read_bytes().startswith(PNG_MAGIC)
    single = plot_backtracks_vs_accuracy(points[:1], tmp_path / "one.png")
    assert _ink(out) > _ink(single) > 0  # three labelled points draw more than one


def test_pearson_title():
    assert pearson_title("Backtracks", [0, 1, 2], [0.1, 0.3, 0.5]) == "Backtracks (Pearson r = 1.000)"
    assert pearson_title("B", [1, 2, 3], [1, 3, 2]) == "B (Pearson r = 0.500)"
    assert pearson_title("B", [1], [1]) == "B (Pearson r = n/a)"
    assert pearson_title("B", [1, 1], [0, 1]) == "B (Pearson r = n/a)"


def test_pass_vs_tokens_png(tmp_path):
    points = [("Direct-SFT", 34.0, 0.2), ("ASTRO-SFT", 130.0, 0.26)]
    curves = {"Direct-SFT retry, self-check": [(0.0, 0.0), (60.0, 0.3), (120.0, 0.45)],
              "Direct-SFT best-of-n, verifier stop": [(0.0, 0.0), (60.0, 0.32), (120.0, 0.5)],
              "empty": []}
    out = plot_pass_vs_tokens(points, curves, tmp_path / "plots" / "pass.png", dashed=["Direct-SFT best-of-n, verifier stop"])
    assert out.read_bytes().startswith(PNG_MAGIC)
    bare = plot_pass_vs_tokens(points, {}, tmp_path / "bare.png")
    assert _ink(out) > _ink(bare) > 0  # the curves draw more than the points alone
