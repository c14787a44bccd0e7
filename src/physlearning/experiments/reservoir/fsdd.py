"""``reservoir_fsdd``: spoken digits (FSDD), MFCC features, a reservoir and a ridge classifier on the
sequence's averaged (or last) states; standard split and leave-one-speaker-out: config, run, template and
figures."""

from __future__ import annotations

import dataclasses
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from physlearning.config import ConfigError, check_memory, param, section, seed_param
from physlearning.core import Seeds
from physlearning.experiments.reservoir.sections import ReservoirCfg, _check_device, build
from physlearning.rules.ridge import fit_ridge_cv, sequence_features
from physlearning.runs import plots
from physlearning.runs.registry import Experiment
from physlearning.runs.store import read_figure_data
from physlearning.substrates.reservoirs import Reservoir, check_finite


@dataclasses.dataclass(frozen=True)
class AudioCfg:
    """FSDD directory and MFCC settings."""

    dir: str = param("", path="dir", doc="FSDD folder (holding recordings/*.wav)")
    max_frames: int = param(100, ge=1, doc="frames kept (10 ms hop)")
    n_mfcc: int = param(13, ge=1)
    limit: int = param(0, ge=0, doc="read only N files, a fixed random subset (0: all; for quick tests)")
    cmn: bool = param(True, doc="cepstral mean normalisation (subtract each recording's mean MFCC)")


@dataclasses.dataclass(frozen=True)
class FSDDConfig:
    """Config of ``reservoir_fsdd``: spoken-digit classification (FSDD, MFCC features) with a
    reservoir and a ridge classifier on the sequence's averaged (or last) states."""

    seed: int = seed_param(0, doc="seed of the reservoir's weights and the validation split")
    data: AudioCfg = section(AudioCfg)
    reservoir: ReservoirCfg = section(ReservoirCfg)
    readout_mode: str = param("mean+last", choices=("mean", "last", "mean+last"))
    alphas: list[float] = param([10.0**k for k in range(-6, 4)], gt=0, nonempty=True)
    val_frac: float = param(0.1, gt=0, lt=1, doc="validation share carved from the training set")
    speaker_folds: bool = param(True, doc="also run leave-one-speaker-out over every speaker")

    def validate(self) -> None:
        if not self.data.dir:
            raise ConfigError("data.dir = '': give the FSDD folder (for example ../shared/data/fsdd)")
        _check_device(self.reservoir)
        from physlearning.tasks import audio

        if self.data.n_mfcc > audio.N_MELS:
            raise ConfigError(f"data.n_mfcc = {self.data.n_mfcc}: allowed values are 1 to {audio.N_MELS} (the DCT of "
                              f"the {audio.N_MELS} mel-filter log energies has {audio.N_MELS} coefficients)")
        try:
            files = audio.recording_files(self.data.dir)
        except audio.DataError:
            files = []  # the pre-flight check names what is missing
        chosen = audio.subset(files, self.data.limit)
        if files and (problem := audio.split_problem(chosen, self.val_frac, self.speaker_folds)):
            if self.data.limit and len(chosen) < len(files):
                k = audio.smallest_limit(files, self.val_frac, self.speaker_folds)
                allowed = f"data.limit = 0 (all {len(files)} files)" + (f" or data.limit >= {k}" if k else "")
                raise ConfigError(f"data.limit = {self.data.limit}: the {len(chosen)} recordings it reads (a fixed "
                                  f"random subset of the {len(files)} in data.dir) do not make the splits: {problem}; "
                                  f"allowed: {allowed}")
            raise ConfigError(f"data.dir = {self.data.dir!r}: its {len(files)} recordings do not make the splits: "
                              f"{problem}" + ("; or set speaker_folds = false" if self.speaker_folds else ""))
        # memory: coupling matrix, the MFCC sequences (float64 while read, float32 copies), the states of
        # every recording (float32, concatenated from chunks of 250)
        n, rec, frames, m = self.reservoir.units, len(chosen) or 3000, self.data.max_frames, self.data.n_mfcc
        parts = {"the coupling matrix": 32.0 * n**2, "MFCC sequences": 24.0 * rec * frames * m,
                 "reservoir states": 8.0 * (rec + 250) * frames * n}
        check_memory(sum(parts.values()), f"the reservoir and the sequences of {rec} recordings", {
            "reservoir.units": n, "data.max_frames": frames, "data.n_mfcc": m, "data.limit": self.data.limit},
            parts=parts)


def _fsdd_preflight(cfg: FSDDConfig) -> None:
    from physlearning.tasks import audio

    audio.recording_files(cfg.data.dir)


def _classify(feats, labels, train, test, alphas, val_frac, seed):
    """Ridge classifier on ``train`` (validation split drawn with int ``seed``), accuracy on ``test``."""
    from physlearning.tasks.datasets import stratified_split

    idx = np.nonzero(train)[0]
    digits, counts = np.unique(labels[idx], return_counts=True)
    if len(digits) < 2 or counts.min() < 2:
        raise ConfigError(f"fsdd: training recordings per digit {dict(zip(digits.tolist(), counts.tolist()))}: every "
                          "digit read needs at least 2, and at least 2 digits are needed, for the validation split "
                          "(read more files: raise or unset data.limit)")
    tr, _, va, _ = stratified_split(idx, labels[idx], val_frac, seed)
    onehot = np.eye(10)[labels]
    readout, _ = fit_ridge_cv(feats[tr], onehot[tr], feats[va], onehot[va], tuple(alphas), score="accuracy")
    pred = readout(feats[test]).argmax(1)
    return float(np.mean(pred == labels[test])), pred, readout


def _remove_recording_mean(x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Cepstral mean normalisation: each recording's mean over its valid frames subtracted."""
    valid = np.arange(x.shape[1])[None, :] < lengths[:, None]
    return x - (x * valid[..., None]).sum(1, keepdims=True) / lengths[:, None, None]


def _sequence_states(res: Reservoir, x: np.ndarray) -> np.ndarray:
    """Reservoir states (B, T, N) of padded sequences, vmapped in chunks of 250 recordings."""
    run = eqx.filter_jit(jax.vmap(lambda s: res.states(s)))
    return np.concatenate([np.asarray(run(jnp.asarray(x[i:i + 250]))) for i in range(0, len(x), 250)])


def run_fsdd(cfg: FSDDConfig, store) -> dict:
    """MFCC -> reservoir states -> ridge classifier: test accuracy on the standard split
    (recording index 0-4 held out) and, with ``speaker_folds``, on each held-out speaker."""
    from physlearning.tasks import audio

    data = audio.load_fsdd(cfg.data.dir, cfg.data.max_frames, cfg.data.n_mfcc, cfg.data.limit or None)
    train_rec, test_rec = audio.recording_split(data)
    if not test_rec.any() or not train_rec.any():
        raise ConfigError("fsdd: the standard split is empty (need recordings with index 0-4 and 5-49)")
    if cfg.speaker_folds and len(set(data.speaker.tolist())) < 2:
        raise ConfigError(f"fsdd: speaker_folds needs at least 2 speakers; the files hold "
                          f"{sorted(set(data.speaker.tolist()))}")
    x = _remove_recording_mean(data.x, data.lengths) if cfg.data.cmn else data.x
    valid = np.arange(x.shape[1])[None, :] < data.lengths[:, None]
    frames = x[train_rec][valid[train_rec]]
    mu, sd = frames.mean(0), frames.std(0) + 1e-6
    x = (x - mu) / sd
    store.save_array("preprocess.npz", mean=mu, std=sd)  # the training frames' statistics, for load_run + predict
    seeds = Seeds(cfg.seed)
    res = fsdd_template(cfg)
    t0 = time.perf_counter()
    states = _sequence_states(res, x)
    check_finite(states, res.device)
    states_s = time.perf_counter() - t0
    feats = sequence_features(states, data.lengths, cfg.readout_mode)
    acc, pred, readout = _classify(feats, data.digit, train_rec, test_rec, cfg.alphas, cfg.val_frac,
                                   seeds.int("data.val_split.recording"))
    store.save_figure_data("confusion", y_true=data.digit[test_rec], y_pred=pred,
                           title=f"FSDD {cfg.reservoir.device} {cfg.reservoir.units}: test acc {acc:.3f}")
    store.save_checkpoint(res)
    store.save_array("readout.npz", w=readout.w, b=readout.b, alpha=readout.alpha)
    out = {"device": cfg.reservoir.device, "units": cfg.reservoir.units, "test_accuracy": acc,
           "n_train": int(train_rec.sum()), "n_test": int(test_rec.sum()), "alpha": readout.alpha,
           "states_time_s": states_s,
           "features": f"MFCC {cfg.data.n_mfcc} (25 ms Hamming / 10 ms hop, 26 mel, soundfile + numpy/scipy), "
                       f"{'per-recording mean removed, ' if cfg.data.cmn else ''}standardised; "
                       f"readout on {cfg.readout_mode} states"}
    store.log({"split": "recording", "test_accuracy": acc})
    if cfg.speaker_folds:
        accs = {}
        for spk in sorted(set(data.speaker.tolist())):
            tr, te = audio.speaker_split(data, spk)
            accs[spk] = _classify(feats, data.digit, tr, te, cfg.alphas, cfg.val_frac,
                                  seeds.int(f"data.val_split.speaker:{spk}"))[0]
            store.log({"split": f"speaker:{spk}", "test_accuracy": accs[spk]})
        vals = np.array(list(accs.values()))
        out.update(speaker_accuracy_mean=float(vals.mean()), speaker_accuracy_std=float(vals.std()),
                   speaker_accuracy=accs)
    return out


def fsdd_predict(loaded, x) -> np.ndarray:
    """Class scores (B, 10) of a reloaded ``reservoir_fsdd`` run for MFCC sequences ``x``: a list of
    (T_i, n_mfcc) arrays of any lengths (or a padded (B, T, n_mfcc) array, every frame valid), with the run's
    preprocessing (per-recording mean removal when ``data.cmn``, the training frames' standardisation from
    ``preprocess.npz``), its reservoir and its ridge readout on ``readout_mode`` features. ``argmax(1)`` is
    the predicted digit."""
    cfg = loaded.config
    seqs = [np.asarray(xi, np.float32) for xi in x]
    lengths = np.array([len(xi) for xi in seqs])
    if any(xi.ndim != 2 or xi.shape[1] != cfg.data.n_mfcc for xi in seqs):
        raise ValueError(f"x: expected MFCC sequences of shape (T, {cfg.data.n_mfcc}), got shapes "
                         f"{sorted({xi.shape for xi in seqs})}")
    t_max = max(cfg.data.max_frames, int(lengths.max()))
    pad = np.zeros((len(seqs), t_max, cfg.data.n_mfcc), np.float32)
    for i, xi in enumerate(seqs):
        pad[i, :len(xi)] = xi
    if cfg.data.cmn:
        pad = _remove_recording_mean(pad, lengths)
    with np.load(loaded.path / "preprocess.npz") as z:
        pad = (pad - z["mean"]) / z["std"]
    states = _sequence_states(loaded.model, pad)
    return loaded.readout(sequence_features(states, lengths, cfg.readout_mode))


def fsdd_template(cfg: FSDDConfig) -> Reservoir:
    """The run's reservoir (its ``device.<kind>`` stream; the checkpoint's shape). Its readout (``readout.npz``)
    takes the sequence features (``readout_mode`` over each recording's valid frames), not per-frame states."""
    r = cfg.reservoir
    return build(r, cfg.data.n_mfcc, Seeds(cfg.seed).int(f"device.{r.device}"))


def fsdd_figures(run_dir) -> list[str]:
    """confusion.png (``data/confusion.npz``: digits and predictions on the standard test split)."""
    if (d := read_figure_data(run_dir, "confusion")) is None:
        return []
    cm = np.zeros((10, 10), int)
    np.add.at(cm, (d["y_true"].astype(int), d["y_pred"].astype(int)), 1)
    return [plots.confusion(cm, run_dir / "plots" / "confusion.png", str(d["title"])).name]



EXPERIMENT = Experiment("reservoir_fsdd", FSDDConfig, run_fsdd,
                        "Spoken digits (FSDD) with a reservoir: MFCC -> reservoir -> ridge on averaged states",
                        headline=("test_accuracy", "speaker_accuracy_mean"), preflight=_fsdd_preflight,
                        template=fsdd_template, predict=fsdd_predict, figures=fsdd_figures)
