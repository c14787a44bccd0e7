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

    files = recording_files(directory)
    if limit is not None:  # a fixed random subset, so that it spans digits, speakers and recording indices
        files = [files[i] for i in sorted(np.random.default_rng(0).permutation(len(files))[:limit])]
    xs, lens, digits, speakers, idx = [], [], [], [], []
    for p in files:
        try:
            sig, sr = sf.read(p, dtype="float64")
        except Exception as e:  # soundfile raises LibsndfileError / RuntimeError
            raise DataError(f"fsdd: unreadable WAV file {str(p)!r}: {e}") from e
        if sig.ndim != 1 or len(sig) == 0:
            raise DataError(f"fsdd: {str(p)!r} is not a non-empty mono recording (shape {sig.shape})")
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
