"""Photo folders through the engine: every `data.cache` mode feeds the same pixels and labels
in the same order, a resumed streamed run continues that order exactly, predict sees the
pixels training saw, and a file that turns bad after the pre-flight fails the run naming it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cnnrun.config.schema import DataConfig
from cnnrun.data.images import Decode, ImageFiles
from cnnrun.data.lazy import take
from cnnrun.data.sources import load_dataset
from cnnrun.data.splits import split_dataset
from cnnrun.engine.cache import memory_cache
from cnnrun.engine.decode import decoded_splits as decoded
from tests.support import only_run, refused
from tests.support.photos import photo, photo_config, photo_folder
from tests.support.training import assert_same_run

pytestmark = pytest.mark.slow


def _stream(splits, epochs: int, first_epoch: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    from cnnrun.engine.pipeline import pipeline, steps

    p = pipeline(
        splits.x_train,
        splits.y_train,
        splits.scale,
        8,
        loss="sparse_categorical_crossentropy",
        num_classes=3,
        shuffle_seed=3,
        epochs=epochs,
        first_epoch=first_epoch,
    )
    n = epochs * steps(len(splits.y_train), 8)
    return [(x.numpy(), y.numpy()) for x, y in p.take(n)]


def test_every_cache_mode_feeds_the_same_pixels_in_the_same_order(tmp_path: Path):
    photo_folder(tmp_path / "photos", per_class=7)
    cfg = DataConfig(source="images", path="photos", image_size=16, channels=3)
    ds, cfg = load_dataset(cfg, tmp_path)
    splits = decoded(split_dataset(ds, cfg, seed=3))
    streamed = _stream(splits.cached("none", None), epochs=2)
    for mode in ("memory", "disk", "auto"):
        parts = splits.cached(mode, tmp_path / "cache", memory_cache)  # as training caches
        cached = _stream(parts, epochs=2)
        if mode == "memory":  # filled by the first epoch's batches, as they were decoded
            assert parts.x_train.ready.numpy().all() and not parts.x_val.ready.numpy().any()
            assert np.array_equal(parts.x_train.read(np.arange(3)), take(splits.x_train, [0, 1, 2]))
        assert len(cached) == len(streamed)
        for (xa, ya), (xb, yb) in zip(streamed, cached, strict=True):
            assert np.array_equal(xa, xb) and np.array_equal(ya, yb), mode
    # a stream started at epoch 1 (a resumed run) is the second epoch of the whole one
    half = len(streamed) // 2
    resumed = _stream(splits.cached("none", None), epochs=1, first_epoch=1)
    assert all(
        np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
        for a, b in zip(streamed[half:], resumed, strict=True)
    )


def test_a_resumed_streamed_run_continues_exactly(cli, tmp_path: Path):
    photo_folder(tmp_path / "photos", per_class=8)
    data = "source: images, path: photos, image_size: 16, channels: 3, cache: none"
    cfg = photo_config(tmp_path / "p.yaml", data, "deterministic: true\n")
    whole = cli("train", cfg, "--runs-dir", tmp_path / "a", "--quiet")
    assert whole.code == 0, whole.stderr
    first = cli("train", cfg, "--runs-dir", tmp_path / "b", "--set", "train.epochs=1", "--quiet")
    assert first.code == 0, first.stderr
    run_b = only_run(tmp_path / "b")
    more = cli("train", "--resume", run_b, "--epochs", "2", "--quiet")
    assert more.code == 0, more.stderr
    assert_same_run(only_run(tmp_path / "a"), run_b)


def test_predict_sees_what_training_saw_and_the_run_records_how(cli, tmp_path: Path):
    folder = photo_folder(tmp_path / "photos", per_class=6)
    (folder / "red" / "broken.jpg").write_bytes(b"")
    data = (
        "source: images, path: photos, image_size: [12, 12], channels: 3, resize: crop, "
        "interpolation: bicubic, on_bad_image: skip"
    )
    cfg = photo_config(tmp_path / "p.yaml", data)
    r = cli("train", cfg, "--runs-dir", tmp_path / "runs")
    assert r.code == 0, r.stderr
    assert "skipped 1 bad image file" in r.stdout and "cache: memory" in r.stdout
    run = only_run(tmp_path / "runs")
    summary = json.loads((run / "summary.json").read_text())["data"]
    assert summary["decode"]["resize"] == "crop"
    assert summary["decode"]["interpolation"] == "bicubic"
    assert summary["cache"]["mode"] == "memory"
    assert summary["fingerprint_kind"] == "files"
    assert [Path(s["file"]).name for s in summary["skipped"]] == ["broken.jpg"]

    import cnnrun

    files = sorted(str(p) for p in folder.rglob("0*.jpg"))
    model, meta = cnnrun.load_model(run)
    assert meta["preprocessing"]["decode"]["resize"] == "crop"
    assert meta["preprocessing"]["decode"]["decoder"].startswith("TensorFlow")
    from cnnrun.engine.decode import tensorflow_decoded

    spec = Decode((12, 12), 3, "crop", "bicubic")
    pixels = tensorflow_decoded(ImageFiles(files, spec)).read(np.arange(len(files)))
    expected = model.predict(pixels.astype("float32"), verbose=0)
    got = cnnrun.predict(run, files)
    assert got.inputs == files
    np.testing.assert_allclose(got.probabilities, expected, atol=1e-6)
    stretched = tensorflow_decoded(ImageFiles(files, Decode((12, 12), 3))).read(np.arange(6))
    assert not np.array_equal(stretched, pixels)  # the crop matters for these 20x16 photos


def test_a_file_that_turns_bad_after_the_preflight_fails_the_run_naming_it(tmp_path: Path):
    import cnnrun
    from cnnrun.errors import WorkFailed

    folder = photo_folder(tmp_path / "photos", per_class=6)
    victim = folder / "green" / "003.jpg"
    data = "source: images, path: photos, image_size: 16, channels: 3, cache: none"
    cfg = photo_config(tmp_path / "p.yaml", data)

    class Vandal:
        """Truncates one photo once the run has begun, after the pre-flight passed it."""

        def begin(self, summary) -> None:
            victim.write_bytes(victim.read_bytes()[:100])

        def epoch(self, row) -> bool:
            return False

    with pytest.raises(WorkFailed) as e:
        cnnrun.train(cfg, runs_dir=tmp_path / "runs", observers=[Vandal()])
    assert str(victim) in str(e.value) and "truncated" in str(e.value)
    run = only_run(tmp_path / "runs")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "failed" and str(victim) in summary["reason"]


def test_a_photo_folder_validates_and_refuses_bad_files_without_a_run_folder(cli, tmp_path):
    folder = photo_folder(tmp_path / "photos", per_class=3)
    (folder / "blue" / "x.jpg").write_text("not a picture")
    cfg = photo_config(tmp_path / "p.yaml", "source: images, path: photos")
    r = cli("train", cfg, "--runs-dir", tmp_path / "runs")
    refused(r, "1 of 10 image files cannot be used", "x.jpg", "not an image")
    assert not (tmp_path / "runs").exists()
    photo(0, 5, (30, 30)).save(folder / "blue" / "x.jpg")
    ok = cli("validate", cfg, "--json")
    assert ok.code == 0, ok.stderr
    assert json.loads(ok.stdout)["results"][0]["input_shape"] == [16, 20, 3]
    ds, _ = load_dataset(DataConfig(source="images", path="photos", decoder="pillow"), tmp_path)
    assert take(ds.x, [0]).shape == (1, 16, 20, 3)


def test_a_run_fingerprinted_from_its_pixels_still_resumes(cli, tmp_path: Path):
    """Runs before file fingerprints hashed every decoded pixel: they resume, other data not."""
    from cnnrun.data.splits import pixels_fingerprint

    photo_folder(tmp_path / "photos", per_class=5)
    cfg = photo_config(tmp_path / "p.yaml", "source: images, path: photos, image_size: 16")
    r = cli("train", cfg, "--runs-dir", tmp_path / "runs", "--set", "train.epochs=1", "--quiet")
    assert r.code == 0, r.stderr
    run = only_run(tmp_path / "runs")
    # as an older cnnrun wrote the run: no data.decoder (Pillow decoded), pixels fingerprinted
    config = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(config.replace("decoder: tensorflow", ""))
    old = DataConfig(source="images", path="photos", image_size=16, decoder="pillow")
    ds, _ = load_dataset(old, tmp_path)
    summary_file = run / "summary.json"
    summary = json.loads(summary_file.read_text())
    assert summary["data"]["fingerprint"] != ds.fingerprint != pixels_fingerprint(ds)
    del summary["data"]["fingerprint_kind"]
    summary["data"]["fingerprint"] = pixels_fingerprint(ds)
    summary_file.write_text(json.dumps(summary))
    again = cli("train", "--resume", run, "--epochs", "2", "--quiet")
    assert again.code == 0, again.stderr
    summary = json.loads(summary_file.read_text())
    summary["data"]["fingerprint"], summary["data"]["fingerprint_kind"] = "0" * 16, None
    summary["status"] = "interrupted"
    summary_file.write_text(json.dumps(summary))
    refused(cli("train", "--resume", run, "--epochs", "3"), "differ")
