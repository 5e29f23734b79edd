"""The `search:` section of a config: the space `cnnrun search` explores, its trial count,
metric, sampler and pruner (`cnnrun train` ignores the section).

Example:
    >>> SearchConfig.model_validate({"space": {"train.batch_size": {"choices": [32, 64]}}}).trials
    20
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, StrictBool, StrictInt, model_validator

from cnnrun.config.fields import NonNegInt, PositiveInt, Section, number


class SearchParam(Section):
    """One dimension of a search: a range `{low, high, log?, step?}` or `{choices: [...]}`."""

    low: StrictInt | float | None = None
    high: StrictInt | float | None = None
    log: StrictBool = Field(False, description="sample the range on a log scale")
    step: PositiveInt | number(gt=0) | None = Field(
        None, description="a grid of low, low+step, ..."
    )
    choices: list[Any] | None = Field(
        None, min_length=1, description="values of any YAML kind (whole layer lists too)"
    )

    @model_validator(mode="after")
    def _one_form(self) -> SearchParam:
        ranged = self.low is not None or self.high is not None
        if self.choices is not None and (ranged or self.log or self.step is not None):
            raise ValueError("give either choices or low/high, not both")
        if self.choices is None and (self.low is None or self.high is None):
            raise ValueError("expected {low: ..., high: ...} or {choices: [...]}")
        if ranged and self.low > self.high:  # type: ignore[operator]
            raise ValueError(f"low {self.low} is above high {self.high}")
        if self.log and ranged and self.low <= 0:  # type: ignore[operator]
            raise ValueError(f"a log range needs low > 0, got {self.low}")
        if self.log and self.step is not None:
            raise ValueError("a range takes log or step, not both")
        return self

    @property
    def is_int(self) -> bool:
        """An integer range: low, high (and step) all ints."""
        ends = (self.low, self.high, 1 if self.step is None else self.step)
        return self.choices is None and all(type(v) is int for v in ends)


class PrunerConfig(Section):
    name: Literal["median", "hyperband", "none"] = "median"
    startup_trials: NonNegInt = Field(
        3, description="median: trials that finish before any is pruned"
    )
    warmup_epochs: NonNegInt = Field(1, description="epochs every trial trains before pruning")


class SearchConfig(Section):
    """A hyperparameter search for `cnnrun search`; `cnnrun train` ignores this section."""

    space: dict[str, SearchParam] = Field(
        min_length=1, description="KEY: {low, high, log} or {choices: [...]} (keys as in --set)"
    )
    trials: PositiveInt = 20
    metric: str | None = Field(
        None,
        description="what each trial is judged by (its best epoch's); default: the "
        "checkpoint monitor",
    )
    direction: Literal["auto", "minimize", "maximize"] = "auto"
    sampler: Literal["tpe", "random", "grid"] = "tpe"
    pruner: PrunerConfig | Literal["median", "hyperband", "none"] = Field(
        PrunerConfig(),
        description="median | hyperband | none, or {name, startup_trials, warmup_epochs}",
    )

    @property
    def pruner_config(self) -> PrunerConfig:
        """`pruner: median` is `pruner: {name: median}`."""
        p = self.pruner
        return p if isinstance(p, PrunerConfig) else PrunerConfig(name=p)
