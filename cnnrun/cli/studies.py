"""Options `cnnrun sweep` and `cnnrun search` share: where the study lives, who joins it or
collects it, and how its workers start (here, or as Slurm jobs)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cnnrun.cli.common import complete_run_dir

StorageOpt = Annotated[
    str | None,
    typer.Option(
        metavar="URL",
        help="Keep the study in this Optuna storage (postgresql+psycopg://..., sqlite:///...), "
        "not a journal file in the folder.",
    ),
]
StudyOpt = Annotated[
    str | None,
    typer.Option(
        metavar="NAME", help="With --join URL or --collect URL: the study (its folder's name)."
    ),
]
HeartbeatOpt = Annotated[
    int | None,
    typer.Option(
        "--heartbeat",
        min=1,
        metavar="SECONDS",
        help="A database storage's heartbeat (default 30); a trial whose worker misses four "
        "is queued again.",
    ),
]
LauncherOpt = Annotated[
    str,
    typer.Option(
        "--launcher",
        metavar="local|slurm",
        help="Start the --jobs workers here, or as Slurm jobs (submitit; a folder the nodes see).",
    ),
]
PrintSbatchOpt = Annotated[
    bool,
    typer.Option(
        "--print-sbatch", help="Make the study and print an sbatch array of --jobs workers."
    ),
]
PartitionOpt = Annotated[
    str | None, typer.Option("--slurm-partition", metavar="NAME", help="Slurm partition.")
]
TimeOpt = Annotated[
    int, typer.Option("--slurm-time", min=1, metavar="MINUTES", help="Each job's time limit.")
]
CpusOpt = Annotated[int, typer.Option("--slurm-cpus", min=1, metavar="N", help="CPUs per job.")]
GpusOpt = Annotated[int, typer.Option("--slurm-gpus", min=0, metavar="N", help="GPUs per job.")]
MemOpt = Annotated[
    int | None, typer.Option("--slurm-mem", min=1, metavar="GB", help="Memory per job.")
]


def target_option(kind: str, help: str) -> Any:
    """`--join` or `--collect`: a folder, or a storage URL (a string, not a path)."""
    return Annotated[
        str | None,
        typer.Option(metavar=f"{kind}_DIR|URL", help=help, autocompletion=complete_run_dir),
    ]


def slurm_of(args: dict[str, Any]) -> dict[str, Any]:
    """The use case's keywords: the `slurm_*` options gathered into one `Slurm`."""
    from cnnrun.app.study.slurm import Slurm

    keys = ("partition", "time", "cpus", "gpus", "mem")
    got = {k: args.pop(f"slurm_{k}") for k in keys}
    slurm = Slurm(got["partition"], got["time"], got["cpus"], got["gpus"], got["mem"])
    return {**args, "slurm": slurm}
