"""A search's Optuna journal (`study.journal`), checked before any process writes to it.

Optuna's journal is one JSON record per line, appended. A crash mid-write leaves a torn last
line: Optuna still reads the file (a live worker may be writing that line), but a record
appended after it makes the file unreadable from then on, every finished trial with it. So
before a search resumes or a worker joins:

- a torn or garbage *last* line, with no worker alive, is cut off after a copy of the whole
  file is kept beside it (`study.journal.torn-K`): the journal ends at its last complete
  record, and no finished trial is lost;
- a garbage line *before* complete records is refused, naming the file and the line: the
  records after it cannot be trusted in order, and guessing would risk running a trial
  twice.

Example:
    >>> from pathlib import Path; import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "study.journal"
    >>> _ = path.write_bytes(b'{"op_code": 0}\\n{"op_co')
    >>> repair(path).name, path.read_bytes()
    ('study.journal.torn-1', b'{"op_code": 0}\\n')
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from cnnrun.errors import Problem, UserError


def _bad_line(data: bytes) -> tuple[int, int] | None:
    """(1-based line number, byte offset) of the first line that is not a JSON record."""
    offset = 0
    for number, line in enumerate(data.split(b"\n"), start=1):
        end = offset + len(line)
        if line.strip():
            try:
                json.loads(line)
            except ValueError:
                return number, offset
        offset = end + 1
    return None


def check(path: Path) -> tuple[int, int] | None:
    """Refuse a journal with a garbage line before complete records; return where a torn
    last line starts (line number, byte offset), or None when every line is whole."""
    if not path.is_file():
        return None
    data = path.read_bytes()
    bad = _bad_line(data)
    if bad is None:
        return None
    number, offset = bad
    if data[offset:].rstrip(b"\n").count(b"\n"):  # complete records follow the bad line
        raise UserError(
            Problem(
                f"line {number} of the study's journal is not a JSON record, and records "
                "follow it: the study cannot be read in order",
                file=str(path),
                hint="restore the journal from a copy (a study.journal.torn-K beside it, if "
                "any), or start the search again",
            )
        )
    return bad


def repair(path: Path) -> Path | None:
    """Cut a torn last line off the journal, keeping a copy of the whole file first; the
    copy's path, or None when there was nothing to repair. Call only when no worker is
    alive (under the search's lock): a live one may be writing that line."""
    torn = check(path)
    if torn is None:
        return None
    k = 1
    while (copy := path.with_name(f"{path.name}.torn-{k}")).exists():
        k += 1
    shutil.copy2(path, copy)
    with open(path, "r+b") as f:
        f.truncate(torn[1])
    return copy
