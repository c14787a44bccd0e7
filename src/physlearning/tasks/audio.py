"""Free Spoken Digit Dataset (FSDD) reader and MFCC features.

Pipeline (light, no librosa): WAVs read with ``soundfile``; pre-emphasis ``x[n] - 0.97
x[n-1]``; 25 ms Hamming frames every 10 ms; power spectrum (``n_fft`` = 256 at 8 kHz);
``n_mels`` triangular mel filters (HTK mel scale ``2595 log10(1 + f / 700)``, 0 Hz to
Nyquist); ``log(energy + 1e-10)``; DCT-II (orthonormal, ``scipy.fft.dct``) keeping
``n_mfcc`` coefficients. Sequences are padded / truncated to ``max_frames`` with their
valid ``lengths`` kept.

File names are ``{digit}_{speaker}_{index}.wav``. Splits: ``recording`` = the usual one
(index 0-4 test, 5-49 train); ``speaker`` = leave one speaker out.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np

from physlearning.tasks.datasets import DataError

_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")
SAMPLE_RATE = 8000
"""FSDD is recorded at 8 kHz; the MFCC settings (``n_fft`` = 256 for a 25 ms window) assume it."""
N_MELS = 26
"""Mel filters of :func:`mfcc` in :func:`load_fsdd`: at most this many MFCCs exist."""


@dataclasses.dataclass(frozen=True)
class SpokenDigits:
    """MFCC sequences ``x`` (B, max_frames, n_mfcc), valid ``lengths`` (B,), ``digit``,
    ``speaker`` (names), ``index`` (recording index per speaker and digit)."""

    x: np.ndarray
    lengths: np.ndarray
    digit: np.ndarray
    speaker: np.ndarray
    index: np.ndarray


def mel_filterbank(n_mels: int, n_fft: int, sr: int) -> np.ndarray:
    """Triangular mel filters (n_mels, n_fft // 2 + 1), HTK mel scale."""
    mel = lambda f: 2595 * np.log10(1 + f / 700)
    inv = lambda m: 700 * (10 ** (m / 2595) - 1)
    edges = inv(np.linspace(mel(0), mel(sr / 2), n_mels + 2))
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs - lo) / (mid - lo)
    down = (hi - freqs) / (hi - mid)
    return np.maximum(0, np.minimum(up, down))


def mfcc(signal: np.ndarray, sr: int, n_mfcc: int = 13, n_mels: int = 26, win_ms: float = 25.0,
         hop_ms: float = 10.0, n_fft: int = 256) -> np.ndarray:
    """MFCCs (frames, n_mfcc) of a mono signal."""
    from scipy.fft import dct

    x = np.asarray(signal, np.float64)
    x = np.append(x[0], x[1:] - 0.97 * x[:-1])
    win = int(round(sr * win_ms / 1000))
    hop = int(round(sr * hop_ms / 1000))
    if len(x) < win:
        x = np.pad(x, (0, win - len(x)))
    n = 1 + (len(x) - win) // hop
    frames = np.lib.stride_tricks.sliding_window_view(x, win)[::hop][:n] * np.hamming(win)
    power = np.abs(np.fft.rfft(frames, n=max(n_fft, win))) ** 2 / max(n_fft, win)
    fb = mel_filterbank(n_mels, max(n_fft, win), sr)
    return dct(np.log(power @ fb.T + 1e-10), type=2, axis=1, norm="ortho")[:, :n_mfcc]


def recording_files(directory: str | Path) -> list[Path]:
    """The ``{digit}_{speaker}_{index}.wav`` files under ``directory`` (or its ``recordings/``),
    sorted. Raises :class:`DataError` for a missing directory or no such files."""
    d = Path(directory).expanduser()
    if not str(directory):
        raise DataError("fsdd: no audio directory given (set data.dir)")
    if not d.is_dir():
        raise DataError(f"fsdd: audio directory {str(d)!r} does not exist")
    if (d / "recordings").is_dir():
        d = d / "recordings"
    files = sorted(p for p in d.glob("*.wav") if _NAME.match(p.name))
    if not files:
        raise DataError(f"fsdd: no files named {{digit}}_{{speaker}}_{{index}}.wav in {str(d)!r}")
    return files


def load_fsdd(directory: str | Path, max_frames: int = 100, n_mfcc: int = 13, limit: int | None = None) -> SpokenDigits:
    """Read every ``{digit}_{speaker}_{index}.wav`` under ``directory`` (or its
    ``recordings/``) into MFCC sequences. Raises :class:`DataError` for a missing
    directory, no WAVs, or an unreadable / non-mono / non-8 kHz file (naming it)."""
    try:
        import soundfile as sf
    except ImportError as e:
        raise DataError("fsdd: reading WAVs needs soundfile; install it with pip install 'physlearning[audio]'") from e

    files = subset(recording_files(directory), limit)
    xs, lens, digits, speakers, idx = [], [], [], [], []
    for p in files:
        try:
            sig, sr = sf.read(p, dtype="float64")
        except Exception as e:  # soundfile raises LibsndfileError / RuntimeError
            raise DataError(f"fsdd: unreadable WAV file {str(p)!r}: {e}") from e
        if sig.ndim != 1 or len(sig) == 0:
            raise DataError(f"fsdd: {str(p)!r} is not a non-empty mono recording (shape {sig.shape})")
        if sr != SAMPLE_RATE:
            raise DataError(f"fsdd: {str(p)!r} is sampled at {sr} Hz; allowed: {SAMPLE_RATE} Hz (FSDD's rate, which "
                            "the MFCC window and filter settings assume); use the dataset's original files")
        if not np.all(np.isfinite(sig)):
            bad = int(np.flatnonzero(~np.isfinite(sig))[0])
            raise DataError(f"fsdd: {str(p)!r} holds non-finite audio samples (first at sample {bad}, value "
                            f"{sig[bad]!r}); allowed: finite samples")
        feats = mfcc(sig, sr, n_mfcc=n_mfcc)[:max_frames]
        pad = np.zeros((max_frames, n_mfcc))
        pad[: len(feats)] = feats
        xs.append(pad)
        lens.append(len(feats))
        m = _NAME.match(p.name)
        assert m is not None
        digits.append(int(m.group(1)))
        speakers.append(m.group(2))
        idx.append(int(m.group(3)))
    return SpokenDigits(np.stack(xs).astype(np.float32), np.array(lens), np.array(digits), np.array(speakers),
                        np.array(idx))


def subset(files: list[Path], limit: int | None) -> list[Path]:
    """The files ``load_fsdd(..., limit)`` reads: all, or a fixed random subset of ``limit`` of them
    (so that it spans digits, speakers and recording indices), in file order."""
    if not limit:
        return list(files)
    return [files[i] for i in sorted(np.random.default_rng(0).permutation(len(files))[:limit])]


def _parse(files: list[Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(digit, speaker, index) arrays from ``{digit}_{speaker}_{index}.wav`` names."""
    parts = [_NAME.match(p.name).groups() for p in files]  # type: ignore[union-attr]
    return (np.array([int(d) for d, _, _ in parts], int), np.array([s for _, s, _ in parts]),
            np.array([int(i) for _, _, i in parts], int))


def _training_problem(digits: np.ndarray, val_frac: float) -> str | None:
    """Why a training set with these digit labels cannot be split into train and a stratified
    validation share ``val_frac`` for the ridge classifier (None if it can)."""
    labels, counts = np.unique(digits, return_counts=True)
    n_val = int(np.ceil(val_frac * len(digits)))
    if len(labels) < 2 or counts.min() < 2:
        return f"training recordings per digit {dict(zip(labels.tolist(), counts.tolist()))} (need >= 2 digits, " \
               "each with >= 2 recordings)"
    if min(n_val, len(digits) - n_val) < len(labels):
        return f"{len(digits)} training recordings of {len(labels)} digits leave {n_val} for the validation " \
               f"share {val_frac:g} (need one per digit in both parts)"
    return None


def split_problem(files: list[Path], val_frac: float = 0.1, speaker_folds: bool = False) -> str | None:
    """Why these files cannot feed the FSDD experiment (None if they can): the standard split
    (index 0-4 test, 5-49 train) must have both parts, its training part must allow the
    validation split, and with ``speaker_folds`` there must be >= 2 speakers, each fold's
    training part (the other speakers) splittable too."""
    if not files:
        return "no files"
    return _split_problem(*_parse(files), val_frac, speaker_folds)


def _split_problem(digit: np.ndarray, speaker: np.ndarray, index: np.ndarray, val_frac: float,
                   speaker_folds: bool) -> str | None:
    test = index < 5
    if not test.any() or test.all():
        return (f"the standard split is empty: {int(test.sum())} test recordings (index 0-4) and "
                f"{int((~test).sum())} training recordings (index 5-49)")
    names = sorted(set(speaker.tolist()))
    if speaker_folds and len(names) < 2:
        return f"speaker_folds needs at least 2 speakers; the files hold {names}"
    if problem := _training_problem(digit[~test], val_frac):
        return f"standard split: {problem}"
    if speaker_folds:
        for name in names:
            if problem := _training_problem(digit[speaker != name], val_frac):
                return f"speaker fold {name!r}: {problem}"
    return None


def smallest_limit(files: list[Path], val_frac: float = 0.1, speaker_folds: bool = False) -> int | None:
    """The smallest ``limit`` whose :func:`subset` of ``files`` has no :func:`split_problem` (None: none)."""
    parsed = _parse(files)
    if _split_problem(*parsed, val_frac, speaker_folds) is not None:
        return None
    order = np.random.default_rng(0).permutation(len(files))  # the order in which subset() adds files
    for k in range(1, len(files) + 1):
        keep = np.sort(order[:k])
        if _split_problem(*(a[keep] for a in parsed), val_frac, speaker_folds) is None:
            return k
    return None


def recording_split(data: SpokenDigits) -> tuple[np.ndarray, np.ndarray]:
    """The usual FSDD split: boolean masks (train = index 5-49, test = index 0-4)."""
    test = data.index < 5
    return ~test, test


def speaker_split(data: SpokenDigits, speaker: str) -> tuple[np.ndarray, np.ndarray]:
    """Held-out speaker: train on the others, test on ``speaker``."""
    if speaker not in set(data.speaker.tolist()):
        raise DataError(f"fsdd: speaker {speaker!r} not found: allowed values are {sorted(set(data.speaker.tolist()))}")
    test = data.speaker == speaker
    return ~test, test
