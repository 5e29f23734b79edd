"""Modern CNN training: residual and separable networks end to end, learning-rate schedules,
label smoothing, class weights, and the precision policy."""

from __future__ import annotations

import csv
import json
import signal
from pathlib import Path

import h5py
import numpy as np
import pytest
from test_robustness import _start, assert_same_run, only_run

RESNET = """\
name: res
seed: 5
deterministic: true
data: {{source: digits}}
model:
  layers:
    - conv2d: {{filters: 4, padding: same, use_bias: false, activation: linear}}
    - batchnorm: {{}}
    - activation: relu
    - residual:
        layers:
          - conv2d: {{filters: 4, padding: same, use_bias: false, activation: linear}}
          - batchnorm: {{}}
          - activation: relu
          - conv2d: {{filters: 4, padding: same, use_bias: false, activation: linear}}
          - batchnorm: {{}}
    - residual:
        shortcut: projection
        layers:
          - separableconv2d: {{filters: 8, strides: 2, padding: same, activation: linear}}
          - batchnorm: {{}}
          - activation: relu
          - depthwiseconv2d: {{padding: same}}
    - globalavgpool2d
    - dense: {{units: 10, activation: softmax}}
train:
  epochs: {epochs}
  batch_size: 64
  precision: float32
  optimizer: {{name: sgd, learning_rate: 0.05, momentum: 0.9, nesterov: true, clipnorm: 1.0}}
  lr_schedule: {{name: cosine, warmup_epochs: 1}}
{extra}"""


def resnet_config(tmp_path: Path, epochs: int = 3, extra: str = "") -> Path:
    path = tmp_path / "res.yaml"
    path.write_text(RESNET.format(epochs=epochs, extra=extra))
    return path


def history(run: Path) -> list[dict]:
    with open(run / "history.csv") as f:
        return list(csv.DictReader(f))


def test_residual_separable_network_validates_trains_predicts_and_resumes(cli, tmp_path):
    cfg = resnet_config(tmp_path, epochs=2)
    r = cli("validate", cfg, "--json")
    assert r.code == 0, r.stderr
    (doc,) = json.loads(r.stdout)["results"]
    rows = [(row["kind"], row["depth"]) for row in doc["layers"]]
    assert ("residual", 0) in rows and ("separableconv2d", 1) in rows
    r = cli("train", cfg, "--runs-dir", tmp_path / "runs", "--quiet")
    assert r.code == 0, r.stderr
    run = only_run(tmp_path / "runs")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["params"]["total"] == doc["total_params"]
    assert summary["batchnorm"]["layers"] == 4  # the batchnorms inside the blocks too
    r = cli("predict", "--run", run, "digits:test", "--format", "json")
    assert r.code == 0, r.stderr
    assert len(json.loads(r.stdout)["predictions"]) == 359
    r = cli("train", "--resume", run, "--epochs", "3", "--quiet")
    assert r.code == 0, r.stderr
    assert len(history(run)) == 3


def test_cosine_schedule_resumed_midway_equals_the_uninterrupted_run(cli, tmp_path):
    cfg = resnet_config(tmp_path, epochs=4)
    assert cli("train", cfg, "--runs-dir", tmp_path / "ref", "--quiet").code == 0
    reference = only_run(tmp_path / "ref")
    lrs = [float(row["lr"]) for row in history(reference)]
    assert lrs[0] == pytest.approx(0.05) and lrs[1] > lrs[2] > lrs[3] == pytest.approx(0.0)
    proc = _start(cfg, tmp_path / "runs")
    for line in proc.stdout:  # plain mode: one line per epoch
        if line.startswith("epoch 2/"):
            break
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    run = only_run(tmp_path / "runs")
    assert json.loads((run / "summary.json").read_text())["epochs_run"] < 4
    r = cli("train", "--resume", run, "--quiet")
    assert r.code == 0, r.stderr
    assert_same_run(reference, run)


def test_step_and_exponential_schedules_per_epoch(cli, tiny_config, tmp_path):
    for schedule, expect in (
        ("{name: step, step_epochs: 2, factor: 0.5}", [1e-3, 5e-4, 5e-4]),
        ("{name: exponential, decay_rate: 0.5}", [5e-4, 2.5e-4, 1.25e-4]),
    ):
        runs = tmp_path / schedule.split(",")[0][7:]
        r = cli(
            "train",
            tiny_config(3),
            "--runs-dir",
            runs,
            "--quiet",
            "--set",
            f"train.lr_schedule={schedule}",
        )
        assert r.code == 0, r.stderr
        assert [float(row["lr"]) for row in history(only_run(runs))] == pytest.approx(expect)


def test_sparse_label_smoothing_equals_one_hot_categorical():
    import keras

    from cnnrun.engine.model import SparseSmoothedCrossentropy

    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 16)
    p = rng.dirichlet(np.ones(5), 16).astype("float32")
    logits = rng.normal(size=(16, 5)).astype("float32")
    for smoothing in (0.0, 0.1, 0.3):
        onehot = keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)
        assert float(SparseSmoothedCrossentropy(smoothing)(y, p)) == pytest.approx(
            float(onehot(np.eye(5)[y], p)), rel=1e-6
        )
        onehot = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=smoothing)
        assert float(SparseSmoothedCrossentropy(smoothing, True)(y, logits)) == pytest.approx(
            float(onehot(np.eye(5)[y], logits)), rel=1e-6
        )


def test_class_weights_balanced_by_mapping_and_refused_for_unknown_classes(cli, tiny_config):
    from cnnrun.data.splits import class_weights

    y = np.array([0, 0, 0, 1])
    assert class_weights("balanced", ["a", "b"], y) == pytest.approx([4 / 6, 2.0])
    assert class_weights({"b": 3.0, 0: 0.5}, ["a", "b"], y) == pytest.approx([0.5, 3.0])
    r = cli("validate", tiny_config(1), "--set", "train.class_weight={cat: 2}")
    assert r.code == 2
    assert "train.class_weight.cat: no class 'cat' in the data" in r.stderr
    r = cli(
        "train",
        tiny_config(1),
        "--quiet",
        "--set",
        "train.class_weight=balanced",
        "--runs-dir",
        tiny_config(1).parent / "runs",
    )
    assert r.code == 0, r.stderr


@pytest.mark.parametrize(
    "flags, gpus, distribute, expected",
    [
        ({"avx2", "fma"}, [], "none", "float32"),
        ({"avx512f", "avx512_bf16"}, [], "none", "float32"),
        ({"avx512_bf16", "amx_bf16", "amx_tile"}, [], "none", "mixed_bfloat16"),
        ({"amx_bf16"}, [(9, 0)], "none", "mixed_float16"),
        (set(), [(6, 1)], "mirrored", "float32"),
        (set(), [(8, 0)], "multi_worker", "float32"),
    ],
)
def test_auto_precision_rule(flags, gpus, distribute, expected):
    from cnnrun.engine.precision import choose

    policy, reason = choose("auto", flags, gpus, distribute)
    assert policy == expected and reason
    assert choose("mixed_bfloat16", flags, gpus, distribute)[0] == "mixed_bfloat16"


def test_mixed_bfloat16_trains_records_and_predicts_in_float32(cli, tiny_config, tmp_path):
    cfg = tiny_config(1)
    r = cli(
        "train", cfg, "--runs-dir", tmp_path / "runs", "--set", "train.precision=mixed_bfloat16"
    )
    assert r.code == 0, r.stderr
    assert "precision: mixed_bfloat16 (set in the config)" in r.stdout
    run = only_run(tmp_path / "runs")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["precision"]["policy"] == "mixed_bfloat16"
    from cnnrun.engine.predict import load_model
    from cnnrun.runs.weights import read_metadata

    assert read_metadata(run / "best.weights.h5")["precision"] == "mixed_bfloat16"
    with h5py.File(run / "best.weights.h5") as f:  # mixed policies keep float32 weights
        dtypes = set()
        f.visititems(lambda k, v: dtypes.add(v.dtype) if isinstance(v, h5py.Dataset) else None)
    assert dtypes == {np.dtype("float32")}
    model, _ = load_model(run / "best.weights.h5")
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    r = cli("train", "--resume", run, "--epochs", "2", "--quiet")
    assert r.code == 0, r.stderr
    summary = json.loads((run / "summary.json").read_text())
    assert summary["precision"]["policy"] == "mixed_bfloat16"


def test_float16_under_multi_worker_is_refused(cli, tiny_config):
    r = cli(
        "validate",
        tiny_config(1),
        "--set",
        "train.precision=mixed_float16",
        "--set",
        "distribute=multi_worker",
    )
    assert r.code == 2 and "train.precision: multi_worker training has no loss scaling" in r.stderr
