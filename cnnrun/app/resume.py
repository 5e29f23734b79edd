"""Continuing a run in its own folder: the plan it continues with, refused (exit 2) when the
config or the data differ from the run's, unless forced."""

from __future__ import annotations

import re
from pathlib import Path

from cnnrun.analysis.compare import config_diff
from cnnrun.config.load import load_config, parse_config
from cnnrun.data.splits import Splits, pixels_fingerprint
from cnnrun.errors import Problem, UserError
from cnnrun.plan import Plan, make_plan
from cnnrun.runs.names import CONFIG
from cnnrun.runs.summary import RunSummary, read_summary


def resume_plan(
    run_dir: Path,
    config: Path | None,
    sets: list[str],
    epochs: int | None,
    force: bool,
    strict: bool,
) -> tuple[Plan, RunSummary]:
    """The plan to continue `run_dir` with, and its summary so far.

    Args:
        config: a config to continue with instead of the run's own (refused when it differs,
            unless `force`).
        sets: `--set` overrides on top of it.
        epochs: train up to this many epochs (default: the config's, or the run's if more).
    """
    if not (run_dir / CONFIG).is_file():
        raise UserError(Problem(f"is not a run folder (it has no {CONFIG})", file=str(run_dir)))
    try:
        summary = read_summary(run_dir)
    except (OSError, ValueError) as e:
        raise UserError(
            Problem(f"cannot resume: summary.json is unreadable ({e})", file=str(run_dir))
        ) from None
    text = (run_dir / CONFIG).read_text(encoding="utf-8")
    # The run's config.yaml is already resolved (data paths, input shape): validating it is
    # enough to compare against, without loading the data a second time.
    # A run from before `train.batchnorm_stats` existed trained on the moving averages; its
    # resumed epochs keep them rather than take today's default.
    # Runs from before `train.precision` trained in float32, and keep it too.
    kept = [] if "batchnorm_stats:" in text else ["train.batchnorm_stats=moving"]
    kept += [] if "precision:" in text else ["train.precision=float32"]
    # and runs of image files from before data.decoder decoded them with Pillow
    files = re.search(r"^\s*source: (images|csv)\s*$", text, re.MULTILINE)
    kept += ["data.decoder=pillow"] if files and "decoder:" not in text else []
    original = parse_config(text, str(run_dir / CONFIG), run_dir, kept).config
    loaded = (
        load_config(config, sets)
        if config
        else parse_config(text, str(run_dir / CONFIG), run_dir, [*kept, *sets])
    )
    plan = make_plan(loaded, strict=strict)
    diff = [
        d
        for d in config_diff(original.resolved(), plan.config.resolved())
        if d[0] not in ("name", "train.epochs")
    ]
    if diff and not force:
        where = f"cannot resume {run_dir}"
        problems = [
            Problem(f"{p}: the run has {a!r}, the new config {b!r}", file=where) for p, a, b in diff
        ]
        problems.append(
            Problem(
                "resuming with another config would mix two experiments in one run",
                file=where,
                hint="pass --force to resume anyway, or train a new run",
            )
        )
        raise UserError(problems)
    target = epochs or max(plan.config.train.epochs, original.train.epochs)
    train_cfg = plan.config.train.model_copy(update={"epochs": target})
    plan.config = plan.config.model_copy(update={"train": train_cfg})
    return plan, summary


def nothing_left(before: RunSummary | None, plan: Plan) -> bool:
    """Whether the run to resume is completed up to the epochs asked for."""
    return (
        before is not None
        and before.status == "completed"
        and before.epochs_run >= plan.config.train.epochs
    )


def check_data(run_dir: Path | None, before: RunSummary, splits: Splits) -> None:
    """Refuse (exit 2) data that differ from what the run trained on.

    A photo set's run from before file fingerprints hashed its pixels: only for such a run,
    and only when the file fingerprint differs, are the pixels decoded to compare.
    """
    was, fingerprint = before.data.fingerprint, splits.fingerprint
    legacy = before.data.fingerprint_kind is None and splits.dataset is not None
    if was and was != fingerprint and legacy and pixels_fingerprint(splits.dataset) == was:
        return
    if was and was != fingerprint:
        raise UserError(
            Problem(
                f"the data differs from the run's (fingerprint {fingerprint}, the run trained "
                f"on {was})",
                file=f"cannot resume {run_dir}",
                hint="pass --force to resume anyway",
            )
        )
