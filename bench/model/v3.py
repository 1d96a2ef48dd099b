"""Migration of schema_version 3 files to version 4.

Version 4 adds the cell parameter `host_check` (absent when on) and a counted variant's
`reported` /health answer. A version 3 file has neither: every server it measured checked the
Host header (all did from 2963a85, 2026-12-02, on), which the absent parameter already says,
and its counts were not read back. Nothing else changed.
"""

from typing import Any


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """The version 4 form of a version 3 document."""
    return dict(data, schema_version=4)
