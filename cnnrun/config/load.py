"""Loading a config file: YAML with line numbers, `--set` overrides, validation, plain errors.

Example:
    >>> loaded = load_config("configs/digits.yaml", ["train.epochs=3"])
    >>> loaded.config.train.epochs
    3
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cnnrun.config.checks import cross_field_problems
from cnnrun.config.messages import from_pydantic_errors, show
from cnnrun.config.overrides import apply_overrides
from cnnrun.config.schema import Config
from cnnrun.errors import Problem, UserError
from cnnrun.paths import require_file

Loc = tuple[str | int, ...]


@dataclass
class LoadedConfig:
    """A validated config with what is needed to point back into its file.

    Args:
        config: the validated config.
        file: the path as the user gave it (used in messages).
        base_dir: the folder relative data paths start from (the config file's).
        lines: 1-based YAML line of every key and list item.
        overridden: locations set by `--set`.
    """

    config: Config
    file: str
    base_dir: Path
    lines: dict[Loc, int] = field(default_factory=dict)
    overridden: set[Loc] = field(default_factory=set)

    def locate(self, problem: Problem) -> Problem:
        """The problem with this config's file and the YAML line of its field filled in."""
        if problem.file:  # already about another file (a data file, say)
            return problem
        return _locate(problem, self.file, self.lines, self.overridden)


def _locate(problem: Problem, file: str, lines: dict[Loc, int], overridden: set[Loc]) -> Problem:
    loc = problem.loc
    for n in range(len(loc), -1, -1):
        if loc[:n] in overridden:
            return Problem(**{**problem.__dict__, "file": "--set"})
        if n and loc[:n] in lines:
            return Problem(**{**problem.__dict__, "file": file, "line": lines[loc[:n]]})
    return Problem(**{**problem.__dict__, "file": file})


def _marks(node: yaml.Node, loc: Loc, lines: dict[Loc, int], dups: list[Problem]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            here = (*loc, key)
            if key in seen:
                dups.append(
                    Problem(
                        f"'{key}' appears twice in the same mapping; YAML would keep only the last",
                        here,
                        line=key_node.start_mark.line + 1,
                    )
                )
            seen.add(key)
            _marks(value_node, here, lines, dups)
            lines[here] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*loc, i)] = item.start_mark.line + 1
            _marks(item, (*loc, i), lines, dups)


# Far above any real config (the largest shipped one has about 150 nodes): what a YAML file
# may hold, and what its aliases may expand it to, so that a few hundred bytes of nested
# aliases (a "billion laughs") are refused instead of exhausting memory.
MAX_CONFIG_BYTES = 1_000_000
MAX_CONFIG_NODES = 100_000


def _check_expansion(root: yaml.Node | None, file: str) -> None:
    """Refuse a YAML document whose aliases expand it beyond `MAX_CONFIG_NODES` nodes."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        if id(node) in sizes:  # an alias: the same node again, counted each time it is used
            return sizes[id(node)]
        sizes[id(node)] = 1  # a node cannot contain itself in safe YAML; guard anyway
        children: list = []
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = node.value
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_CONFIG_NODES:
                break
        sizes[id(node)] = total
        return total

    if root is not None and size(root) > MAX_CONFIG_NODES:
        raise UserError(
            Problem(
                f"expands to more than {MAX_CONFIG_NODES:,} YAML nodes through its aliases "
                "(&anchor / *alias); a config is far smaller",
                file=file,
                hint="write the values out, or use fewer nested aliases",
            )
        )


def parse_config(
    text: str, file: str, base_dir: Path, overrides: Sequence[str] = ()
) -> LoadedConfig:
    """Validate config text; see `load_config`."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        _check_expansion(node, file)
        raw = yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        what = " ".join(str(s) for s in (e.context, e.problem) if s)
        raise UserError(Problem(f"YAML syntax error: {what}", file=file, line=line)) from None
    except yaml.YAMLError as e:
        raise UserError(Problem(f"YAML syntax error: {e}", file=file)) from None
    except RecursionError:
        raise UserError(Problem("nests too deeply to be a config", file=file)) from None
    if raw is None:
        raise UserError(
            Problem(
                "the file is empty; a config needs at least data and "
                "model.layers (see configs/digits.yaml)",
                file=file,
            )
        )
    if not isinstance(raw, dict):
        raise UserError(
            Problem(
                f"expected a mapping of sections (data, model, train, ...) at "
                f"the top, got {show(raw)}",
                file=file,
                line=1,
            )
        )
    lines: dict[Loc, int] = {}
    problems: list[Problem] = []
    _marks(node, (), lines, problems)
    raw, overridden = apply_overrides(raw, overrides)

    config = None
    try:
        config = Config.model_validate(raw)
    except ValidationError as e:
        problems.extend(from_pydantic_errors(e.errors()))
    if config is not None:
        problems.extend(cross_field_problems(config))
    if problems:
        located = [_locate(p, file, lines, overridden) for p in problems]
        raise UserError(sorted(located, key=lambda p: p.line or 0))
    assert config is not None
    return LoadedConfig(config, file, base_dir, lines, overridden)


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> LoadedConfig:
    """Read, override and validate a YAML config file.

    Args:
        path: the YAML file.
        overrides: `--set KEY=VALUE` strings, applied before validation.

    Raises:
        UserError: listing every problem found, each with file, YAML line and field path.
    """
    p = require_file(Path(path), "a YAML file")
    size = p.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise UserError(
            Problem(
                f"is {size:,} bytes; a config is at most {MAX_CONFIG_BYTES:,}",
                file=str(path),
                hint="is this the config, or a data file?",
            )
        )
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(Problem("is not a UTF-8 text file", file=str(path))) from None
    except OSError as e:
        raise UserError(Problem(f"cannot read: {e.strerror}", file=str(path))) from None
    return parse_config(text, str(path), p.resolve().parent, overrides)
