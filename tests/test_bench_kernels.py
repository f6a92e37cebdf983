"""``tzoo bench kernels`` bookkeeping on tiny inputs: skips, targets, files. The timed grid
itself is run by hand (it takes minutes); nothing here asserts a speed."""

from __future__ import annotations

import json

import pytest

from tokenizers_zoo.benchmarks import kernels as bench


def test_targets_come_first_then_cheapest():
    grid = bench._grid(quick=False)
    assert grid[:2] == [bench.SPEED_TARGET, bench.MEMORY_TARGET]
    costs = [n * k * d for n, k, d in grid[2:]]
    assert costs == sorted(costs)
    assert len(grid) == len(set(grid)) == 4 * 4 * 5


def test_config_skips_baselines_over_the_memory_cap_and_measures_the_rest():
    rates: dict = {}
    rows = bench._bench_config(256, 64, 8, "cpu", rates, max_bytes=3 * 256 * 64 * 4, max_run_s=60, repeats=2)
    by_impl = {r["impl"]: r for r in rows}
    assert "needs ~" in by_impl[bench.VQP]["skipped"]  # 4 matrices > 3
    assert "skipped" not in by_impl[bench.CDIST]  # 2 matrices fit
    for name in (bench.OURS, bench.OURS_TORCH, bench.FAISS, bench.CDIST):
        row = by_impl[name]
        assert row["runs"] == 2 and row["min_s"] <= row["median_s"] <= row["max_s"]
        assert row["code_pairs_per_s"] == pytest.approx(256 * 64 / row["median_s"])
        assert row["peak_extra_mib"] >= 0
    assert (bench.OURS, 8) in rates


def test_config_skips_runs_estimated_too_slow():
    rates = {(impl.name, 8): 1.0 for impl in bench.IMPLS}  # one code pair per second
    rows = bench._bench_config(64, 16, 8, "cpu", rates, max_bytes=2**30, max_run_s=100, repeats=1)
    assert all("estimated 1024 s per run" in r["skipped"] for r in rows)


def _row(impl, config, seconds, mib=1.0):
    n, k, d = config
    return {
        "impl": impl,
        "N": n,
        "K": k,
        "D": d,
        "device": "cpu",
        "median_s": seconds,
        "min_s": seconds,
        "max_s": seconds,
        "runs": 3,
        "code_pairs_per_s": n * k / seconds,
        "peak_extra_mib": mib,
    }


def test_target_summary_and_written_files(tmp_path):
    rows = [
        _row(bench.OURS, bench.SPEED_TARGET, 0.11),
        _row(bench.FAISS, bench.SPEED_TARGET, 0.10),
        _row(bench.VQP, bench.SPEED_TARGET, 11.0),
        _row(bench.OURS, bench.MEMORY_TARGET, 1.5, mib=12.5),
        {"impl": bench.CDIST, "N": 2**18, "K": 2**14, "D": 32, "device": "cpu", "skipped": "needs ~32 GiB"},
    ]
    summary = bench.target_summary(rows)
    assert summary["cpu_ours_over_faiss"] == pytest.approx(1.1)
    assert summary["cpu_vqp_over_ours"] == pytest.approx(100.0)
    assert summary["cpu_peak_extra_mib_at_memory_target"] == 12.5
    assert summary["gpu_code_pairs_per_s"] == bench.NOT_MEASURED_GPU
    machine = bench.machine_info("cpu") | {"load_average_at_end": 0.0}
    bench.write_results({"machine": machine, "rows": rows, "targets": summary}, tmp_path)
    assert json.loads((tmp_path / "results.json").read_text())["rows"] == rows
    md = (tmp_path / "results.md").read_text()
    assert "ours / faiss-cpu = 1.10x" in md and "skipped: needs ~32 GiB" in md
    assert bench.NOT_MEASURED_GPU in md
    assert (tmp_path / "results.png").read_bytes()[:4] == b"\x89PNG"
