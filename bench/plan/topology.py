"""Where each role of a cell runs, and the links between them, as typed values.

A role (the load generator, the server, the database) runs in a `Place`: `Loopback` (the
harness's own network namespace, reached over 127.0.0.1: the default) or a `Namespace` the
harness made for it. Namespaces are joined by `Link`s (veth pairs) that carry an added round
trip (netem on both ends, half each way). A later place (another machine) is one more class
in the `Place` union with an address; nothing here names a mechanism beyond that.
"""

from dataclasses import dataclass
from typing import Literal

Net = Literal["loopback", "namespaces"]
NETS: tuple[Net, ...] = ("loopback", "namespaces")
ROLES = ("client", "server", "database")
NAMESPACE_PREFIX = "pybench-"  # every namespace the harness makes, and the only ones it removes


@dataclass(frozen=True)
class Loopback:
    """The harness's own network namespace: every role there reaches the others on 127.0.0.1."""

    address: str = "127.0.0.1"

    @property
    def netns(self) -> None:
        """No namespace of its own."""
        return None


@dataclass(frozen=True)
class Namespace:
    """A network namespace the harness made for one role, and the role's address in it (where
    the others reach it)."""

    name: str
    address: str

    @property
    def netns(self) -> str:
        """The namespace's name (`ip netns`)."""
        return self.name


Place = Loopback | Namespace
HERE = Loopback()  # the default place of every role


@dataclass(frozen=True)
class Link:
    """A veth pair between two roles' namespaces: an address on each end (a /30 of its own)
    and the round trip added to it (netem delays egress only: half on each end)."""

    name: str  # "http" (client-server) or "db" (server-database)
    a: Namespace
    b: Namespace
    rtt_ms: float = 0.0

    @property
    def one_way_ms(self) -> float:
        """The delay netem adds on each end."""
        return self.rtt_ms / 2


@dataclass(frozen=True)
class Topology:
    """Where the client, the server and the database run, and the links between them."""

    client: Place
    server: Place
    database: Place
    links: tuple[Link, ...] = ()

    @property
    def namespaces(self) -> list[Namespace]:
        """The namespaces the harness must make, one per role placed in one (in role order)."""
        places = (self.client, self.server, self.database)
        return [p for p in places if isinstance(p, Namespace)]

    def link(self, name: str) -> Link:
        """The link called `name` ("http" or "db")."""
        return next(link for link in self.links if link.name == name)

    def delayed(self, db_rtt_ms: float, http_rtt_ms: float) -> "Topology":
        """The same places with these round trips on the database and client links."""
        rtt = {"db": db_rtt_ms, "http": http_rtt_ms}
        links = tuple(Link(k.name, k.a, k.b, rtt[k.name]) for k in self.links)
        return Topology(self.client, self.server, self.database, links)


LOOPBACK = Topology(HERE, HERE, HERE)


def namespaces(tag: str) -> Topology:
    """Three namespaces named pybench-TAG-client, -server, -database: the client and the
    server share one /30, the server and the database another; no other route exists."""
    names = {role: f"{NAMESPACE_PREFIX}{tag}-{role}" for role in ROLES}
    client = Namespace(names["client"], "10.201.0.1")
    server_http = Namespace(names["server"], "10.201.0.2")  # where the client reaches it
    server_db = Namespace(names["server"], "10.201.0.5")  # its end of the database link
    database = Namespace(names["database"], "10.201.0.6")
    links = (Link("http", client, server_http), Link("db", server_db, database))
    return Topology(client, server_http, database, links)


def pool_bound_rps(connections: int, rtt_ms: float, service_ms: float) -> float:
    """The most queries per second `connections` can carry when each waits a round trip of
    `rtt_ms` plus the query's own time `service_ms`: connections / (rtt + service)."""
    return connections * 1000.0 / (rtt_ms + service_ms)
