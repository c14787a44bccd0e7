"""The command line: list, matrix --json, report, bench argument checking."""

import json

import pytest

from physlearning.cli import main
from physlearning.runs import registry


def test_list_shows_every_experiment(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in registry.experiments():
        assert name in out
    assert main(["list", "-v"]) == 0
    assert "rule.beta = 0.5" in capsys.readouterr().out


def test_matrix_json_rows(capsys):
    """Every physical rule vs the autodiff gradient (float64); EP rows on the Hopfield net."""
    assert main(["matrix", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all({"substrate", "rule", "cosine", "rel_error"} <= set(r) for r in rows)
    hop = {r["rule"]: r for r in rows if r["substrate"].startswith("hopfield")}
    assert hop["ep_symmetric (beta=1e-3)"]["cosine"] >= 0.999
    assert hop["ep_holomorphic (beta=1e-3)"]["cosine"] >= 0.999
    assert hop["ep_one_sided (beta=1e-3)"]["rel_error"] > hop["ep_symmetric (beta=1e-3)"]["rel_error"]


def test_bench_and_report_bad_arguments(tmp_path, capsys):
    assert main(["bench", "nonexistent"]) == 2
    assert "allowed values" in capsys.readouterr().err
    assert main(["report", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_unknown_subcommand_exits():
    with pytest.raises(SystemExit):
        main(["frobnicate"])


def test_missing_data_files_are_a_clean_error_before_the_run_folder(tmp_path, capsys):
    """A data folder that exists but lacks the data set's files passes the config check; the
    experiment's pre-flight check stops it with an ``error:`` line naming the file, exit 2, no
    traceback and no run folder. (Errors found later keep the folder with status 'failed':
    ``test_fsdd_small_end_to_end``.)"""
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "run"
    for example in ("scattering_optdigits_nohidden.toml", "reservoir_fsdd.toml"):
        code = main(["run", f"examples/{example}", "--set", f'data.dir="{empty}"', "--out", str(out)])
        assert code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: DataError") and str(empty) in err and "no run folder made" in err
        assert not out.exists()


def test_tour_refuses_unknown_pillars(tmp_path, capsys):
    assert main(["tour", "--only", "bogus", "--out", str(tmp_path / "t")]) == 2
    assert "tour --only ['bogus']: allowed values are" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()


def test_curves_averages_a_metric_over_run_folders(tmp_path, capsys):
    """``physlearning curves``: per-epoch mean over folds. Two runs with val_loss (e - 3)^2 + 1
    and (e - 5)^2 + 1 over epochs 1..6 (the second also has epoch 7, which only it recorded):
    the mean (e - 4)^2 + 2 is lowest at epoch 4 (value 2); each run's own best is 3 / 5, where
    the mean is 3; the last common epoch is 6 (mean 6). (Unequal epochs need --allow-unequal:
    ``test_curves_refuses_unequal_runs``.)"""
    for name, centre, last in (("a", 3, 6), ("b", 5, 7)):
        d = tmp_path / name
        d.mkdir()
        rows = [{"epoch": e, "train_loss": 0.0, "val_loss": (e - centre) ** 2 + 1.0} for e in range(1, last + 1)]
        (d / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert main(["curves", str(tmp_path / "a"), str(tmp_path / "b"), "--json", "--allow-unequal"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["runs"] == 2 and out["epochs"] == [1, 6]
    assert out["best_epoch"] == 4 and out["best_mean"] == pytest.approx(2.0)
    assert out["last_epoch"] == 6 and out["last_mean"] == pytest.approx(6.0)
    assert out["own_best_epochs"] == [3, 5] and out["mean_at_own_best"] == pytest.approx([3.0, 3.0])
    assert main(["curves", str(tmp_path / "a"), str(tmp_path / "b"), "--at", "1", "6", "--allow-unequal"]) == 0
    text = capsys.readouterr().out
    assert "best mean     2 at epoch 4" in text and "epoch 1       11" in text and "own best epoch 5" in text
    assert main(["curves", str(tmp_path / "a"), "--metric", "val_accuracy"]) == 2
    assert "no epoch records with metric 'val_accuracy'" in capsys.readouterr().err
    assert main(["curves", str(tmp_path / "a"), "--at", "9"]) == 2
    assert "--at 9: not an epoch every run recorded (1-6)" in capsys.readouterr().err
    assert main(["curves", str(tmp_path)]) == 2
    assert "is not a run folder" in capsys.readouterr().err
    # accuracy metrics: higher is better by default; a diverged run is refused, not averaged
    with open(tmp_path / "a" / "metrics.jsonl", "a") as f:
        extra = ({"epoch": 7, "val_accuracy": 0.9}, {"epoch": 8, "val_accuracy": 0.5}, {"epoch": 9, "val_loss": "nan"})
        for row in extra:
            f.write(json.dumps(row) + "\n")
    assert main(["curves", str(tmp_path / "a"), "--metric", "val_accuracy", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["best_epoch"] == 7
    assert main(["curves", str(tmp_path / "a")]) == 2
    assert "val_loss is not finite at epoch 9" in capsys.readouterr().err


def _fake_run_folder(path, epochs: int, status: str | None, message: str = ""):
    """A run folder as ``physlearning run`` leaves it: metrics.jsonl with ``epochs`` epoch records and
    (``status`` not None) summary.json with that status and reason."""
    path.mkdir()
    rows = [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 2.0 / e} for e in range(1, epochs + 1)]
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if status is not None:
        (path / "summary.json").write_text(json.dumps({"experiment": "fake", "status": status, "message": message}))
    return path


def test_curves_refuses_unequal_runs(tmp_path, capsys):
    """A 5-epoch interrupted run next to a 30-epoch one is refused, naming each run's epochs and status;
    --allow-unequal averages them over epochs 1-5 with a warning line per run on stderr."""
    a = _fake_run_folder(tmp_path / "a", 5, "interrupted", "interrupted by SIGINT; checkpoint kept")
    b = _fake_run_folder(tmp_path / "b", 30, "ok")
    assert main(["curves", str(a), str(b)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: the runs recorded different epochs and did not all finish "
                                                   "with status 'ok': ")
    assert f"{str(a)!r}: 5 epochs (1-5), status 'interrupted'; {str(b)!r}: 30 epochs (1-30), status 'ok'" in err
    assert "--allow-unequal" in err
    assert main(["curves", str(a), str(b), "--allow-unequal", "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["epochs"] == [1, 5] and out["last_mean"] == pytest.approx(2.0 / 5)
    assert [r["status"] for r in out["run_epochs"]] == ["interrupted", "ok"]
    warn = captured.err.splitlines()
    assert warn[0] == "warning: the runs recorded different epochs: the mean is over the epochs every run recorded"
    assert warn[1] == (f"warning: {str(a)!r}: 5 epochs (1-5), status 'interrupted' (interrupted by SIGINT; "
                       "checkpoint kept)")
    assert warn[2] == f"warning: {str(b)!r}: 30 epochs (1-30), status 'ok'"
    # equal epochs, one diverged / one still "running" (killed): refused too; two ok runs: no warning
    c = _fake_run_folder(tmp_path / "c", 30, "diverged", "train_loss = nan at epoch 31")
    d = _fake_run_folder(tmp_path / "d", 30, "running")
    assert main(["curves", str(b), str(c), str(d)]) == 2
    err = capsys.readouterr().err
    assert "did not all finish with status 'ok'" in err and "different epochs" not in err
    assert "status 'diverged'" in err and "status 'running'" in err
    e = _fake_run_folder(tmp_path / "e", 30, "ok")
    assert main(["curves", str(b), str(e)]) == 0
    assert capsys.readouterr().err == ""


def test_report_and_curves_name_a_truncated_summary(tmp_path, capsys):
    run = _fake_run_folder(tmp_path / "run", 3, "ok")
    (run / "summary.json").write_text('{"experiment": "fake", "stat')
    for cmd in (["report", str(run)], ["curves", str(run)]):
        assert main(cmd) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {str(run / 'summary.json')!r} is not valid JSON (truncated or edited?)")
        assert "Traceback" not in err
    assert not (run / "report.md").exists()


def test_report_and_curves_name_a_partial_last_metrics_line(tmp_path, capsys):
    run = _fake_run_folder(tmp_path / "run", 3, "ok")
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 4, "val_lo')
    for cmd in (["report", str(run)], ["curves", str(run)]):
        assert main(cmd) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {str(run / 'metrics.jsonl')!r} line 4 is not valid JSON (a partial line")
        assert "Traceback" not in err


def test_report_and_curves_on_values_that_are_not_numbers(tmp_path, capsys):
    run = _fake_run_folder(tmp_path / "run", 3, "ok")
    with open(run / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"epoch": 4, "val_loss": [1.0]}) + "\n")
    assert main(["curves", str(run)]) == 2
    err = capsys.readouterr().err
    assert f"{str(run / 'metrics.jsonl')!r}: record {{'epoch': 4, 'val_loss': [1.0]}} has an epoch or val_loss that " \
           "is not a number" in err
    assert main(["report", str(run)]) == 2
    assert f"error: cannot redraw the figures of run folder {str(run)!r}" in capsys.readouterr().err
    (run / "summary.json").write_text(json.dumps({"experiment": ["not", "a", "name"], "status": "ok"}))
    (run / "metrics.jsonl").write_text(json.dumps({"epoch": 1, "val_loss": 1.0}) + "\n")
    assert main(["report", str(run)]) == 0


def test_report_of_an_interrupted_run_shows_status_and_reason(tmp_path, capsys):
    """A run stopped by SIGINT after 3 epochs (through the runner, as ``physlearning run`` does it): its
    report.md says so at the top with the reason, and so does ``physlearning report`` rebuilding it."""
    import dataclasses

    from physlearning.errors import RunInterrupted
    from physlearning.runs import runner
    from physlearning.train import interrupt

    def run_then_interrupt(cfg, store):
        for e in range(1, 4):
            store.log({"epoch": e, "train_loss": 1.0 / e, "val_loss": 2.0 / e})
        interrupt.request("SIGINT")  # as the signal handler does inside a training loop
        interrupt.check("after epoch 3")

    exp = dataclasses.replace(registry.experiments()["fit"], name="fake_interrupted", run=run_then_interrupt)
    out = tmp_path / "run"
    with pytest.raises(RunInterrupted):
        runner.run(exp, exp.config_cls(), out)
    for rebuilt in (False, True):
        if rebuilt:
            (out / "report.md").unlink()
            assert main(["report", str(out)]) == 0
            assert capsys.readouterr().out.strip() == str(out / "report.md")
        text = (out / "report.md").read_text()
        assert (f"**Status: interrupted**: interrupted by SIGINT after epoch 3; checkpoint and training state kept: "
                f"continue with physlearning run --resume {out}") in text
        assert "| status | interrupted |" in text
    assert main(["curves", str(out)]) == 2
    assert "status 'interrupted'" in capsys.readouterr().err
