"""The machine a run measured on, as results.json records it in its metadata: the CPU and
the host. Every field may be missing (None): what could not be read, or an older file.
Keys this model does not name are kept, as the metadata keeps them."""

from pydantic import BaseModel, ConfigDict, Field


class _Machine(BaseModel):
    model_config = ConfigDict(extra="allow", validate_assignment=True)


class Cpu(_Machine):
    """The CPU: model, counts, frequency scaling."""

    model: str | None = Field(None, description="model name from /proc/cpuinfo")
    logical: int | None = Field(None, description="logical CPUs (hardware threads)")
    physical: int | None = Field(None, description="physical cores")
    governor: str | None = Field(None, description="cpu0's scaling governor")
    turbo: str | None = Field(None, description="on or off (None: not readable)")
    flags: list[str] | None = Field(
        None,
        description="the CPU's flags from /proc/cpuinfo, sorted: the code paths libraries "
        "pick (memcpy, hashing, JSON) follow them, and so do instruction counts",
    )

    def label(self, cpus: str = "logical CPUs") -> str:
        """'<model>, <n> <cpus>' for a report, with what could not be read said so."""
        return f"{self.model or 'unknown CPU'}, {self.logical or '?'} {cpus}"


class Host(_Machine):
    """The host: its name, OS, kernel, Python and memory."""

    hostname: str | None = None
    os: str | None = Field(None, description="PRETTY_NAME from /etc/os-release")
    kernel: str | None = None
    python: str | None = Field(None, description="the harness's Python version")
    libc: str | None = Field(None, description="the C library and its version, e.g. glibc 2.36")
    memory_gib: float | None = None
