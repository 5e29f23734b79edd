"""A real one-node Slurm cluster for the integration tests: munged, slurmctld and slurmd from
Debian's `munge` and `slurm-wlm` packages (which `.ci/run` installs), on 127.0.0.1, every file
under one short folder, stopped by pid file after (the recipe's slurm-up.sh and slurm-down.sh,
/work/shared/recipes/slurm-postgres.md).

There is no accounting database: `sacct` is a stand-in script, first in the PATH the tests get,
that answers from `scontrol show job` (finished jobs stay there for an hour: `MinJobAge`).
submitit needs a working `sacct`, or a job that dies without a result hangs `result()`.

The daemons run as root (slurmd must; Slurm accepts root's jobs). Without root or the
binaries a test is skipped, or fails where `CNNRUN_REQUIRE_SERVERS` is set (CI), so that a
missing install step cannot pass unseen.

Example:
    ```python
    with slurm_cluster(Path(tempfile.mkdtemp(dir="/tmp"))) as env:
        subprocess.run(["sbatch", "--wrap", "true"], env={**os.environ, **env})
    ```
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

REQUIRE_ENV = "CNNRUN_REQUIRE_SERVERS"
BINARIES = ("munged", "munge", "unmunge", "slurmctld", "slurmd", "sbatch", "scontrol", "sinfo")
MUNGE_KEY = Path("/etc/munge/munge.key")  # made by the munge package
IDLE_S = 30.0  # the node is idle ~1 s after the daemons start
STOP_S = 10.0
CMD_S = 15.0  # any one Slurm or munge command
SOCKET_MAX = 100  # a unix socket's path: 108 bytes at most on Linux

# submitit's `sacct -o JobID,State,NodeList --parsable2 -j ID,...` answered from `scontrol`:
# an array task as ARRAYID_TASK, a pending array as ARRAYID_[0-1].
SACCT = r"""
echo "JobID|State|NodeList"
while [ $# -gt 0 ]; do
  case "$1" in
    -j|--jobs) shift; for id in $(echo "$1" | tr ',' ' '); do
        scontrol -o show job "$id" | awk '{
          for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = substr($i, length(kv[1]) + 2) }
          id = v["JobId"]; if (v["ArrayJobId"] != "") id = v["ArrayJobId"] "_" v["ArrayTaskId"]
          gsub(/%.*/, "", id)
          if (id ~ /_[0-9]+-/) { sub(/_/, "_[", id); id = id "]" }
          print id "|" v["JobState"] "|" v["NodeList"] }'
      done ;;
  esac
  shift
done
"""


def _unavailable(why: str) -> None:
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{why}, and {REQUIRE_ENV} is set: .ci/run installs slurm-wlm and munge")
    pytest.skip(why)


def require_slurm() -> None:
    """Skip (or fail, in CI) where this machine cannot run the cluster."""
    if os.geteuid() != 0:
        _unavailable("the Slurm tests start slurmd, which needs root")
    missing = [b for b in BINARIES if not shutil.which(b, path=f"{os.environ['PATH']}:/usr/sbin")]
    if missing:
        _unavailable(f"no {', '.join(missing)} here (Debian's slurm-wlm and munge packages)")
    if not MUNGE_KEY.is_file():
        _unavailable(f"no {MUNGE_KEY} (the munge package makes it)")


def _conf(root: Path, host: str, sock: Path, ports: tuple[int, int]) -> str:
    cpus = os.cpu_count() or 1
    return f"""\
ClusterName=cnnrun-test
SlurmctldHost={host}(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
AuthInfo=socket={sock}
CredType=cred/munge
MpiDefault=none
MailProg={shutil.which("true")}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
SlurmctldPort={ports[0]}
SlurmdPort={ports[1]}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
MinJobAge=3600
InactiveLimit=0
KillWait=5
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} SocketsPerBoard=1 CoresPerSocket={cpus} \
ThreadsPerCore=1 RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def _free_ports() -> tuple[int, int]:
    """Two free TCP ports of 127.0.0.1 (not the fixed 6817/6818: a cluster of the recipe's
    may run beside the tests)."""
    with socket.socket() as a, socket.socket() as b:
        a.bind(("127.0.0.1", 0))
        b.bind(("127.0.0.1", 0))
        return int(a.getsockname()[1]), int(b.getsockname()[1])


def logs(root: Path, lines: int = 30) -> str:
    """The last lines of each daemon's log, for a failure message."""
    out = []
    for f in sorted([*root.glob("log/*.log"), root / "munge" / "munged.log", root / "setup.log"]):
        if f.is_file():
            tail = f.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {f.name} ---\n" + "\n".join(tail))
    return "\n".join(out)


def _run(root: Path, *argv: object, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    """A command whose output goes to `setup.log`: a daemon that forks keeps no pipe open."""
    with (root / "setup.log").open("a") as log:
        log.write(f"$ {' '.join(map(str, argv))}\n")
        log.flush()
        return subprocess.run(
            [str(a) for a in argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            timeout=CMD_S,
            **kw,
        )


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie nobody reaps does not)."""
    try:
        os.kill(pid, 0)
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (ProcessLookupError, FileNotFoundError):
        return False
    except PermissionError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _stop(pid_file: Path) -> bool:
    """SIGTERM the daemon of `pid_file`, wait for it; SIGKILL after STOP_S. True if it ran."""
    if not pid_file.is_file() or not pid_file.read_text().strip():
        return False
    pid = int(pid_file.read_text().strip())
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_S
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return True


def _wait_idle(root: Path, env: dict[str, str]) -> None:
    deadline = time.monotonic() + IDLE_S
    while time.monotonic() < deadline:
        r = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True, timeout=CMD_S
        )
        if r.stdout.strip() == "idle":
            return
        time.sleep(0.25)
    pytest.fail(f"the Slurm node is not idle after {IDLE_S:.0f} s:\n{logs(root)}")


@contextmanager
def slurm_cluster(tmp: Path) -> Iterator[dict[str, str]]:
    """A one-node cluster while the block runs: yields the environment its clients need
    (`SLURM_CONF`, and `PATH` with the `sacct` stand-in first), to merge into `os.environ`.

    `tmp` must be short (the munge socket is in it) and is made readable by the daemons'
    users (munge, slurm). Every wait is bounded; a failure shows the daemons' log tails.
    """
    require_slurm()
    root = tmp.resolve()
    sock = root / "munge" / "munge.socket.2"
    if len(str(sock)) > SOCKET_MAX:
        raise ValueError(f"{root} is too long for munge's socket: take a folder under /tmp")
    for d in ("state", "spool", "log", "bin"):
        (root / d).mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # mkdtemp makes it 0700: munged and slurmctld drop root
    shutil.chown(root / "state", "slurm", "slurm")
    shutil.chown(root / "log", "slurm", "slurm")
    (root / "munge").mkdir(mode=0o755, exist_ok=True)
    shutil.chown(root / "munge", "munge", "munge")

    sacct = root / "bin" / "sacct"
    sacct.write_text(f"#!{shutil.which('sh')}{SACCT}")
    sacct.chmod(0o755)
    conf = root / "slurm.conf"
    conf.write_text(_conf(root, socket.gethostname().split(".")[0], sock, _free_ports()))
    path = f"{root / 'bin'}:{os.environ['PATH']}:/usr/sbin"
    env = {"SLURM_CONF": str(conf), "PATH": path}
    full = {**os.environ, **env}
    pid_files = [root / "slurmd.pid", root / "slurmctld.pid", root / "munge" / "munged.pid"]
    try:
        munged = [
            *("runuser", "-u", "munge", "--", "munged", f"--socket={sock}"),
            f"--pid-file={root / 'munge' / 'munged.pid'}",
            f"--log-file={root / 'munge' / 'munged.log'}",
        ]
        started = _run(root, *munged, env=full)
        # a credential made and read back: munged answers on its socket
        token = subprocess.run(
            ["munge", "-S", sock, "-n"], capture_output=True, timeout=CMD_S, env=full
        )
        check = subprocess.run(
            ["unmunge", "-S", sock], input=token.stdout, capture_output=True, timeout=CMD_S
        )
        if started.returncode or token.returncode or check.returncode:
            pytest.fail(f"munged did not start: {token.stderr!r} {check.stderr!r}\n{logs(root)}")
        for daemon in ("slurmctld", "slurmd"):
            if _run(root, daemon, env=full).returncode:
                pytest.fail(f"{daemon} did not start:\n{logs(root)}")
        _wait_idle(root, full)
        yield env
    finally:
        if (root / "slurmctld.pid").is_file():
            with suppress(subprocess.SubprocessError, OSError):
                _cancel_all(root, full)
        for f in pid_files:
            _stop(f)


def _cancel_all(root: Path, env: dict[str, str]) -> None:
    """Cancel the jobs still queued or running (a failed test's), and wait until they are
    gone, so that no job outlives the test."""
    squeue = ["squeue", "-h", "-t", "PENDING,RUNNING,COMPLETING,CONFIGURING", "-o", "%i"]
    ask = {"env": env, "capture_output": True, "text": True, "timeout": CMD_S}
    if not subprocess.run(squeue, **ask).stdout.strip():
        return
    _run(root, "scancel", "--full", f"--user={os.geteuid()}", env=env)
    deadline = time.monotonic() + STOP_S
    while subprocess.run(squeue, **ask).stdout.strip() and time.monotonic() < deadline:
        time.sleep(0.25)
