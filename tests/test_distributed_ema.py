"""EMA codebooks under DDP: two gloo processes on CPU keep identical codebooks, equal to
one process trained on both ranks' data, and never wait on a collective the other rank
skips (kmeans init, dead-code restarts, quantizer dropout, empty batches).

The two workers run every scenario once (one process group, so torch is imported
once per rank) and save what they saw after each step; the tests compare the two ranks
with each other and with a single-process run computed here.
"""

from __future__ import annotations

import datetime
import os
import random
import subprocess
import sys
import time
import traceback
import zlib
from pathlib import Path

import pytest
import torch

DIM = 8
WORLD = 2
WORKER_TIMEOUT_S = 100  # gloo collectives time out after 60 s, so a hang becomes an error first

# name -> (VectorQuantizer kwargs, [(rank 0 batch size, rank 1 batch size) per step]);
# a scenario that fails stops the ones after it (the ranks may be out of step), so
# those with empty batches come last
VQ_CASES: dict[str, tuple[dict, list[tuple[int, int]]]] = {
    "ema": (dict(codebook_size=16, decay=0.8), [(48, 32)] * 4),
    "ema_cosine": (dict(codebook_size=16, decay=0.8, use_cosine_sim=True), [(48, 32)] * 4),
    "ema_projected": (dict(codebook_size=16, codebook_dim=4, decay=0.8), [(48, 32)] * 4),
    "kmeans": (dict(codebook_size=16, decay=0.8, kmeans_init=True, kmeans_iters=4), [(48, 32)] * 3),
    "dead": (dict(codebook_size=32, decay=0.5, threshold_ema_dead_code=2.0), [(24, 24)] * 6),
    "empty_ema": (dict(codebook_size=16, decay=0.8), [(0, 32), (48, 0), (0, 0), (48, 32)]),
    "empty_kmeans_dead": (
        dict(codebook_size=16, decay=0.5, kmeans_init=True, kmeans_iters=4, threshold_ema_dead_code=2.0),
        [(0, 32), (0, 0), (32, 0), (24, 24), (0, 24)],
    ),
}
# name -> (ResidualVQ kwargs, sizes)
RVQ_CASES: dict[str, tuple[dict, list[tuple[int, int]]]] = {
    "rvq_dropout": (
        dict(num_quantizers=4, codebook_size=16, quantize_dropout=True, decay=0.8),
        [(40, 24)] * 10,
    ),
    "rvq_dropout_empty": (
        dict(
            num_quantizers=3, codebook_size=8, quantize_dropout=True, decay=0.8, threshold_ema_dead_code=1.0
        ),
        [(40, 0), (0, 24), (0, 0), (40, 24)] * 2,
    ),
}

ORDER = [
    "ema",
    "ema_cosine",
    "ema_projected",
    "kmeans",
    "dead",
    "rvq_dropout",
    "empty_ema",
    "empty_kmeans_dead",
    "rvq_dropout_empty",
]
assert sorted(ORDER) == sorted([*VQ_CASES, *RVQ_CASES])


def batch(name: str, rank: int, step: int, n: int) -> torch.Tensor:
    """Deterministic, rank-dependent data (the ranks' distributions differ), as (n, DIM)
    or, to exercise leading batch axes, (2, n // 2, DIM) when n is even."""
    gen = torch.Generator().manual_seed(zlib.crc32(name.encode()) + 1000 * step + rank)
    centers = torch.randn(4, DIM, generator=gen) * 2 + 3 * rank
    x = centers[torch.randint(0, 4, (n,), generator=gen)] + 0.3 * torch.randn(n, DIM, generator=gen)
    return x.reshape(2, n // 2, DIM) if n % 2 == 0 and n > 0 else x


def flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(-1, DIM)


def vq_state(vq) -> dict[str, torch.Tensor]:
    return {
        "codebook": vq.codebook.detach().clone(),
        "cluster_size": vq.cluster_size.clone(),
        "embed_sum": vq.embed_sum.clone(),
        "initted": vq.initted.clone(),
    }


# ------------------------------------------------------------------------------ worker side


def _run_vq_case(name: str, rank: int) -> list[dict]:
    from tokenizers_zoo.quantizers.vq import VectorQuantizer

    kwargs, sizes = VQ_CASES[name]
    torch.manual_seed(0)  # same initial codebook on every rank
    vq = VectorQuantizer(DIM, **kwargs).train()
    restarts: list[torch.Tensor | None] = []
    original = vq._restart_dead_codes

    def spy(target: torch.Tensor) -> None:
        restarts[-1] = (vq.cluster_size < vq.threshold_ema_dead_code).clone()
        original(target)

    vq._restart_dead_codes = spy
    steps = []
    for step, ns in enumerate(sizes):
        restarts.append(None)
        x = batch(name, rank, step, ns[rank]).requires_grad_()
        out = vq(x)
        out.loss.backward()  # the loss of an empty batch still has a graph
        steps.append(
            {
                **vq_state(vq),
                "dead": restarts[-1],
                "loss": out.loss.detach().clone(),
                "indices": out.indices.clone(),
                "grad_finite": bool(torch.isfinite(x.grad).all()),
            }
        )
    return steps


def _run_rvq_case(name: str, rank: int) -> list[dict]:
    from tokenizers_zoo.quantizers.residual import ResidualVQ

    kwargs, sizes = RVQ_CASES[name]
    random.seed(1234 + rank)  # the ranks would draw different stage counts on their own
    torch.manual_seed(0)
    rvq = ResidualVQ(DIM, **kwargs).train()
    steps = []
    for step, ns in enumerate(sizes):
        out = rvq(batch(name, rank, step, ns[rank]))
        steps.append(
            {
                "stages": int(out.metrics["num_quantizers"]),
                "index_columns": out.indices.shape[-1],
                "loss": out.loss.detach().clone(),
                "layers": [vq_state(layer) for layer in rvq.layers],
            }
        )
    return steps


def _worker(rank: int, init_file: str, out_dir: str) -> None:
    """Entry point of one rank: run every scenario, save results (or the traceback)."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    results: dict[str, object] = {}
    dist.init_process_group(
        "gloo",
        init_method=f"file://{init_file}",
        rank=rank,
        world_size=WORLD,
        timeout=datetime.timedelta(seconds=60),
    )
    try:
        failed = None
        for name in ORDER:
            if failed is not None:  # the ranks may be out of step: don't start collectives
                results[name] = {"error": f"not run: scenario {failed!r} failed first"}
                continue
            try:
                run = _run_vq_case if name in VQ_CASES else _run_rvq_case
                results[name] = {"steps": run(name, rank)}
            except Exception:
                results[name] = {"error": f"rank {rank}:\n{traceback.format_exc()}"}
                failed = name
            torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    finally:
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
        if failed is None:
            dist.barrier()
        dist.destroy_process_group()


# ------------------------------------------------------------------------------ test side

_LAUNCH = (
    "import importlib.util, sys\n"
    "spec = importlib.util.spec_from_file_location('_ddp_ema_worker', sys.argv[1])\n"
    "mod = importlib.util.module_from_spec(spec)\n"
    "spec.loader.exec_module(mod)\n"
    "mod._worker(int(sys.argv[2]), sys.argv[3], sys.argv[4])\n"
)


@pytest.fixture(scope="module")
def ddp_results(tmp_path_factory) -> list[dict]:
    tmp = tmp_path_factory.mktemp("ddp_ema")
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if "GLOO_SOCKET_IFNAME" not in env and Path("/sys/class/net/lo").exists():
        env["GLOO_SOCKET_IFNAME"] = "lo"
    logs = [open(tmp / f"rank{r}.log", "w+") for r in range(WORLD)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _LAUNCH, __file__, str(r), str(tmp / "init"), str(tmp)],
            stdout=logs[r],
            stderr=subprocess.STDOUT,
            env=env,
        )
        for r in range(WORLD)
    ]

    def tails() -> str:
        text = []
        for r, log in enumerate(logs):
            log.flush()
            log.seek(0)
            text.append(f"--- rank {r} output ---\n{log.read()[-4000:]}")
        return "\n".join(text)

    deadline = time.monotonic() + WORKER_TIMEOUT_S
    try:
        for proc in procs:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        pytest.fail(f"DDP workers did not finish in {WORKER_TIMEOUT_S} s (hang?)\n{tails()}")
    finally:
        output = tails()
        for log in logs:
            log.close()
    codes = [proc.returncode for proc in procs]
    if any(codes) or not all((tmp / f"rank{r}.pt").exists() for r in range(WORLD)):
        pytest.fail(f"DDP workers exited with {codes}\n{output}")
    return [torch.load(tmp / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]


def steps_of(results: list[dict], name: str) -> tuple[list[dict], list[dict]]:
    per_rank = [results[r].get(name, {"error": "missing"}) for r in range(WORLD)]
    errors = [res["error"] for res in per_rank if "error" in res]
    if errors:
        pytest.fail(f"scenario {name!r} failed in a worker:\n" + "\n".join(errors))
    return per_rank[0]["steps"], per_rank[1]["steps"]


STATE_KEYS = ("codebook", "cluster_size", "embed_sum", "initted")


def assert_identical(a: dict, b: dict, where: str) -> None:
    for key in STATE_KEYS:
        assert torch.equal(a[key], b[key]), f"{key} differs between ranks {where}"


def assert_close_state(got: dict, ref, where: str) -> None:
    expected = vq_state(ref)
    for key in STATE_KEYS:
        torch.testing.assert_close(
            got[key], expected[key], rtol=1e-5, atol=1e-5, msg=lambda m, k=key: f"{k} {where}: {m}"
        )


def single_process_vq(name: str):
    from tokenizers_zoo.quantizers.vq import VectorQuantizer

    kwargs, _ = VQ_CASES[name]
    torch.manual_seed(0)
    return VectorQuantizer(DIM, **kwargs).train()


def both_ranks(name: str, step: int, sizes) -> torch.Tensor:
    return torch.cat([flat(batch(name, r, step, sizes[step][r])) for r in range(WORLD)])


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ["ema", "ema_cosine", "ema_projected", "empty_ema"])
def test_ema_identical_across_ranks_and_equal_to_single_process(ddp_results, name):
    s0, s1 = steps_of(ddp_results, name)
    _, sizes = VQ_CASES[name]
    assert len(s0) == len(s1) == len(sizes)
    ref = single_process_vq(name)
    for step in range(len(sizes)):
        assert_identical(s0[step], s1[step], f"after step {step}")
        out = ref(both_ranks(name, step, sizes))
        assert_close_state(s0[step], ref, f"vs single process after step {step}")
        # each rank's ids are those of its own rows in the single-process batch
        n0 = sizes[step][0]
        assert torch.equal(flat_ids(s0[step]["indices"]), out.indices[:n0])
        assert torch.equal(flat_ids(s1[step]["indices"]), out.indices[n0:])
        for s in (s0[step], s1[step]):
            assert torch.isfinite(s["loss"]) and s["grad_finite"]
    # the codebook did move: the test is not vacuous
    torch.manual_seed(0)
    assert not torch.allclose(s0[-1]["codebook"], single_process_vq(name).codebook)


def flat_ids(indices: torch.Tensor) -> torch.Tensor:
    return indices.reshape(-1)


@pytest.mark.timeout(120)
def test_empty_batch_gives_zero_loss_and_no_hang(ddp_results):
    s0, s1 = steps_of(ddp_results, "empty_ema")
    _, sizes = VQ_CASES["empty_ema"]
    for step, (n0, n1) in enumerate(sizes):
        for n, s in ((n0, s0[step]), (n1, s1[step])):
            if n == 0:
                assert s["indices"].numel() == 0
                assert float(s["loss"]) == 0.0, "an empty batch must not give a NaN loss"


@pytest.mark.timeout(120)
def test_kmeans_init_broadcast_from_rank0(ddp_results):
    s0, s1 = steps_of(ddp_results, "kmeans")
    _, sizes = VQ_CASES["kmeans"]
    for step in range(len(sizes)):
        assert_identical(s0[step], s1[step], f"after step {step}")
        assert bool(s0[step]["initted"])
    # single process: k-means on rank 0's first batch (same RNG state), then EMA on both
    ref = single_process_vq("kmeans")
    ref._kmeans_init(flat(batch("kmeans", 0, 0, sizes[0][0])))
    for step in range(len(sizes)):
        ref(both_ranks("kmeans", step, sizes))
        assert_close_state(s0[step], ref, f"vs single process after step {step}")


@pytest.mark.timeout(120)
def test_dead_codes_restarted_identically(ddp_results):
    s0, s1 = steps_of(ddp_results, "dead")
    kwargs, sizes = VQ_CASES["dead"]
    restarted_steps = 0
    for step in range(len(sizes)):
        assert_identical(s0[step], s1[step], f"after step {step}")
        dead0, dead1 = s0[step]["dead"], s1[step]["dead"]
        assert (dead0 is None) == (dead1 is None)
        if dead0 is None or not dead0.any():
            continue
        assert torch.equal(dead0, dead1)
        restarted_steps += 1
        # replacements are real vectors of the batch of rank 0 (the lowest rank with data)
        rows = flat(batch("dead", 0, step, sizes[step][0]))
        new = s0[step]["codebook"][dead0]
        assert (new[:, None, :] == rows[None]).all(-1).any(-1).all()
        assert (s0[step]["cluster_size"][dead0] == kwargs["threshold_ema_dead_code"]).all()
    assert restarted_steps >= 2, "the scenario should restart codes after the first step too"


@pytest.mark.timeout(120)
def test_empty_batches_with_kmeans_and_dead_codes(ddp_results):
    """Rank 0 empty at the k-means step (rank 1 draws), both empty at a restart step (no
    zero codes), rank 1 empty, ...: no hang, identical state, finite, no zero codes."""
    s0, s1 = steps_of(ddp_results, "empty_kmeans_dead")
    _, sizes = VQ_CASES["empty_kmeans_dead"]
    torch.manual_seed(0)
    initial = single_process_vq("empty_kmeans_dead").codebook
    for step, (n0, n1) in enumerate(sizes):
        a, b = s0[step], s1[step]
        assert_identical(a, b, f"after step {step}")
        assert bool(a["initted"])
        assert torch.isfinite(a["codebook"]).all() and torch.isfinite(a["cluster_size"]).all()
        assert (a["codebook"].abs().sum(-1) > 0).all(), f"a code was zeroed at step {step}"
        for n, s in ((n0, a), (n1, b)):
            assert torch.isfinite(s["loss"]) and s["grad_finite"]
            assert n > 0 or float(s["loss"]) == 0.0
        if a["dead"] is not None and a["dead"].any() and n0 + n1 > 0:
            src = 0 if n0 else 1
            rows = flat(batch("empty_kmeans_dead", src, step, sizes[step][src]))
            new = a["codebook"][a["dead"]]
            assert (new[:, None, :] == rows[None]).all(-1).any(-1).all()
    assert not torch.allclose(s0[0]["codebook"], initial), "k-means (from rank 1) did not run"
    # step 1 has dead codes and no vector on any rank: they must be left alone, not zeroed
    assert sizes[1] == (0, 0) and s0[1]["dead"] is not None and s0[1]["dead"].any()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ["rvq_dropout", "rvq_dropout_empty"])
def test_residual_vq_dropout_same_stages_on_every_rank(ddp_results, name):
    from tokenizers_zoo.quantizers.residual import ResidualVQ

    s0, s1 = steps_of(ddp_results, name)
    kwargs, sizes = RVQ_CASES[name]
    assert len(s0) == len(s1) == len(sizes)
    stages = [s["stages"] for s in s0]
    assert stages == [s["stages"] for s in s1]
    assert [s["index_columns"] for s in s0] == stages == [s["index_columns"] for s in s1]
    assert len(set(stages)) > 1, "dropout never changed the depth: the test is vacuous"
    for step in range(len(sizes)):
        for la, lb in zip(s0[step]["layers"], s1[step]["layers"], strict=True):
            assert_identical(la, lb, f"after step {step}")
        assert torch.isfinite(s0[step]["loss"]) and torch.isfinite(s1[step]["loss"])
    if kwargs.get("threshold_ema_dead_code", 0) > 0:
        return  # restarts draw random rows: no single-process twin
    torch.manual_seed(0)
    ref = ResidualVQ(DIM, **kwargs).train()
    for step in range(len(sizes)):
        ref(both_ranks(name, step, sizes), num_quantizers=stages[step])
        for i, (got, layer) in enumerate(zip(s0[step]["layers"], ref.layers, strict=True)):
            assert_close_state(got, layer, f"layer {i} vs single process after step {step}")
