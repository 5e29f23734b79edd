"""`cnnrun sweep`: variants x seeds; `--print-commands`, `--resume`, `--collect`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from cnnrun.cli.common import (
    ConfigArg,
    JobsOpt,
    Output,
    RunsDirOpt,
    SetOpt,
    complete_run_dir,
    emit_json,
    output_options,
    path_option,
)
from cnnrun.cli.studies import (
    CpusOpt,
    GpusOpt,
    HeartbeatOpt,
    LauncherOpt,
    MemOpt,
    PartitionOpt,
    PrintSbatchOpt,
    StorageOpt,
    StudyOpt,
    TimeOpt,
    slurm_of,
    target_option,
)

GridOpt = Annotated[
    list[str] | None,
    typer.Option(
        metavar="KEY=V1,V2", help="Sweep KEY over these values (repeatable: all combinations)."
    ),
]
SeedsOpt = Annotated[
    int | None,
    typer.Option(min=1, metavar="N", help="Runs per variant (default: sweep.seeds or 1)."),
]
NameOpt = Annotated[str | None, typer.Option(metavar="NAME", help="Sweep name.")]
PrintOpt = Annotated[
    bool, typer.Option("--print-commands", help="Make the sweep folder, print its commands.")
]
SweepDirOpt = path_option("SWEEP_DIR", "An existing sweep folder.", complete_run_dir)
JoinOpt = target_option("SWEEP", "Add a worker to this sweep: its folder, or its study's URL.")
CollectOpt = target_option("SWEEP", "Gather this sweep's results (its folder, or its study's URL).")


def _fmt(mean: float | None, std: float | None) -> str:
    if mean is None or not math.isfinite(mean):
        return "-"
    return f"{mean:.4f} ± {std:.4f}" if std is not None and math.isfinite(std) else f"{mean:.4f}"


def _show(results: dict, figure: Path | None, out: Any) -> None:
    from rich import box
    from rich.table import Table

    variants = results.get("variants", [])
    monitor = next((v["monitor"] for v in variants if v["monitor"]), "best")
    score = results.get("score") or "score"
    table = Table(box=box.SIMPLE_HEAD if out.is_terminal else None, pad_edge=False)
    for col in ("variant", "seeds", f"best {monitor}", score, "verdicts"):
        table.add_column(col, justify="right" if col == "seeds" else "left")
    for v in variants:
        verdicts = ", ".join(f"{k} x{n}" for k, n in sorted(v["verdicts"].items()))
        table.add_row(
            v["variant"],
            f"{v['seeds_done']}/{v['seeds_planned']}",
            _fmt(v["best_mean"], v["best_std"]),
            _fmt(v["score_mean"], v["score_std"]),
            verdicts or "-",
        )
    out.print(table)
    out.print(f"mean ± std over seeds; significance: {results['test']}", markup=False)
    comparisons = [c for c in results.get("comparisons", []) if c["p"] is not None]
    sig = [c for c in comparisons if c["significant"]]
    # Shown apart: below 0.05 on its own, but not once corrected for the number of pairs.
    hint = [c for c in comparisons if not c["significant"] and c["p"] < 0.05]
    if not comparisons:
        out.print("no comparison: it takes two variants with 2 or more seeds each", markup=False)
    elif not sig:
        out.print(
            f"no two variants differ by more than the seed noise ({len(comparisons)} pairs)",
            markup=False,
        )
    for title, group in (
        ("differ by more than the seed noise:", sig),
        (
            f"p < 0.05 before, not after, the correction for {len(comparisons)} pairs "
            "(more seeds would tell):",
            hint,
        ),
    ):
        if group:
            out.print(title, markup=False)
        for c in group:
            better, worse = (c["a"], c["b"]) if c["difference"] > 0 else (c["b"], c["a"])
            out.print(
                f"  {better} > {worse} on {score} by {abs(c['difference']):.4f} (p = {c['p']:.2g})",
                markup=False,
            )
    if figure:
        out.print(f"curves: {figure}", markup=False)


def _render(outcome: Any, json_: bool, quiet: bool, out: Any) -> None:
    """The commands to run, or the results as JSON or a table, and how to finish."""
    from cnnrun.cli.reporters import unfinished

    for line in outcome.commands:
        print(line)
    if json_ and not outcome.commands:
        figure = str(outcome.figure) if outcome.figure else None
        emit_json(
            {
                "sweep_dir": str(outcome.sweep_dir),
                "complete": outcome.complete,
                "figure": figure,
                **outcome.results,
            }
        )
    elif not quiet and outcome.results:
        _show(outcome.results, outcome.figure, out)
    unfinished(outcome, quiet, out, f"finish it with: cnnrun sweep --resume {outcome.sweep_dir}")


@output_options("json", "quiet", "debug")
def sweep(
    opts: Output,
    config: ConfigArg = None,
    resume: SweepDirOpt = None,
    join: JoinOpt = None,
    collect: CollectOpt = None,
    study: StudyOpt = None,
    grid: GridOpt = None,
    seeds: SeedsOpt = None,
    jobs: JobsOpt = 1,
    overrides: SetOpt = None,
    runs_dir: RunsDirOpt = Path("runs"),
    name: NameOpt = None,
    print_commands: PrintOpt = False,
    storage: StorageOpt = None,
    heartbeat_s: HeartbeatOpt = None,
    launch: LauncherOpt = "local",
    slurm_partition: PartitionOpt = None,
    slurm_time: TimeOpt = 60,
    slurm_cpus: CpusOpt = 2,
    slurm_gpus: GpusOpt = 0,
    slurm_mem: MemOpt = None,
    print_sbatch: PrintSbatchOpt = False,
) -> int:
    """Train every variant of a config at several seeds.

    Compares the variants over the seed noise: mean and spread per variant, and which
    differences are larger than the seeds' own (Welch's t-test, Holm-corrected).
    `--resume SWEEP_DIR` finishes the runs not completed; `--join SWEEP_DIR|URL` adds a
    worker (from another machine: one sharing the folder, or any with the study's storage
    URL); `--launcher slurm` starts the --jobs workers as Slurm jobs; `--collect` gathers it.
    """
    from cnnrun.app.sweep.run import sweep as run_sweep
    from cnnrun.cli.reporters import for_workers

    out, reporter, say = for_workers(opts.json, opts.quiet)
    outcome = run_sweep(**slurm_of(opts.args), reporter=reporter, say=say)
    if outcome.sbatch is not None:
        print(outcome.sbatch, end="")
        return outcome.code
    _render(outcome, opts.json, opts.quiet, out)
    return outcome.code
