"""Buckets moving to a new shard while purchases go on: a real MariaDB, a ledger that starts
on one shard, a second shard appended to its list, and half the buckets moved to it under a
steady load of purchases from two ledgers (two processes, one of them with a stale map)."""

from __future__ import annotations

import asyncio
import random
import subprocess
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from agents.purchases.ledger import (
    BUCKETS,
    Ledger,
    bucket_of,
    move_buckets,
    moves,
    parse_dsn,
    plan_moves,
)
from deploy.local.processes import faust_command
from tests.integration.test_ledger import mariadb_port, new_id, query  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(300)


def fresh_dsns(port: int, count: int) -> list[str]:
    run = uuid.uuid4().hex[:8]
    return [f"mysql://root@127.0.0.1:{port}/picasso_moves_{run}_shard{i}" for i in range(count)]


@pytest.fixture
async def grown(mariadb_port: int) -> AsyncIterator[list[str]]:  # noqa: F811
    """Two shard databases: the ledger first ran on the first alone (which so owns every
    bucket), then the operator appended the second to the list (which owns none)."""
    dsns = fresh_dsns(mariadb_port, 2)
    async with await Ledger.open(dsns[:1]) as alone:
        assert await alone.bucket_problems() == []
    yield dsns
    for dsn in dsns:
        await query(dsn, f"DROP DATABASE IF EXISTS `{parse_dsn(dsn).database}`")


async def owned_counts(ledger: Ledger) -> list[int]:
    rows = await ledger.bucket_rows()
    return [sum(1 for _, state in rows[s] if state == "owned") for s in sorted(rows)]


@dataclass
class Expected:
    """What the load did, as it should read back."""

    status: dict[str, str] = field(default_factory=dict)  # purchase id -> final status
    buyer: dict[str, str] = field(default_factory=dict)
    seller: dict[str, str] = field(default_factory=dict)
    picture: dict[str, str] = field(default_factory=dict)
    amount: dict[str, int] = field(default_factory=dict)
    during_move: int = 0


async def one_purchase(ledger: Ledger, rng: random.Random, users: list[str],
                       expected: Expected) -> None:
    """Begin, attach, then complete (and maybe refund), fail, or leave awaiting payment."""
    buyer, seller = rng.sample(users, 2)
    amount = rng.randrange(100, 5000)
    purchase = await ledger.begin_purchase(
        command_id=new_id("cmd"), purchase_id=new_id("pur"), picture_id=new_id("pic"),
        buyer_id=buyer, seller_id=seller, amount_cents=amount, currency="usd",
        idempotency_key=new_id("key"),
    )
    pid = purchase.purchase_id
    expected.buyer[pid], expected.seller[pid] = buyer, seller
    expected.picture[pid], expected.amount[pid] = purchase.picture_id, amount
    expected.status[pid] = "pending"
    intent = new_id("pi")
    await ledger.attach_payment_intent(pid, buyer, intent, f"{intent}_secret")
    expected.status[pid] = "awaiting_payment"
    roll = rng.random()
    if roll < 0.6:
        event = new_id("evt")
        assert await ledger.complete(pid, buyer, event, amount_cents=amount,
                                     payment_intent_id=intent)
        assert not await ledger.complete(pid, buyer, event)  # a redelivery changes nothing
        expected.status[pid] = "completed"
        if roll < 0.2:
            assert await ledger.refund(pid, buyer, new_id("re"), amount, "refunded_at_stripe")
            expected.status[pid] = "refunded"
    elif roll < 0.8:
        assert await ledger.fail(pid, buyer, "declined", new_id("evt"))
        expected.status[pid] = "failed"


async def test_moving_half_the_buckets_under_load_loses_and_doubles_nothing(
    grown: list[str],
) -> None:
    rng = random.Random(12)
    users = [f"user-{uuid.uuid4().hex[:10]}" for _ in range(300)]
    expected = Expected()
    async with await Ledger.open(grown) as mover, await Ledger.open(grown) as other:
        assert await owned_counts(mover) == [BUCKETS, 0]
        plan = await plan_moves(mover, 1, batch_size=128)
        assert sum(len(m.buckets) for m in plan) == BUCKETS // 2  # the fair share by default
        started, moving, done = asyncio.Event(), asyncio.Event(), asyncio.Event()

        async def worker(ledger: Ledger, seed: int) -> None:
            worker_rng = random.Random(seed)
            after = 0
            while after < 5:  # some purchases before, many during, a few after the move
                if done.is_set():
                    after += 1
                was_moving = moving.is_set() and not done.is_set()
                await one_purchase(ledger, worker_rng, users, expected)
                if len(expected.status) >= 40:
                    started.set()
                if was_moving and not done.is_set():
                    expected.during_move += 1

        async def mover_task() -> list[str]:
            await started.wait()
            said: list[str] = []
            moving.set()
            try:
                await move_buckets(mover, 1, batch_size=128, say=said.append)
            finally:
                done.set()
            return said

        # Half the load goes through a second ledger whose map was read before the move.
        results = await asyncio.gather(
            mover_task(),
            *(worker(mover if i % 2 else other, rng.randrange(1 << 30)) for i in range(8)),
        )
        said = results[0]
        assert len(said) == len(plan) and said[0].startswith("done: move 128 buckets")
        assert expected.during_move >= 20, expected.during_move

        # The map: every bucket has exactly one owner, half on each shard.
        assert await mover.bucket_problems() == []
        assert await owned_counts(mover) == [BUCKETS // 2, BUCKETS // 2]

        await check_everything_reads_back_once(other, grown, expected)
        await check_everything_reads_back_once(mover, grown, expected)


async def check_everything_reads_back_once(ledger: Ledger, dsns: list[str],
                                           expected: Expected) -> None:
    # Row by row: each purchase, payment event, sale and licence sits on exactly one shard,
    # the one owning its user's bucket, and the SQL bucket column agrees with bucket_of.
    owner = {}
    for shard in range(2):
        for (bucket,) in await query(dsns[shard], "SELECT bucket FROM ledger_buckets"):
            owner[bucket] = shard
    purchase_rows: Counter[str] = Counter()
    for shard, dsn in enumerate(dsns):
        for pid, buyer, bucket in await query(dsn, "SELECT purchase_id, buyer_id, bucket "
                                                   "FROM purchases"):
            purchase_rows[pid] += 1
            assert bucket == bucket_of(buyer) and owner[bucket] == shard
        for seller, bucket in await query(dsn, "SELECT seller_id, bucket FROM sales"):
            assert bucket == bucket_of(seller) and owner[bucket] == shard
    assert purchase_rows == Counter(set(expected.status)), "a purchase lost or doubled"
    events: Counter[str] = Counter()
    for dsn in dsns:
        events.update(r[0] for r in await query(dsn, "SELECT event_id FROM payments"))
    assert events and max(events.values()) == 1
    moved_buyers = {b for p, b in expected.buyer.items() if owner[bucket_of(b)] == 1}
    assert moved_buyers, "no buyer's rows moved"

    # Through the ledger: get, find, purchases_of, has_licence, sales_of.
    by_buyer: dict[str, list[str]] = {}
    for pid, status in expected.status.items():
        buyer = expected.buyer[pid]
        by_buyer.setdefault(buyer, []).append(pid)
        got = await ledger.get(pid, buyer)
        assert got is not None and got.status == status, (pid, got, status)
        found = await ledger.find(pid)
        assert found == got
        licensed = await ledger.has_licence(buyer, expected.picture[pid])
        assert licensed == (status == "completed")
    for buyer, pids in by_buyer.items():
        mine = [p.purchase_id for p in await ledger.purchases_of(buyer, limit=1000)]
        assert sorted(mine) == sorted(pids)
    sellers = set(expected.seller.values())
    for seller in sellers:
        sales, totals = await ledger.sales_of(seller, limit=1000)
        sold = sorted(pid for pid, s in expected.seller.items()
                      if s == seller and expected.status[pid] == "completed")
        assert sorted(s.purchase_id for s in sales) == sold
        gross = sum(expected.amount[pid] for pid in sold)
        assert [(t.sales_count, t.gross_cents) for t in totals if t.sales_count or
                t.gross_cents] == ([(len(sold), gross)] if sold else [])
    assert await ledger.reconcile_sales() == 0


async def test_an_interrupted_move_finishes_when_run_again(
    grown: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    system_env: dict[str, str],
) -> None:
    async with await Ledger.open(grown) as ledger:
        # The plan below moves the highest 64 buckets: half the buyers are in them.
        buyers = [user_in(range(BUCKETS - 64, BUCKETS)) for _ in range(20)]
        buyers += [user_in(range(BUCKETS - 64)) for _ in range(20)]
        made, awaiting = {}, []
        for i, buyer in enumerate(buyers):
            for paid in (True, False) if i % 2 else (True,):
                purchase = await ledger.begin_purchase(
                    command_id=new_id("cmd"), purchase_id=new_id("pur"),
                    picture_id=new_id("pic"), buyer_id=buyer, seller_id="seller-" + buyer,
                    amount_cents=500, currency="usd",
                )
                made[purchase.purchase_id] = buyer
                if paid:
                    assert await ledger.complete(purchase.purchase_id, buyer, new_id("evt"))
                else:
                    await ledger.attach_payment_intent(purchase.purchase_id, buyer,
                                                       new_id("pi"), "secret")
                    awaiting.append(purchase.purchase_id)

        # A dry run says the plan and changes nothing.
        plan = await move_buckets(ledger, 1, 64, batch_size=32, dry_run=True, say=print)
        out = capsys.readouterr().out.splitlines()
        assert out[-1] == "dry run: 2 moves, nothing changed" and len(plan) == 2
        assert await owned_counts(ledger) == [BUCKETS, 0]

        # The first run dies after the target committed its copy, before the source's delete.
        real_delete, calls = moves._delete, []

        async def dies_on_the_source(cur, buckets):  # noqa: ANN001, ANN202
            calls.append(buckets)
            if len(calls) == 2:
                raise RuntimeError("the mover died here")
            await real_delete(cur, buckets)

        monkeypatch.setattr(moves, "_delete", dies_on_the_source)
        with pytest.raises(RuntimeError):
            await move_buckets(ledger, 1, 64, batch_size=32, say=print)
        monkeypatch.undo()
        problems = await ledger.bucket_problems()
        assert len(problems) == 32 and all("moving" in p for p in problems)
        # Meanwhile every purchase reads back, from the target for the moved buckets, and the
        # periodic scans see each purchase once though the batch's rows are on both shards.
        for pid, buyer in made.items():
            got = await ledger.get(pid, buyer)
            assert got is not None and got.status == ("awaiting_payment" if pid in awaiting
                                                      else "completed")
        assert Counter(p.purchase_id for p in await ledger.overdue(0, 1000)) == Counter(awaiting)
        assert await ledger.reconcile_sales() == 0

        # Run again with nothing new to move: the interrupted batch is finished.
        resumed = await move_buckets(ledger, 1, 0, say=print)
        assert [m.resumed for m in resumed] == [True]
        assert await ledger.bucket_problems() == []
        assert await owned_counts(ledger) == [BUCKETS - 32, 32]
        # And the whole plan once more: 64 more buckets, and the rows of all 96 on shard 1.
        await move_buckets(ledger, 1, 64, batch_size=32, say=print)
        assert await owned_counts(ledger) == [BUCKETS - 96, 96]
        rows: Counter[str] = Counter()
        for dsn in grown:
            rows.update(r[0] for r in await query(dsn, "SELECT purchase_id FROM purchases"))
        assert rows == Counter(set(made))
        for pid, buyer in made.items():
            assert (await ledger.find(pid)).buyer_id == buyer
            assert len(await ledger.payments_of(pid, buyer)) == (pid not in awaiting)
        assert Counter(p.purchase_id for p in await ledger.overdue(0, 1000)) == Counter(awaiting)

    # The operator's view of the same, from the purchases app's command.
    shown = await asyncio.to_thread(
        subprocess.run, [*faust_command("purchases"), "ledger-buckets"],
        env={**system_env, "MYSQL_SHARDS": ",".join(grown)}, capture_output=True, text=True,
        timeout=120)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert shown.stdout.splitlines()[-2:] == [
        f"shard 0: {BUCKETS - 96} owned, 0 moving", "shard 1: 96 owned, 0 moving",
    ]


def user_in(buckets: range) -> str:
    """A fresh user id whose bucket is in ``buckets``."""
    while True:
        user = new_id("buyer")
        if bucket_of(user) in buckets:
            return user


async def test_a_fresh_deployment_seeds_bucket_mod_n_once(mariadb_port: int) -> None:  # noqa: F811
    dsns = fresh_dsns(mariadb_port, 2)
    try:
        await (await Ledger.open(dsns, migrate=False)).close()  # the databases, not the race
        first, second = await asyncio.gather(Ledger.open(dsns), Ledger.open(dsns))
        await first.close()
        await second.close()
        for shard, dsn in enumerate(dsns):
            rows = await query(dsn, "SELECT bucket, state FROM ledger_buckets ORDER BY bucket")
            assert rows == [(b, "owned") for b in range(shard, BUCKETS, 2)]
        # Removing a shard from the list is refused, not silently re-seeded.
        with pytest.raises(Exception, match="removed"):
            await Ledger.open(dsns[:1])
    finally:
        for dsn in dsns:
            await query(dsn, f"DROP DATABASE IF EXISTS `{parse_dsn(dsn).database}`")
