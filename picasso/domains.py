"""The services of Picasso, one per domain, and how each is started.

Each domain is its own Faust app (its own consumer group) in ``agents/<domain>/app.py``,
run by ``faust -A agents.<domain>.app worker``. This is the one list of them: ``make run``,
the tests and the deploy manifests derive from it.
"""

from __future__ import annotations

from picasso.numbers import whole_number
from topics import (
    COMMENTS_COMMANDS,
    NOTIFICATIONS_COMMANDS,
    PICTURES_COMMANDS,
    PURCHASES_COMMANDS,
    REACTIONS_COMMANDS,
    SOCIAL_COMMANDS,
    Topic,
)

# In the order ``make run`` starts them: the read models first, mail last.
DOMAINS: tuple[str, ...] = ("users", "uploads", "reactions", "comments", "social",
                             "purchases", "timeline", "trending", "notifications", "search",
                             "mail")


# The service that applies each topic of commands: the edge asks its consumer group how far
# it has got before sending it more (web.backlog).
APPLIED_BY: dict[Topic, str] = {
    PICTURES_COMMANDS: "uploads",
    REACTIONS_COMMANDS: "reactions",
    COMMENTS_COMMANDS: "comments",
    SOCIAL_COMMANDS: "social",
    PURCHASES_COMMANDS: "purchases",
    NOTIFICATIONS_COMMANDS: "notifications",
}


def group_id(app_id: str, domain: str) -> str:
    """A domain's service's Faust app id, which is its Kafka consumer group."""
    return f"{app_id}-{domain}"


def app_module(domain: str) -> str:
    """The module a domain's Faust app lives in, for ``faust -A``."""
    if domain not in DOMAINS:
        raise ValueError(f"there is no service {domain!r}; the services are {', '.join(DOMAINS)}")
    return f"agents.{domain}.app"


def worker_args(domain: str, data_dir: str) -> list[str]:
    """The arguments of ``faust`` that run one worker of ``domain`` (``make run``, the tests
    and the Kubernetes manifests alike): Faust's own web server off (the services answer
    probes themselves), no banner table on stdout (every log line is JSON)."""
    return ["-A", app_module(domain), "--datadir", data_dir, "--quiet", "worker", "-l", "info",
            "--without-web"]


def parse_counts(value: str) -> dict[str, int]:
    """How many workers of each domain: ``"2"`` (every domain) or ``"reactions:2,mail:1"``.

    Domains a list leaves out get one worker; ``name:0`` runs none of that domain."""
    value = value.strip()
    every = whole_number(value)
    if every is not None:
        if every < 1:
            raise ValueError(f"at least 1 worker per domain, not {value!r}")
        return dict.fromkeys(DOMAINS, every)
    counts = dict.fromkeys(DOMAINS, 1)
    for part in value.split(","):
        name, sep, number = part.strip().partition(":")
        count = whole_number(number.strip())
        if not sep or count is None:
            raise ValueError(f"{part.strip()!r} is not <domain>:<count> "
                             f"(the domains are {', '.join(DOMAINS)})")
        app_module(name.strip())  # names an unknown domain
        counts[name.strip()] = count
    return counts
