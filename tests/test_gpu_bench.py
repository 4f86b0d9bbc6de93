"""The GPU benchmark (benchmarks/gpu_bench.py) in its tiny CPU mode, so it cannot rot unnoticed,
and the pieces it stands on: the device peak table and the real-size PaliGemma vocabulary."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from medvlm.generated import read_block

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import gpu_bench  # noqa: E402


@pytest.mark.parametrize(
    ("device", "tflops"),
    [
        ("NVIDIA H100 80GB HBM3", 989.5),
        ("NVIDIA H100 PCIe", 756.5),
        ("NVIDIA H100 NVL", 835.5),
        ("NVIDIA H200", 989.5),
        ("NVIDIA H200 NVL", 835.5),
        ("NVIDIA A100-SXM4-80GB", 312.0),
        ("cpu", None),
    ],
)
def test_dense_bf16_peak_by_device_name(device, tflops):
    assert gpu_bench.peak_tflops(device) == tflops


def test_real_size_vocabulary_has_paligemmas_shape(tmp_path):
    from vocab_mask_cost import TEXT_PIECES, real_size_tokenizer

    texts = ["Which finding is shown? A. effusion B. nodule", "B", "[12, 30, 200, 310]"]
    tokenizer = real_size_tokenizer(texts, tmp_path / "big.model")
    assert tokenizer.vocab_size == 257_152
    assert tokenizer.loc_offset == TEXT_PIECES == 256_000
    assert tokenizer.sp.IdToPiece(tokenizer.loc_id(1023)) == "<loc1023>"
    assert tokenizer.sp.IdToPiece(257_151) == "<seg127>"
    pieces = {tokenizer.sp.IdToPiece(i) for i in range(tokenizer.loc_offset)}
    assert len(pieces) == TEXT_PIECES  # every text piece distinct
    assert tokenizer.decode(tokenizer.encode(texts[0])) == texts[0]


@pytest.mark.slow
def test_tiny_run_writes_its_block_into_a_copy(tmp_path):
    benchmarks = REPO / "BENCHMARKS.md"
    before = benchmarks.read_bytes()
    copy = tmp_path / "BENCHMARKS.md"
    copy.write_bytes(before)
    out = tmp_path / "gpu_bench.json"
    done = subprocess.run(
        [sys.executable, "benchmarks/gpu_bench.py", "--tiny", "--write", str(copy)]
        + ["--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert benchmarks.read_bytes() == before  # the repository's file is left alone

    block = read_block(copy.read_text("utf-8"), gpu_bench.BLOCK)
    assert "on **cpu**" in block and "Tiny sizes on the CPU" in block
    for model in ("tiny PaliGemma, 32 px", "tiny PaliGemma, 64 px", "tiny MedGemma (demo model)"):
        assert f"| {model} |" in block
    assert block.count("0 of 3 wrong format") == 2
    outside = copy.read_text("utf-8").replace(block, "")
    assert outside == before.decode("utf-8").replace(read_block(before.decode(), "gpu-bench"), "")

    results = json.loads(out.read_text("utf-8"))
    for part in ("paligemma-224", "paligemma-448", "medgemma"):
        assert results[part]["step_s"] > 0
        assert results[part]["peak_bytes"] is None  # no device allocator on the CPU
    assert results["paligemma-448"]["image_tokens"] == 4 * results["paligemma-224"]["image_tokens"]
    plan = results["plan-paligemma"]
    assert 0 < plan["224"] < plan["448"]  # the larger image, the larger planned peak
    assert results["medgemma"]["plan_bytes"] > 0
    for family in ("paligemma-224", "medgemma"):
        decoded = results[family]["decode"]
        assert [row["task"] for row in decoded] == list(gpu_bench.TINY_TASKS)
        assert all(row["wrong"] == 0 and row["steps"] >= 1 for row in decoded)
