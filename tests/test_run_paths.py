"""Run folder paths given to ``physlearning run --out / --runs-dir`` and ``physlearning tour --out``:
every path that cannot hold a new run folder gives one ``error:`` line naming the path and the
reason (exit 2, no traceback) and leaves no half-made folder; missing parents are created."""

from __future__ import annotations

import errno
import os
import uuid
from pathlib import Path

import pytest

from physlearning.cli import main
from physlearning.errors import RunFolderError
from physlearning.runs import store
from physlearning.runs.store import make_folder

FIT = ["run", "fit", "--set", "train.epochs=1", "--set", "task.n_train=16", "--set", "task.n_test=16"]


def _error_line(capsys) -> str:
    """The CLI's stderr: exactly one ``error:`` line, no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def _writable(d: Path) -> bool:
    """Whether a file can really be made in ``d`` (root ignores a directory's mode bits)."""
    probe = d / f".probe-{uuid.uuid4().hex}"
    try:
        probe.write_text("")
    except OSError:
        return False
    probe.unlink()
    return True


@pytest.fixture
def read_only_dir(tmp_path):
    """A directory this process cannot make folders in: a chmod 555 one, or (as root, for whom mode bits
    do not count) a place under /sys, which refuses new folders whatever the user."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if not _writable(ro):
            yield ro, "is not writable"
            return
        sys_dir = Path("/sys")
        probe = sys_dir / f"physlearning-probe-{uuid.uuid4().hex}"
        try:
            os.mkdir(probe)
        except OSError:
            yield sys_dir, "does not allow new folders"
            return
        os.rmdir(probe)
        pytest.skip("running as root and /sys accepts new folders: no read-only place to test with")
    finally:
        ro.chmod(0o755)


def _dangling(tmp_path: Path) -> Path:
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "nowhere")
    return link


def _a_file(tmp_path: Path) -> Path:
    f = tmp_path / "a_file"
    f.write_text("not a directory")
    return f


# ------------------------------------------------------------------------------------------- run --out


def test_read_only_out(read_only_dir, capsys):
    where, reason = read_only_dir
    out = where / f"physlearning-run-{uuid.uuid4().hex[:8]}" / "run"
    assert main(FIT + ["--out", str(out)]) == 2
    line = _error_line(capsys)
    assert f"cannot make run folder {str(out)!r}" in line and f"{str(where)!r} {reason}" in line
    assert not out.parent.exists()


def test_read_only_runs_dir(read_only_dir, capsys):
    where, reason = read_only_dir
    assert main(FIT + ["--runs-dir", str(where)]) == 2
    line = _error_line(capsys)
    assert f"cannot make run folder {str(where / 'fit')!r}" in line and reason in line
    assert not (where / "fit").exists()


def test_missing_parents_are_created(tmp_path, capsys):
    out = tmp_path / "new" / "deeper" / "run"
    assert main(FIT + ["--out", str(out)]) == 0
    assert f"run folder: {out}" in capsys.readouterr().out
    assert {"config.toml", "summary.json", "metrics.jsonl", "report.md"} <= {p.name for p in out.iterdir()}


def test_a_file_as_a_parent(tmp_path, capsys):
    f = _a_file(tmp_path)
    for out in (f / "run", f / "sub" / "run"):
        assert main(FIT + ["--out", str(out)]) == 2
        line = _error_line(capsys)
        assert f"cannot make run folder {str(out)!r}: {str(f)!r} is a file, not a directory" in line
    assert main(FIT + ["--runs-dir", str(f)]) == 2
    assert f"{str(f)!r} is a file, not a directory" in _error_line(capsys)
    assert f.read_text() == "not a directory"


def test_a_file_as_out_is_never_overwritten(tmp_path, capsys):
    f = _a_file(tmp_path)
    assert main(FIT + ["--out", str(f)]) == 2
    assert f"run folder {str(f)!r} already exists" in _error_line(capsys)
    assert f.read_text() == "not a directory"


def test_dangling_symlink_as_out(tmp_path, capsys):
    link = _dangling(tmp_path)
    assert main(FIT + ["--out", str(link)]) == 2
    line = _error_line(capsys)
    assert f"cannot make run folder {str(link)!r}: it is a symbolic link to {str(tmp_path / 'nowhere')!r}" in line
    assert "does not exist (a dangling link)" in line
    assert link.is_symlink() and not (tmp_path / "nowhere").exists()


def test_dangling_symlink_as_a_parent(tmp_path, capsys):
    link = _dangling(tmp_path)
    assert main(FIT + ["--out", str(link / "run")]) == 2
    line = _error_line(capsys)
    assert f"{str(link)!r} is a symbolic link to {str(tmp_path / 'nowhere')!r}, which cannot be followed" in line
    assert not (tmp_path / "nowhere").exists()


def test_a_300_character_name(tmp_path, capsys):
    name = "a" * 300
    for out in (tmp_path / name, tmp_path / "new" / name / "run"):
        assert main(FIT + ["--out", str(out)]) == 2
        line = _error_line(capsys)
        assert f"cannot make run folder {str(out)!r}" in line
        assert "is 300 bytes long; allowed: at most 255 bytes per name" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # "new" was not made


def test_a_300_character_runs_dir(tmp_path, capsys):
    assert main(FIT + ["--runs-dir", str(tmp_path / ("a" * 300))]) == 2
    assert "is 300 bytes long" in _error_line(capsys)


def test_a_path_too_long_for_the_system(tmp_path, capsys):
    out = tmp_path.joinpath(*["d" * 200] * 25)
    assert main(FIT + ["--out", str(out)]) == 2
    line = _error_line(capsys)
    assert "cannot make run folder '" in line and "bytes long; allowed: under 4096 bytes" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("flag", ["--out", "--runs-dir"])
def test_out_under_proc(flag, capsys):
    if not Path("/proc/self").is_dir():
        pytest.skip("no /proc on this system")
    base = Path("/proc") / f"physlearning-test-{uuid.uuid4().hex[:8]}"
    assert main(FIT + [flag, str(base)]) == 2
    line = _error_line(capsys)
    made = base if flag == "--out" else base / "fit"
    assert f"cannot make run folder {str(made)!r}" in line
    assert "'/proc' does not allow new folders" in line or "'/proc' is not writable" in line
    assert not base.exists()


# ------------------------------------------------------------------------------------------- tour --out


@pytest.mark.parametrize("case", ["proc", "file_parent", "dangling", "long_name", "exists"])
def test_tour_out_gets_the_same_checks(case, tmp_path, capsys):
    out = {"proc": Path("/proc") / f"physlearning-tour-{uuid.uuid4().hex[:8]}",
           "file_parent": tmp_path / "a_file" / "tour",
           "dangling": tmp_path / "dangling",
           "long_name": tmp_path / ("t" * 300),
           "exists": tmp_path}[case]
    _a_file(tmp_path)
    _dangling(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["tour", "--only", "ep_resistors", "--out", str(out)]) == 2
    line = _error_line(capsys)
    assert repr(str(out)) in line
    assert {"proc": "/proc", "file_parent": "is a file, not a directory", "dangling": "a dangling link",
            "long_name": "is 300 bytes long", "exists": "already exists"}[case] in line
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_tour_runs_dir_that_is_a_file(tmp_path, capsys):
    f = _a_file(tmp_path)
    assert main(["tour", "--only", "ep_resistors", "--runs-dir", str(f)]) == 2
    assert f"cannot make run folder {str(f / 'tour')!r}: {str(f)!r} is a file" in _error_line(capsys)


# ------------------------------------------------------------------------------------------- make_folder


def test_make_folder_removes_the_parents_it_made_when_it_fails(tmp_path, monkeypatch):
    out = tmp_path / "p1" / "p2" / "run"
    real_mkdir = os.mkdir

    def mkdir(path, *args, **kwargs):
        if Path(path) == out:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(store.os, "mkdir", mkdir)
    with pytest.raises(RunFolderError, match="No space left on device"):
        make_folder(out)
    assert list(tmp_path.iterdir()) == []


def test_make_folder_makes_missing_parents_and_the_folder(tmp_path):
    out = tmp_path / "a" / "b" / "run"
    make_folder(out)
    assert out.is_dir() and list(out.iterdir()) == []
    with pytest.raises(RunFolderError, match="already exists"):
        make_folder(out)


def test_make_folder_odd_paths(tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(RunFolderError, match="symbolic link"):
        make_folder(loop / "run")
    with pytest.raises(RunFolderError, match="NUL character"):
        make_folder(tmp_path / "a\0b")
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    make_folder(tmp_path / "link" / "run")  # a parent that is a link to a directory is fine
    assert (real / "run").is_dir()


def test_make_folder_names_a_parent_it_may_not_write(tmp_path, monkeypatch):
    """What a non-root user gets for a chmod 555 directory (simulated: root may write anywhere)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    monkeypatch.setattr(store.os, "access", lambda p, mode: Path(p) != ro)
    with pytest.raises(RunFolderError) as e:
        make_folder(ro / "new" / "run")
    assert str(e.value) == (f"cannot make run folder {str(ro / 'new' / 'run')!r}: {str(ro)!r} is not writable "
                            "(permission denied); choose a writable --out or --runs-dir")
    assert list(ro.iterdir()) == []
