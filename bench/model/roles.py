"""The roles of a run's processes, declared once: the server under test, its database and
the load generator (oha). The CPU plan pins each role; the results key each repeat's
resource use and each cell's CPUs by role; the report names a saturated CPU set by its roles.
"""

from typing import Literal, get_args

Role = Literal["server", "database", "loadgen"]
ROLES: tuple[Role, ...] = get_args(Role)  # in the order the report lists them
NAMES: dict[Role, str] = {"server": "server", "database": "database", "loadgen": "load generator"}
