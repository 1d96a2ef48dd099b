"""The counted part of results.json (`run --count`): each variant's server instructions per
request under valgrind's callgrind, one count per server life, and with `--count-database`
the database backends' instructions per request of the same window."""

from typing import Any

from pydantic import Field, computed_field

from bench.model.base import Model
from bench.model.plan import Params, cell_id


class DatabaseCount(Model):
    """The database's share of one life's window: the Postgres backends of the server's own
    connections, each under callgrind, counting switched on and off with the server's."""

    instructions: int = Field(description="the backends' instructions in the window, summed")
    backends: int = Field(description="the server's database connections (a backend each)")
    requests: int = Field(description="good (2xx) requests answered in the window")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def per_request(self) -> float:
        """Database instructions per request."""
        return self.instructions / self.requests


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
    database: DatabaseCount | None = Field(  # absent from the file when not counted
        None,
        description="the database backends' count of the same window (--count-database)",
        exclude_if=lambda v: v is None,
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
    database_command: list[str] = Field(  # absent from the file when empty
        [],
        description="the postmaster's command under valgrind, when the database was counted",
        exclude_if=lambda v: not v,
    )
    database_error: str | None = Field(  # absent from the file when None
        None,
        description="why a life's database count is missing (the server's count stands)",
        exclude_if=lambda v: v is None,
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def id(self) -> str:
        """The id of the cell it was counted under."""
        return cell_id(self.variant, self.params)
