"""The command line: list, matrix --json, report, bench argument checking."""

import json

import pytest

from physlearning.cli import main
from physlearning.experiments import registry


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
