"""Run folders: resolved config, metrics stream, summary, checkpoint, resumable fits, plots, report.

Layout (DESIGN.md section 5)::

    RUN_DIR/config.toml      fully resolved config (rerun with `physlearning run RUN_DIR/config.toml`)
    RUN_DIR/metrics.jsonl    one JSON object per epoch/step/event
    RUN_DIR/summary.json     status ("running", "ok", "diverged", "failed", "interrupted"), its reason,
                             headline figures as flat keys, provenance (versions, commit, devices)
    RUN_DIR/checkpoint.eqx   equinox serialisation of the last good (finally: the selected) model
    RUN_DIR/train/NAME.*     each fit's resumable state (model, optimiser, rule state, history)
    RUN_DIR/data/*.npz       arrays the figures are drawn from (``physlearning report`` redraws them)
    RUN_DIR/plots/*.png
    RUN_DIR/report.md        figures inline, the numbers, the command to reproduce

A new folder is created atomically and an existing one is never overwritten; ``resume=True``
reopens a run folder to continue it.
"""

from __future__ import annotations

import errno
import json
import math
import os
import shlex
import stat
import sys
from pathlib import Path
from typing import Any

import equinox as eqx
import numpy as np

from physlearning import config as cfgmod
from physlearning.errors import RunFolderError

RunExistsError = RunFolderError
"""an existing run folder (kept as a name for callers of wave 1)."""

RUN_FILES = ("config.toml", "summary.json")


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if hasattr(v, "item") and getattr(v, "ndim", 1) == 0:
        v = v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


def _os_reason(e: OSError) -> str:
    return e.strerror or type(e).__name__


NAME_MAX = 255
"""Longest name (one path component) in bytes that common file systems (ext4, xfs, btrfs, tmpfs, APFS) allow."""
PATH_MAX = 4096
"""Longest path in bytes that Linux system calls accept."""

_HINT = "choose a writable --out or --runs-dir"
_ELSE = "choose another --out or --runs-dir"


def _show(path: str | Path) -> str:
    s = str(path)
    return repr(s if len(s) <= 1000 else f"{s[:500]}...{s[-200:]}")


def _mkdir_reason(e: OSError, parent: Path) -> str:
    where = _show(parent)
    if e.errno == errno.EROFS:
        return f"{where} is on a read-only file system"
    if e.errno in (errno.EACCES, errno.EPERM):
        return f"{where} does not allow new folders ({_os_reason(e)})"
    if e.errno == errno.ENOENT:  # the parent exists (checked): a virtual file system such as /proc
        return f"{where} does not allow new folders ({_os_reason(e)}; a virtual file system such as /proc or /sys?)"
    if e.errno == errno.ENAMETOOLONG:
        return "a name in the path or the whole path is too long for the file system"
    return _os_reason(e)


def make_folder(path: str | Path) -> None:
    """Create the run folder ``path`` atomically, with any missing parents. Every failure is a
    RunFolderError naming the path and the reason (exists already, a parent that is a file or a
    dangling link, a name too long, a place that is not writable), and leaves nothing behind: parents
    made here are removed again."""
    path = Path(path)
    where = f"cannot make run folder {_show(path)}"
    text = str(path)
    if "\0" in text:
        raise RunFolderError(f"{where}: the path contains a NUL character; {_ELSE}")
    try:
        os.fsencode(text)
    except UnicodeEncodeError as e:
        raise RunFolderError(f"{where}: the path cannot be encoded for the file system ({e.reason}); {_HINT}") from None
    for part in path.parts:
        if (n := len(os.fsencode(part))) > NAME_MAX:
            raise RunFolderError(f"{where}: the name {part[:40]!r}... is {n} bytes long; allowed: at most {NAME_MAX} "
                                 "bytes per name (a file-system limit)")
    if (n := len(os.fsencode(os.path.abspath(text)))) >= PATH_MAX:
        raise RunFolderError(f"{where}: the path is {n} bytes long; allowed: under {PATH_MAX} bytes (a file-system "
                             "limit)")
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        st = None
    except OSError as e:
        raise RunFolderError(f"{where}: {_os_reason(e)}; {_HINT}") from None
    if st is not None and stat.S_ISLNK(st.st_mode):
        what = "which exists" if os.path.exists(path) else "which does not exist (a dangling link)"
        raise RunFolderError(f"{where}: it is a symbolic link to {os.readlink(path)!r}, {what}; a run folder is "
                             f"made as a new directory, never through a link: {_ELSE}")
    if st is not None:
        raise RunFolderError(f"run folder {_show(path)} already exists; choose another --out "
                             "(an existing run is never overwritten)")
    # the nearest existing ancestor must be a directory (following links); the ones below it are made here
    missing: list[Path] = []
    for parent in [path.parent, *path.parent.parents]:
        try:
            st = os.lstat(parent)
        except (FileNotFoundError, NotADirectoryError):
            missing.append(parent)
            continue
        except OSError as e:
            raise RunFolderError(f"{where}: {_show(parent)}: {_os_reason(e)}; {_HINT}") from None
        if stat.S_ISLNK(st.st_mode):
            try:
                st = os.stat(parent)
            except OSError as e:
                raise RunFolderError(f"{where}: {_show(parent)} is a symbolic link to {os.readlink(parent)!r}, which "
                                     f"cannot be followed ({_os_reason(e)}: dangling or a loop); {_ELSE}") from None
        if not stat.S_ISDIR(st.st_mode):
            raise RunFolderError(f"{where}: {_show(parent)} is a file, not a directory; {_ELSE}")
        if not os.access(parent, os.W_OK | os.X_OK):
            try:
                ro = bool(os.statvfs(parent).f_flag & os.ST_RDONLY)
            except OSError:
                ro = False
            why = "is on a read-only file system" if ro else "is not writable (permission denied)"
            raise RunFolderError(f"{where}: {_show(parent)} {why}; {_HINT}")
        break
    created: list[Path] = []
    target = path
    try:
        for target in [*reversed(missing), path]:
            try:
                os.mkdir(target)  # the last one is atomic: exactly one caller creates the run folder
            except FileExistsError:
                if target == path:
                    raise RunFolderError(f"run folder {_show(path)} already exists; choose another --out "
                                         "(an existing run is never overwritten)") from None
                if not os.path.isdir(target):  # made meanwhile by someone else, as a file
                    raise RunFolderError(f"{where}: {_show(target)} is a file, not a directory; {_ELSE}") from None
                continue
            created.append(target)
    except OSError as e:
        for p in reversed(created):
            try:
                os.rmdir(p)
            except OSError:
                pass
        if isinstance(e, RunFolderError):
            raise
        raise RunFolderError(f"{where}: {_mkdir_reason(e, target.parent)}; {_HINT}") from None


class RunStore:
    """One run folder. ``RunStore(path)`` creates it (refusing an existing path);
    ``RunStore(path, resume=True)`` reopens a run folder to continue it."""

    def __init__(self, path: str | Path, *, resume: bool = False):
        self.path = Path(path)
        self.resuming = resume
        self._fit_names: dict[str, int] = {}
        if resume:
            check_run_folder(self.path)
        else:
            make_folder(self.path)
        try:
            (self.path / "plots").mkdir(exist_ok=True)
            (self.path / "train").mkdir(exist_ok=True)
            self._metrics = open(self.path / "metrics.jsonl", "a")
        except OSError as e:
            raise RunFolderError(f"cannot write in run folder {str(self.path)!r}: {_os_reason(e)}") from None

    @staticmethod
    def fresh_path(base: str | Path, name: str) -> Path:
        """``base/name``, or ``base/name-2``, ``-3``... if taken (the folder is not created here)."""
        base = Path(base)
        p = base / name
        i = 2
        try:
            while p.exists() or p.is_symlink():
                p = base / f"{name}-{i}"
                i += 1
        except (OSError, ValueError):  # a name too long, a NUL, a loop: make_folder names the reason
            pass
        return p

    @classmethod
    def create_fresh(cls, base: str | Path, name: str) -> RunStore:
        """A new folder ``base/name[-N]``, race-free: the next free name is taken atomically."""
        for _ in range(1000):
            try:
                return cls(cls.fresh_path(base, name))
            except RunFolderError as e:
                if "already exists" not in str(e):
                    raise
        raise RunFolderError(f"no free run folder name {name}-N under {str(base)!r}")

    # ---------------------------------------------------------------------------- files
    def _write(self, name: str, text: str) -> None:
        target = self.path / name
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(target)

    def write_config(self, data: dict) -> None:
        self._write("config.toml", cfgmod.dumps(data))

    def log(self, record: dict) -> None:
        self._metrics.write(json.dumps(_jsonable(record)) + "\n")
        self._metrics.flush()

    def save_checkpoint(self, model: eqx.Module, name: str = "checkpoint.eqx") -> Path:
        target = self.path / name
        tmp = target.with_name(target.name + ".tmp")
        eqx.tree_serialise_leaves(tmp, model)
        tmp.replace(target)
        return target

    def load_checkpoint(self, like: eqx.Module, name: str = "checkpoint.eqx") -> eqx.Module:
        return eqx.tree_deserialise_leaves(self.path / name, like)

    def read_summary(self) -> dict:
        return read_summary(self.path)

    def write_summary(self, summary: dict) -> None:
        self._write("summary.json", json.dumps(_jsonable(summary), indent=2) + "\n")

    def plot_path(self, name: str) -> Path:
        return self.path / "plots" / name

    def save_array(self, name: str, **arrays: np.ndarray) -> Path:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(target, **{k: np.asarray(v) for k, v in arrays.items()})
        return target

    def save_figure_data(self, figure: str, **arrays) -> Path:
        """Arrays a figure is drawn from, ``data/<figure>.npz`` (``physlearning report`` redraws it)."""
        return self.save_array(f"data/{figure}.npz", **arrays)

    # ---------------------------------------------------------------------------- resumable fits
    def claim_fit_name(self, name: str) -> str:
        """A unique name for a fit in this run: ``name``, then ``name-2``, ... in call order."""
        n = self._fit_names.get(name, 0) + 1
        self._fit_names[name] = n
        return name if n == 1 else f"{name}-{n}"

    def save_fit(self, name: str, trees, meta: dict) -> None:
        base = self.path / "train" / _safe(name)
        tmp = base.with_suffix(".eqx.tmp")
        eqx.tree_serialise_leaves(tmp, trees)
        tmp.replace(base.with_suffix(".eqx"))
        self._write(f"train/{_safe(name)}.json", json.dumps(_jsonable(meta)))

    def load_fit(self, name: str, like):
        """``(trees, meta)`` of a saved fit, or None when the fit never saved a state."""
        base = self.path / "train" / _safe(name)
        if not base.with_suffix(".json").is_file() or not base.with_suffix(".eqx").is_file():
            return None
        meta = json.loads(base.with_suffix(".json").read_text())
        try:
            trees = eqx.tree_deserialise_leaves(base.with_suffix(".eqx"), like)
        except Exception as e:  # a different model shape: the config changed since the run
            raise RunFolderError(f"cannot resume fit {name!r} from {str(base)}.eqx: its saved state does not match "
                                 f"the model built from config.toml ({type(e).__name__}: {e})") from None
        return trees, meta

    def close(self) -> None:
        self._metrics.close()


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.+" else "_" for c in name)[:200]


def check_run_folder(path: str | Path) -> Path:
    """Raise RunFolderError unless ``path`` is a run folder (config.toml and summary.json present)."""
    p = Path(path)
    if not p.is_dir():
        raise RunFolderError(f"{str(p)!r} is not a run folder (no such directory)")
    missing = [f for f in RUN_FILES if not (p / f).is_file()]
    if missing:
        raise RunFolderError(f"{str(p)!r} is not a run folder (no {' or '.join(missing)})")
    return p


def read_summary(run_dir: str | Path) -> dict:
    """summary.json of a run folder; RunFolderError naming the file when it is truncated or not JSON."""
    p = Path(run_dir) / "summary.json"
    if not p.is_file():
        return {}
    try:
        data = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunFolderError(f"{str(p)!r} is not valid JSON (truncated or edited?): {e}") from None
    if not isinstance(data, dict):
        raise RunFolderError(f"{str(p)!r}: expected a JSON object, got {type(data).__name__}")
    return data


def read_figure_data(run_dir: str | Path, name: str) -> dict | None:
    """The arrays ``data/<name>.npz`` a run saved for a figure (``RunStore.save_figure_data``); None when
    it saved none."""
    path = Path(run_dir) / "data" / f"{name}.npz"
    if not path.is_file():
        return None
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def read_metrics(run_dir: str | Path) -> list[dict]:
    """Records of metrics.jsonl; RunFolderError naming the file and line for a bad line (a partial last
    line, as a killed process may leave, is named too)."""
    p = Path(run_dir) / "metrics.jsonl"
    if not p.is_file():
        return []
    out = []
    for i, line in enumerate(p.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise RunFolderError(f"{str(p)!r} line {i} is not valid JSON (a partial line from a killed run?): "
                                 f"{e}") from None
        if isinstance(rec, dict):
            out.append(rec)
    return out


def command_line() -> str:
    args = [Path(sys.argv[0]).name if sys.argv[0].endswith("physlearning") else "physlearning"]
    return " ".join(shlex.quote(a) for a in args + sys.argv[1:])


def provenance() -> dict:
    """What produced a run: package version, git commit (when the package is in a git checkout), Python
    and JAX versions, backend and device names, host, the command line."""
    import platform
    import subprocess

    import jax

    from physlearning._version import __version__

    out = {"physlearning_version": __version__, "python_version": platform.python_version(),
           "jax_version": jax.__version__, "backend": jax.default_backend(),
           "devices": [str(d) for d in jax.devices()], "host": platform.node(),
           "command_line": command_line(), "pid": os.getpid()}
    try:
        root = Path(__file__).resolve().parents[3]
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5)
        if commit.returncode == 0:
            out["git_commit"] = commit.stdout.strip()
            dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=5)
            out["git_dirty"] = bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return out
