"""The operator's commands every service's Faust app has (besides ``lag`` and ``resend``)::

    faust -A agents.<domain>.app deadletters [filters] [--json]
    faust -A agents.<domain>.app deadletters-replay [filters] [--dry-run]
    faust -A agents.<domain>.app rebuild <read model> [--dry-run] [--settle S]
    faust -A agents.<domain>.app topics-create [topic ...] [--partitions N]
                                               [--replication R] [--dry-run]
    faust -A agents.<domain>.app topics-describe [topic ...]
    faust -A agents.<domain>.app consumer-lag [--group G ...] [--every-service]

Each prints what it did (or, with ``--dry-run``, would do) and exits 0, or 1 when it could
not do all of it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from faust.cli import argument, option

from picasso.domains import DOMAINS, group_id
from picasso.mongo import connect
from picasso.ops import deadletters as letters_ops
from picasso.ops import rebuild as rebuild_ops
from picasso.ops import topics as topic_ops
from topics import ALL_TOPICS, DEADLETTER
from topics.envelope import utc_now

if TYPE_CHECKING:
    from picasso.service import Command, Service


def _choice_options(func):
    """The options that choose dead letters, shared by listing and replaying."""
    for decorate in reversed((
        option("--id", "ids", multiple=True,
               help="A letter's id, <topic>/<partition>/<offset> (repeatable)."),
        option("--type", "types", multiple=True,
               help="The original message's type, e.g. AddComment (repeatable)."),
        option("--reason", default=None, help="Part of the reason (any case)."),
        option("--topic", "topic_names", multiple=True,
               help="The topic the message came from, base or full name (repeatable)."),
        option("--agent", "agents", multiple=True,
               help="The agent that dead-lettered it (repeatable)."),
        option("--since", default=None, help="Dead-lettered at or after this RFC 3339 time."),
        option("--until", default=None, help="Dead-lettered at or before this RFC 3339 time."),
        option("--within", type=float, default=None,
               help="Dead-lettered in the last this many seconds."),
        option("--all", "every", is_flag=True, default=False,
               help="Letters of every service (default: of topics this service consumes)."),
    )):
        func = decorate(func)
    return func


def define(service: Service, base: type[Command]) -> None:
    """Add the commands to ``service``'s Faust app."""
    app, settings = service.app, service.settings
    prefix = settings.topic_prefix

    def choice(ids, types, reason, topic_names, agents, since, until, within,
               every) -> letters_ops.Choice:
        full = tuple(t.name(prefix) for t in topic_ops.contract_topics(topic_names, prefix)) \
            if topic_names else ()
        if within is not None:
            since = max(since or "", rebuild_ops.since_seconds(within))
        own = set(service.consumed_topics())
        return letters_ops.Choice(
            ids=tuple(ids), types=tuple(types), reason=reason, topics=full,
            agents=tuple(agents), since=since, until=until,
            extra=None if every else (lambda letter: letter.data.get("topic") in own))

    async def chosen(**filters) -> list[letters_ops.Letter] | None:
        """The chosen letters, or None (said why) for a --topic not in the contract."""
        try:
            wanted = choice(**filters)
        except topic_ops.UnknownTopic as exc:
            print(f"deadletters: {exc}", flush=True)
            return None
        letters = await letters_ops.read(settings.kafka_bootstrap, DEADLETTER.name(prefix))
        return [letter for letter in letters if wanted(letter)]

    @app.command(_choice_options, option("--json", "as_json", is_flag=True, default=False,
                                         help="Print each letter whole, as one JSON line."),
                 base=base)
    async def deadletters(self: Command, as_json: bool, **filters) -> int:
        """List dead letters: when, the original's topic/partition/offset (the letter's
        id), the agent, the original message's type and key, and the reason."""
        letters = await chosen(**filters)
        if letters is None:
            return 2
        for letter in letters:
            print(json.dumps({"id": letter.id, "time": letter.time, **letter.data})
                  if as_json else letter.line(), flush=True)
        print(f"deadletters: {service.domain}: {len(letters)} letter(s)", flush=True)
        return 0

    @app.command(_choice_options,
                 option("--dry-run", is_flag=True, default=False,
                        help="Say what would be replayed, and from where; send nothing."),
                 base=base)
    async def deadletters_replay(self: Command, dry_run: bool, **filters) -> int:
        """Put the chosen letters' original messages back on the topics they came from,
        with their keys, once their cause is fixed. A command already applied is skipped
        by its service's inbox, so each is applied once. Needs at least one choice
        (--id, --type, --reason, --topic, --agent, --since, --until or --within).
        Exit status 1 if a letter could not be replayed (its original is past the topic's
        retention and the letter holds only an excerpt)."""
        if not any(v for k, v in filters.items() if k != "every"):
            print("deadletters-replay: choose the letters (e.g. --id or --reason); "
                  "see --help", flush=True)
            return 2
        letters = await chosen(**filters)
        if letters is None:
            return 2
        outcome = await letters_ops.replay(
            settings.kafka_bootstrap, letters, dry_run=dry_run,
            report=lambda line: print(f"deadletters-replay: {line}", flush=True))
        verb = "would replay" if dry_run else "replayed"
        print(f"deadletters-replay: {service.domain}: {verb} {len(outcome.replayed)}, "
              f"could not replay {len(outcome.refused)}", flush=True)
        return 1 if outcome.refused else 0

    @app.command(argument("name", required=False, default=None),
                 option("--dry-run", is_flag=True, default=False,
                        help="Count what the rebuild would change; write nothing."),
                 option("--settle", type=float, default=2.0,
                        help="Seconds to keep catching up after the switch."),
                 base=base)
    async def rebuild(self: Command, name: str | None, dry_run: bool, settle: float) -> int:
        """Rebuild a read model of this service from its source of truth into a fresh
        collection, and switch to it with no gap in reads. Without NAME, list them."""
        models = service.read_models
        if name not in models:
            if name is not None:
                print(f"rebuild: {service.domain} has no read model {name!r}", flush=True)
            for model in models.values():
                print(f"rebuild: {service.domain}: {model.name}: from {model.source}",
                      flush=True)
            if not models:
                print(f"rebuild: {service.domain} has no read model to rebuild", flush=True)
            return 0 if name is None else 2
        db = connect(settings)
        try:
            built = await rebuild_ops.rebuild(
                db, models[name], dry_run=dry_run, settle_s=settle,
                report=lambda line: print(f"rebuild: {line}", flush=True))
        finally:
            db.client.close()
        if built is not None:
            print(f"rebuild: {name}: done at {utc_now()}", flush=True)
        return 0

    @app.command(argument("names", nargs=-1),
                 option("--partitions", type=int, default=settings.topic_partitions,
                        help="Partitions of each topic created (default "
                             "PICASSO_TOPIC_PARTITIONS)."),
                 option("--replication", type=int, default=1,
                        help="Replicas of each partition (3 on a production cluster)."),
                 option("--dry-run", is_flag=True, default=False,
                        help="Say what would be created; create nothing."),
                 base=base)
    async def topics_create(self: Command, names: tuple[str, ...], partitions: int,
                            replication: int, dry_run: bool) -> int:
        """Create the contract's topics the broker lacks (all of them, or those named, by
        base name), under PICASSO_TOPIC_PREFIX; existing ones are left as they are."""
        try:
            chosen_topics = topic_ops.contract_topics(names, prefix)
        except topic_ops.UnknownTopic as exc:
            print(f"topics-create: {exc}", flush=True)
            return 2
        await topic_ops.create(settings.kafka_bootstrap, [t.name(prefix) for t in chosen_topics],
                            partitions, replication, dry_run=dry_run,
                            report=lambda line: print(f"topics-create: {line}", flush=True))
        return 0

    @app.command(argument("names", nargs=-1), base=base)
    async def topics_describe(self: Command, names: tuple[str, ...]) -> int:
        """Describe the contract's topics (all, or those named): each partition's leader,
        replicas, in-sync replicas and first and end offsets. Exit status 1 if one is
        missing on the broker."""
        try:
            chosen_topics = topic_ops.contract_topics(names, prefix)
        except topic_ops.UnknownTopic as exc:
            print(f"topics-describe: {exc}", flush=True)
            return 2
        described = await topic_ops.describe(settings.kafka_bootstrap,
                                          [t.name(prefix) for t in chosen_topics])
        missing = 0
        for name, parts in described.items():
            if parts is None:
                print(f"{name}: missing", flush=True)
                missing += 1
                continue
            replication = max((len(p.replicas) for p in parts), default=0)
            print(f"{name}: {len(parts)} partition(s), replication {replication}", flush=True)
            for p in parts:
                print(f"  {name}[{p.partition}] leader={p.leader} "
                      f"replicas={','.join(map(str, p.replicas))} "
                      f"isr={','.join(map(str, p.isr))} first={p.first} end={p.end}",
                      flush=True)
        return 1 if missing else 0

    @app.command(option("--group", "groups", multiple=True,
                        help="A consumer group (repeatable; default this service's)."),
                 option("--every-service", is_flag=True, default=False,
                        help="The group of every service, <PICASSO_APP_ID>-<domain>."),
                 base=base)
    async def consumer_lag(self: Command, groups: tuple[str, ...],
                           every_service: bool) -> int:
        """Print a consumer group's committed offset, end offset and lag on every
        partition: this service's group on the topics it consumes, or other groups on
        every partition of the contract's topics where they committed."""
        wanted = list(groups)
        if every_service:
            wanted += [group_id(settings.app_id, domain) for domain in DOMAINS]
        if not wanted:
            wanted = [service.group_id]
        every_topic = [t.name(prefix) for t in ALL_TOPICS]
        for group in wanted:
            own = group == service.group_id
            rows = await topic_ops.lag(settings.kafka_bootstrap, group,
                                    service.consumed_topics() if own else every_topic)
            if not own:
                rows = [r for r in rows if r.committed is not None]
            print(f"{group}: {sum(r.lag for r in rows)} message(s) behind", flush=True)
            for r in rows:
                committed = "-" if r.committed is None else r.committed
                print(f"  {r.topic}[{r.partition}] committed={committed} end={r.end} "
                      f"lag={r.lag}", flush=True)
        return 0
