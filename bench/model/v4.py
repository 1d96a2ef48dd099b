"""Migration of schema_version 4 files to version 5.

Version 5 adds only optional fields (a counted life's `database`, a counted cell's
`database_command` and `database_error`, from `--count-database`), absent from a version 4
file: its data is unchanged but for the version.
"""

from typing import Any


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """The version 5 form of a version 4 document."""
    return dict(data, schema_version=5)
