"""The counted part of results.json (`run --count`): each variant's server instructions per
request under valgrind's callgrind, one count per server life."""

from typing import Any

from pydantic import Field, computed_field

from bench.model.base import Model
from bench.model.plan import Params, cell_id


class Count(Model):
    """One server life's counted window: what callgrind counted while it was switched on."""

    instructions: int = Field(description="instructions of the server's window (`totals:`)")
    requests: int = Field(description="good (2xx) requests answered in the window")
    wall_s: float | None = Field(None, description="the life's wall time, start to dump")
    functions: dict[str, int] = Field(  # absent from the file when empty
        {},
        description="the window's costliest functions by their own instructions (callgrind_"
        "annotate): 'function (object file)' -> instructions",
        exclude_if=lambda v: not v,
    )

    life: int | None = Field(
        None,
        description="which life of its variant, from 1: an A/B run counts a head's life k and "
        "its baseline's life k one after the other in one lane (a pair)",
    )
    cpus: str | None = Field(None, description="the server's Cpus_allowed_list in this life")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def per_request(self) -> float:
        """Server instructions per request."""
        return self.instructions / self.requests


class Counted(Model):
    """A variant's server instructions per request under valgrind (callgrind), at one
    connection: each life a fresh server, counting switched on after a warm-up and off after
    the load, so only the measured window counts (`--count`)."""

    variant: str
    params: Params = Field(description="the cell it was counted under (concurrency 1)")
    valgrind: str = Field(description="`valgrind --version`: a new valgrind can change counts")
    command: list[str] = Field(
        [], description="the server's command under valgrind (its last life's)"
    )
    oha_command: list[str] = Field([], description="the counted window's load")
    warmup_requests: int = Field(description="requests before counting was switched on")
    lives: list[Count] = Field([], description="one count per server life, in order")
    reported: dict[str, Any] = Field(  # absent from the file when empty
        {},
        description="what the server says in GET /health, its last life's (each life's is "
        "checked against `params`: runtime, driver, pool, host check)",
        exclude_if=lambda v: not v,
    )
    cpus: dict[str, str] = Field({}, description="role -> Cpus_allowed_list read from /proc")
    artifacts: dict[str, str] = Field({}, description="name -> path relative to the run folder")
    error: str | None = Field(None, description="why it could not be counted (valgrind's words)")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def id(self) -> str:
        """The id of the cell it was counted under."""
        return cell_id(self.variant, self.params)
