"""Tests of the benchmark suite's machinery (deepgrad.bench): workload discovery, the
correctness check before timing, discarding disturbed repeats, the table, and the command line.
They time fake workloads at given durations; the real rows are too slow for the test suite."""


import numpy as np
import pytest

from deepgrad.bench import core, harness, machine, run

NO_DISCARD = harness.Settings(repeats=3, min_time=0.002, warmup_time=0.0, check_calls=2,
                              max_other_share=1.0, settle=0.0)


def _timed(monkeypatch, **seconds):
    """Instant callables, one per keyword, that the harness times at the given seconds per call
    (real timing would make these tests depend on the machine's load)."""
    calls = {name: lambda: np.ones(3) for name in seconds}
    by_call = {id(fn): seconds[name] for name, fn in calls.items()}
    monkeypatch.setattr(harness, "_time_calls", lambda fn, n, self_timed: by_call[id(fn)])
    return calls


def _workload(deepgrad_call, torch_calls, kind="throughput", target=1.0, unit="samples/s"):
    return harness.Workload("fake row", kind, lambda torch: harness.Prepared(
        deepgrad_call, torch_calls), target=target, unit=unit, items_per_call=10)


def test_workloads_are_found_with_unique_names():
    names = [w.name for w in run.workloads()]
    assert len(names) == len(set(names))
    assert any("fraction of its GEMMs' rate" in name for name in names)
    assert any(name.startswith("flagship dg.models.cnn() train step") for name in names)


def test_list_and_filter_on_the_command_line(capsys):
    assert run.main(["--list", "--filter", "import"]) == 0
    assert capsys.readouterr().out.strip() == "import time"
    with pytest.raises(SystemExit):
        run.main(["--list", "--filter", "no such workload"])
    assert "no workload name contains" in capsys.readouterr().err


def test_a_faster_deepgrad_side_gives_a_ratio_above_one_and_meets_its_target(monkeypatch):
    fns = _timed(monkeypatch, ours=0.001, slow=0.004, slower=0.008)
    workload = _workload(fns["ours"], {"slow": fns["slow"], "slower": fns["slower"]})
    result = harness.measure(workload, None, NO_DISCARD)
    assert result.torch_variant == "slow"              # compared with torch's fastest variant
    assert result.deepgrad.seconds == [0.001] * 3
    assert result.ratio() == pytest.approx(4.0)
    cells = harness.row_cells(result)
    assert cells[6] == "yes" and cells[7] == "slow"
    assert "| fake row | samples/s |" in harness.markdown_table([result])


def test_a_latency_row_compares_times(monkeypatch):
    fns = _timed(monkeypatch, ours=0.004, fast=0.001)
    workload = _workload(fns["ours"], {"fast": fns["fast"]}, kind="latency", target=0.7,
                         unit="ms")
    result = harness.measure(workload, None, NO_DISCARD)
    assert result.ratio() == pytest.approx(4.0)
    cells = harness.row_cells(result)
    assert cells[6] == "NO" and cells[2] == "4 [4, 4]"  # milliseconds


def test_different_outputs_are_reported_and_not_timed():
    workload = _workload(lambda: np.ones(3), {"torch": lambda: np.full(3, 1.1)})
    result = harness.measure(workload, None, NO_DISCARD)
    assert result.problem.startswith("wrong output: call 1 differs from torch (torch)")
    assert result.deepgrad is None and result.ratio() is None
    assert harness.row_cells(result)[6] == result.problem


def test_repeats_disturbed_by_other_processes_are_discarded(monkeypatch):
    monkeypatch.setattr(machine, "other_share", lambda before, after: 0.5)
    monkeypatch.setattr(machine, "busy_share", lambda seconds=1.0: 0.0)
    settings = harness.Settings(repeats=3, min_time=0.001, warmup_time=0.0, settle=0.0,
                                max_discards=4)
    fns = _timed(monkeypatch, ours=0.001, t=0.001)
    result = harness.measure(_workload(fns["ours"], {"t": fns["t"]}), None, settings)
    assert result.discarded == 5
    assert result.problem.startswith("machine busy: 5 repeats discarded")


def test_invalid_workloads_are_refused():
    with pytest.raises(ValueError, match="kind must be"):
        harness.Workload("x", "speed", lambda torch: None)
    with pytest.raises(ValueError, match="latency unit"):
        harness.Workload("x", "latency", lambda torch: None, unit="samples/s")


def test_the_gemm_share_row_runs_its_two_sides_without_torch():
    prepared = core.setup_gemm_share(None)
    loss = prepared.deepgrad()
    assert np.isfinite(float(loss.item()))
    (gemms,) = prepared.torch.values()
    gemms()


@pytest.mark.parametrize("index", [0, 1])
def test_the_attention_rows_train_the_same_model_on_both_sides(torch, index):
    from deepgrad.bench import attention

    prepared = attention.WORKLOADS[index].setup(torch)
    (torch_step,) = prepared.torch.values()
    for _ in range(2):  # the second call sees the first step's update on both sides
        ours, theirs = float(prepared.deepgrad().item()), float(torch_step().item())
        assert ours == pytest.approx(theirs, rel=1e-4)
