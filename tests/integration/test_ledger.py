"""The purchases ledger against a real MariaDB, sharded over two databases of one server.

One MariaDB (the embedded stack's) serves the module; its two shard databases get names unique
to this run, and every test makes its own users, pictures and purchases.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import aiomysql
import pymysql
import pytest

from agents.purchases.ledger import (
    AlreadyOwned,
    Ledger,
    LedgerConflict,
    PurchaseNotFound,
    load_migrations,
    parse_dsn,
    parse_shards,
    shard_of,
)
from deploy.local.stack import Stack, free_ports

SHARDS = 2


@pytest.fixture(scope="module")
def mariadb_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    stack = Stack(
        tmp_path_factory.mktemp("ledger"),
        ports=free_ports(["mariadb"]),
        services=["mariadb"],
        log=lambda line: None,
    )
    with stack:
        yield stack.ports["mariadb"]


def shard_dsns(port: int, label: str) -> list[str]:
    run = uuid.uuid4().hex[:8]
    return [
        f"mysql://root@127.0.0.1:{port}/picasso_{label}_{run}_shard{i}" for i in range(SHARDS)
    ]


@pytest.fixture(scope="module")
def dsns(mariadb_port: int) -> list[str]:
    return shard_dsns(mariadb_port, "ledger")


@pytest.fixture(scope="module")
async def ledger(dsns: list[str]) -> AsyncIterator[Ledger]:
    the_ledger = await Ledger.open(dsns)
    try:
        yield the_ledger
    finally:
        await the_ledger.close()


# -- helpers -----------------------------------------------------------------------------------


async def query(dsn: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on one shard, read over a connection of its own."""
    where = parse_dsn(dsn)
    conn = await aiomysql.connect(
        host=where.host, port=where.port, user=where.user, password=where.password,
        db=where.database, autocommit=True,
    )
    try:
        async with conn.cursor() as cur:
            await cur.execute(sql, args)
            return list(await cur.fetchall())
    finally:
        conn.close()


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def user_on(shard: int, prefix: str = "user") -> str:
    """A fresh user id that routes to ``shard``."""
    while True:
        user = new_id(prefix)
        if shard_of(user, SHARDS) == shard:
            return user


async def begin(
    ledger: Ledger,
    buyer: str,
    seller: str,
    *,
    picture: str | None = None,
    amount: int = 1250,
    key: str | None = None,
    command: str | None = None,
    purchase: str | None = None,
) -> Any:
    return await ledger.begin_purchase(
        command_id=command or new_id("cmd"),
        purchase_id=purchase or new_id("pur"),
        picture_id=picture or new_id("pic"),
        buyer_id=buyer,
        seller_id=seller,
        amount_cents=amount,
        currency="usd",
        idempotency_key=key,
    )


# -- configuration and routing -----------------------------------------------------------------


def test_parse_shards_reads_the_setting() -> None:
    value = " mysql://root@127.0.0.1:3307/picasso_shard0 , mysql://u:p%40ss@db1/picasso_shard1,"
    assert parse_shards(value) == [
        "mysql://root@127.0.0.1:3307/picasso_shard0",
        "mysql://u:p%40ss@db1/picasso_shard1",
    ]
    second = parse_dsn(parse_shards(value)[1])
    assert (second.host, second.port, second.user, second.password, second.database) == (
        "db1", 3306, "u", "p@ss", "picasso_shard1",
    )
    for bad in ("", " , ", "postgres://h/db", "mysql://h/", "mysql://h/db;drop",
                "mysql://h/a,mysql://h:3306/a"):
        with pytest.raises(ValueError):
            parse_shards(bad)


def test_routing_is_stable_and_spreads_users_over_both_shards() -> None:
    # Pinned values: changing the hash would move every user's rows to another shard.
    assert shard_of("alice", 2) == 1
    assert shard_of("bob", 2) == 0
    assert shard_of("alice", 1) == 0
    assert [shard_of("carol", 7) for _ in range(3)] == [shard_of("carol", 7)] * 3
    users = [f"user-{i}" for i in range(2000)]
    on_first = sum(1 for user in users if shard_of(user, 2) == 0)
    assert 800 < on_first < 1200
    with pytest.raises(ValueError):
        shard_of("alice", 0)


async def test_ledger_routes_with_the_same_function(ledger: Ledger) -> None:
    assert ledger.shard_count == SHARDS
    for user in ("alice", "bob", new_id("u")):
        assert ledger.shard_for(user) == shard_of(user, SHARDS)
    await ledger.ping()


# -- schema ------------------------------------------------------------------------------------


async def test_migrations_run_twice_are_harmless(ledger: Ledger, dsns: list[str]) -> None:
    versions = [m.version for m in load_migrations()]
    assert versions[0] == 1
    again = await Ledger.open(dsns)  # migrates on start-up, finding nothing to do
    try:
        assert await again.migrate() == {0: [], 1: []}
    finally:
        await again.close()
    for dsn in dsns:
        rows = await query(dsn, "SELECT version FROM schema_migrations ORDER BY version")
        assert [r[0] for r in rows] == versions
        tables = {r[0] for r in await query(dsn, "SHOW TABLES")}
        assert {"purchases", "payments", "licences", "sales", "seller_totals",
                "processed_commands", "schema_migrations"} <= tables


async def test_concurrent_migrations_apply_each_version_once(mariadb_port: int) -> None:
    fresh = shard_dsns(mariadb_port, "migrate")
    first = await Ledger.open(fresh, migrate=False)
    second = await Ledger.open(fresh, migrate=False)
    try:
        results = await asyncio.gather(first.migrate(), second.migrate())
        versions = [m.version for m in load_migrations()]
        for shard in range(SHARDS):
            applied = results[0][shard] + results[1][shard]
            assert sorted(applied) == versions
        for dsn in fresh:
            rows = await query(dsn, "SELECT COUNT(*) FROM schema_migrations")
            assert rows[0][0] == len(versions)
    finally:
        await first.close()
        await second.close()
        for dsn in fresh:
            await query(dsn, f"DROP DATABASE `{parse_dsn(dsn).database}`")


# -- beginning a purchase ----------------------------------------------------------------------


async def test_begin_twice_with_the_same_command_or_key_makes_one_purchase(
    ledger: Ledger, dsns: list[str]
) -> None:
    buyer, seller, picture = new_id("buyer"), new_id("seller"), new_id("pic")
    first = await begin(ledger, buyer, seller, picture=picture, command="c1-" + buyer, key="k1")
    assert first.status == "pending"
    assert first.amount_cents == 1250 and first.currency == "usd"
    # The same command redelivered, even with a new purchase id minted by a retrying producer.
    same_command = await begin(ledger, buyer, seller, picture=picture, command="c1-" + buyer)
    # The same Idempotency-Key from a retried HTTP request: a new command, the same purchase.
    same_key = await begin(ledger, buyer, seller, picture=picture, key="k1")
    assert same_command == first
    assert same_key == first
    shard = dsns[ledger.shard_for(buyer)]
    rows = await query(shard, "SELECT COUNT(*) FROM purchases WHERE buyer_id = %s", buyer)
    assert rows[0][0] == 1
    with pytest.raises(LedgerConflict):  # a key reused for another picture
        await begin(ledger, buyer, seller, key="k1")


async def test_concurrent_begins_with_one_key_make_one_purchase(ledger: Ledger) -> None:
    buyer, seller, picture = new_id("buyer"), new_id("seller"), new_id("pic")
    results = await asyncio.gather(
        *(begin(ledger, buyer, seller, picture=picture, key="same") for _ in range(8))
    )
    assert len({p.purchase_id for p in results}) == 1
    assert len(await ledger.purchases_of(buyer)) == 1
    # One command delivered to several workers at once, each minting its own purchase id.
    buyer, command = new_id("buyer"), new_id("cmd")
    results = await asyncio.gather(
        *(begin(ledger, buyer, seller, picture=picture, command=command) for _ in range(8))
    )
    assert len({p.purchase_id for p in results}) == 1
    assert len(await ledger.purchases_of(buyer)) == 1


async def test_a_second_live_purchase_is_refused_until_the_first_fails(ledger: Ledger) -> None:
    buyer, seller, picture = new_id("buyer"), new_id("seller"), new_id("pic")
    first = await begin(ledger, buyer, seller, picture=picture)
    command = new_id("cmd")
    with pytest.raises(AlreadyOwned) as refused:
        await begin(ledger, buyer, seller, picture=picture, command=command)
    assert refused.value.purchase_id == first.purchase_id
    assert await ledger.fail(first.purchase_id, buyer, "card declined", new_id("evt"))
    with pytest.raises(AlreadyOwned):  # that command's answer does not change on redelivery
        await begin(ledger, buyer, seller, picture=picture, command=command)
    second = await begin(ledger, buyer, seller, picture=picture)
    assert second.purchase_id != first.purchase_id
    assert await ledger.complete(second.purchase_id, buyer, new_id("evt"))
    with pytest.raises(AlreadyOwned):  # bought: never again
        await begin(ledger, buyer, seller, picture=picture)
    # Another buyer, or another picture, is not affected.
    await begin(ledger, new_id("buyer"), seller, picture=picture)
    await begin(ledger, buyer, seller)


async def test_attach_payment_intent_awaits_payment(ledger: Ledger) -> None:
    buyer, seller = new_id("buyer"), new_id("seller")
    purchase = await begin(ledger, buyer, seller)
    intent = new_id("pi")
    awaiting = await ledger.attach_payment_intent(
        purchase.purchase_id, buyer, intent, f"{intent}_secret_x"
    )
    assert awaiting.status == "awaiting_payment"
    assert awaiting.payment_intent_id == intent
    assert awaiting.as_dict()["client_secret"] == f"{intent}_secret_x"
    again = await ledger.attach_payment_intent(
        purchase.purchase_id, buyer, intent, f"{intent}_secret_x"
    )
    assert again == awaiting
    assert await ledger.get(purchase.purchase_id, buyer) == awaiting
    with pytest.raises(LedgerConflict):
        await ledger.attach_payment_intent(purchase.purchase_id, buyer, new_id("pi"), "s")
    assert await ledger.complete(purchase.purchase_id, buyer, new_id("evt"),
                                 payment_intent_id=intent)
    done = await ledger.get(purchase.purchase_id, buyer)
    assert done is not None and done.status == "completed"
    assert done.client_secret is None and done.as_dict()["client_secret"] is None
    with pytest.raises(PurchaseNotFound):
        await ledger.attach_payment_intent(new_id("pur"), buyer, new_id("pi"), "s")


# -- completing --------------------------------------------------------------------------------


async def test_complete_twice_with_one_event_counts_once(
    ledger: Ledger, dsns: list[str]
) -> None:
    buyer, seller, picture = new_id("buyer"), new_id("seller"), new_id("pic")
    purchase = await begin(ledger, buyer, seller, picture=picture, amount=4999)
    event = new_id("evt")
    outcomes = await asyncio.gather(
        *(ledger.complete(purchase.purchase_id, buyer, event) for _ in range(4))
    )
    assert sorted(outcomes) == [False, False, False, True]
    assert not await ledger.complete(purchase.purchase_id, buyer, event)
    buyer_shard, seller_shard = dsns[ledger.shard_for(buyer)], dsns[ledger.shard_for(seller)]
    payments = await query(
        buyer_shard, "SELECT kind, amount_cents FROM payments WHERE purchase_id = %s",
        purchase.purchase_id,
    )
    assert payments == [("succeeded", 4999)]
    licences = await query(buyer_shard, "SELECT purchase_id FROM licences WHERE buyer_id = %s",
                           buyer)
    assert licences == [(purchase.purchase_id,)]
    sales = await query(seller_shard, "SELECT COUNT(*) FROM sales WHERE seller_id = %s", seller)
    assert sales[0][0] == 1
    _, totals = await ledger.sales_of(seller)
    assert [(t.currency, t.sales_count, t.gross_cents) for t in totals] == [("usd", 1, 4999)]
    assert await ledger.has_licence(buyer, picture)
    assert not await ledger.has_licence(buyer, new_id("pic"))
    other = new_id("pic")
    assert await ledger.licensed(buyer, [other, picture, picture]) == {picture}
    assert await ledger.licensed(seller, [picture]) == set()
    assert await ledger.licensed(buyer, []) == set()
    # Another event announcing the same money changes nothing either.
    assert not await ledger.complete(purchase.purchase_id, buyer, new_id("evt"))
    _, totals = await ledger.sales_of(seller)
    assert totals[0].sales_count == 1


async def test_buyer_and_seller_on_different_shards(ledger: Ledger, dsns: list[str]) -> None:
    buyer, seller = user_on(0, "buyer"), user_on(1, "seller")
    first = await begin(ledger, buyer, seller, amount=1000)
    second = await begin(ledger, buyer, seller, amount=250)
    assert await ledger.complete(first.purchase_id, buyer, new_id("evt"))
    assert await ledger.complete(second.purchase_id, buyer, new_id("evt"))
    on_seller = await query(dsns[1], "SELECT purchase_id FROM sales WHERE seller_id = %s", seller)
    on_buyer = await query(dsns[0], "SELECT purchase_id FROM sales WHERE seller_id = %s", seller)
    assert sorted(r[0] for r in on_seller) == sorted([first.purchase_id, second.purchase_id])
    assert on_buyer == []
    assert await query(dsns[1], "SELECT * FROM purchases WHERE buyer_id = %s", buyer) == []
    sales, totals = await ledger.sales_of(seller)
    assert [s.purchase_id for s in sales] == [second.purchase_id, first.purchase_id]
    assert sales[0].buyer_id == buyer and sales[0].amount_cents == 250
    assert [(t.sales_count, t.gross_cents) for t in totals] == [(2, 1250)]
    mine = await ledger.purchases_of(buyer)
    assert [p.purchase_id for p in mine] == [second.purchase_id, first.purchase_id]
    assert {p.status for p in mine} == {"completed"}
    flags = await query(dsns[0], "SELECT sale_recorded FROM purchases WHERE buyer_id = %s", buyer)
    assert flags == [(1,), (1,)]


async def test_a_crash_between_the_shards_is_repaired_by_completing_again(
    ledger: Ledger, dsns: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    buyer, seller = user_on(1, "buyer"), user_on(0, "seller")
    purchase = await begin(ledger, buyer, seller, amount=700)
    event = new_id("evt")

    async def crash(_purchase: Any) -> None:
        raise RuntimeError("the process died here")

    with monkeypatch.context() as patch:
        patch.setattr(ledger, "_record_sale", crash)
        with pytest.raises(RuntimeError):
            await ledger.complete(purchase.purchase_id, buyer, event)
    # The buyer's side is committed: paid, completed, licensed; the seller's side is missing.
    done = await ledger.get(purchase.purchase_id, buyer)
    assert done is not None and done.status == "completed"
    assert await ledger.has_licence(buyer, purchase.picture_id)
    assert await ledger.sales_of(seller) == ([], [])
    # The redelivered event finishes the job, once.
    assert not await ledger.complete(purchase.purchase_id, buyer, event)
    assert not await ledger.complete(purchase.purchase_id, buyer, event)
    sales, totals = await ledger.sales_of(seller)
    assert [s.purchase_id for s in sales] == [purchase.purchase_id]
    assert [(t.sales_count, t.gross_cents) for t in totals] == [(1, 700)]
    assert sales[0].completed_at == done.completed_at

    # Without a redelivery, the reconciler repairs it.
    other = await begin(ledger, buyer, seller, amount=300)
    with monkeypatch.context() as patch:
        patch.setattr(ledger, "_record_sale", crash)
        with pytest.raises(RuntimeError):
            await ledger.complete(other.purchase_id, buyer, new_id("evt"))
    assert await ledger.reconcile_sales() >= 1
    assert await ledger.reconcile_sales() == 0
    _, totals = await ledger.sales_of(seller)
    assert [(t.sales_count, t.gross_cents) for t in totals] == [(2, 1000)]


async def test_an_answer_lost_after_commit_is_retried_safely(
    ledger: Ledger, dsns: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection drops right after COMMIT reached the server: the retry must neither
    apply anything twice nor report the work as not done."""
    real = ledger._transaction
    lose_next = [True]

    @contextlib.asynccontextmanager
    async def flaky(shard: int) -> AsyncIterator[aiomysql.Cursor]:
        async with real(shard) as cur:
            yield cur
        if lose_next[0]:
            lose_next[0] = False
            raise pymysql.err.OperationalError(2013, "Lost connection to server during query")

    monkeypatch.setattr(ledger, "_transaction", flaky)
    buyer, seller = user_on(0, "buyer"), user_on(0, "seller")
    purchase = await begin(ledger, buyer, seller, amount=999)
    assert not lose_next[0]
    assert len(await ledger.purchases_of(buyer)) == 1
    lose_next[0] = True
    assert await ledger.complete(purchase.purchase_id, buyer, new_id("evt"))
    assert not lose_next[0]
    payments = await ledger.payments_of(purchase.purchase_id, buyer)
    assert [(p.kind, p.amount_cents) for p in payments] == [("succeeded", 999)]
    _, totals = await ledger.sales_of(seller)
    assert [(t.sales_count, t.gross_cents) for t in totals] == [(1, 999)]


# -- failing -----------------------------------------------------------------------------------


async def test_fail_records_the_reason(ledger: Ledger, dsns: list[str]) -> None:
    buyer, seller = new_id("buyer"), new_id("seller")
    purchase = await begin(ledger, buyer, seller)
    await ledger.attach_payment_intent(purchase.purchase_id, buyer, new_id("pi"), "secret")
    event = new_id("evt")
    assert await ledger.fail(purchase.purchase_id, buyer, "Your card was declined.", event)
    assert not await ledger.fail(purchase.purchase_id, buyer, "again", event)
    failed = await ledger.get(purchase.purchase_id, buyer)
    assert failed is not None
    assert (failed.status, failed.failure_reason) == ("failed", "Your card was declined.")
    assert failed.client_secret is None
    assert not await ledger.has_licence(buyer, purchase.picture_id)
    rows = await query(dsns[ledger.shard_for(buyer)],
                       "SELECT kind, amount_cents, note FROM payments WHERE event_id = %s", event)
    assert rows == [("failed", 0, "Your card was declined.")]
    assert await ledger.sales_of(seller) == ([], [])
    # A failure of no Stripe event (e.g. the picture was withdrawn) works too.
    other = await begin(ledger, buyer, seller)
    assert await ledger.fail(other.purchase_id, buyer, "picture is deleted")
    # A late failure event cannot undo a completed purchase.
    paid = await begin(ledger, buyer, seller)
    assert await ledger.complete(paid.purchase_id, buyer, new_id("evt"))
    assert not await ledger.fail(paid.purchase_id, buyer, "late", new_id("evt"))
    still = await ledger.get(paid.purchase_id, buyer)
    assert still is not None and still.status == "completed"


async def test_money_after_a_failure_is_never_lost(ledger: Ledger) -> None:
    buyer, seller, picture = new_id("buyer"), new_id("seller"), new_id("pic")
    # Stripe's events are unordered: success after a failed attempt revives the purchase.
    first = await begin(ledger, buyer, seller, picture=picture)
    await ledger.fail(first.purchase_id, buyer, "declined", new_id("evt"))
    assert await ledger.complete(first.purchase_id, buyer, new_id("evt"))
    assert await ledger.has_licence(buyer, picture)

    # If the buyer meanwhile started another purchase, the late money is kept as refund due.
    picture = new_id("pic")
    stale = await begin(ledger, buyer, seller, picture=picture)
    await ledger.fail(stale.purchase_id, buyer, "declined", new_id("evt"))
    await begin(ledger, buyer, seller, picture=picture)
    late = new_id("evt")
    assert not await ledger.complete(stale.purchase_id, buyer, late)
    assert not await ledger.has_licence(buyer, picture)
    kept = [p for p in await ledger.unapplied_payments(1000) if p.event_id == late]
    assert len(kept) == 1 and kept[0].amount_cents == stale.amount_cents
    assert kept[0].note and "another live purchase" in kept[0].note
    payments = await ledger.payments_of(stale.purchase_id, buyer)
    assert [p.kind for p in payments] == ["failed", "unapplied"]

    # A wrong amount grants nothing and is kept too.
    short = await begin(ledger, buyer, seller, amount=2000)
    assert not await ledger.complete(short.purchase_id, buyer, new_id("evt"), amount_cents=20)
    pending = await ledger.get(short.purchase_id, buyer)
    assert pending is not None and pending.status == "pending"


# -- reads and types ---------------------------------------------------------------------------


async def test_find_get_and_purchases_of(ledger: Ledger) -> None:
    for shard in range(SHARDS):
        buyer = user_on(shard, "buyer")
        made = [await begin(ledger, buyer, new_id("seller")) for _ in range(3)]
        found = await ledger.find(made[0].purchase_id)
        assert found == made[0]
        assert await ledger.get(made[0].purchase_id, buyer) == made[0]
        assert await ledger.get(made[0].purchase_id, new_id("someone")) is None
        newest_first = [p.purchase_id for p in reversed(made)]
        assert [p.purchase_id for p in await ledger.purchases_of(buyer)] == newest_first
        assert len(await ledger.purchases_of(buyer, limit=2)) == 2
    assert await ledger.find(new_id("pur")) is None
    with pytest.raises(PurchaseNotFound):
        await ledger.complete(new_id("pur"), new_id("buyer"), new_id("evt"))


async def test_amounts_are_integer_cents(ledger: Ledger) -> None:
    buyer, seller = new_id("buyer"), new_id("seller")
    for bad in (12.5, Decimal("12.50"), True, "1250"):
        with pytest.raises(TypeError):
            await begin(ledger, buyer, seller, amount=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await begin(ledger, buyer, seller, amount=-1)
    big = 100_000_000  # the largest price a picture may have
    purchase = await begin(ledger, buyer, seller, amount=big)
    assert await ledger.complete(purchase.purchase_id, buyer, new_id("evt"), amount_cents=big)
    stored = await ledger.get(purchase.purchase_id, buyer)
    assert stored is not None and type(stored.amount_cents) is int
    sales, totals = await ledger.sales_of(seller)
    assert type(sales[0].amount_cents) is int and sales[0].amount_cents == big
    assert type(totals[0].gross_cents) is int and type(totals[0].sales_count) is int
    assert stored.as_dict()["amount_cents"] == big


async def test_sessions_are_strict_utc_and_read_committed(ledger: Ledger) -> None:
    async def settings(cur: aiomysql.Cursor) -> tuple[Any, ...]:
        await cur.execute("SELECT @@session.sql_mode, @@session.time_zone, @@session.tx_isolation")
        return await cur.fetchone()

    for shard in range(SHARDS):
        sql_mode, time_zone, isolation = await ledger._run(shard, settings)
        assert "STRICT_ALL_TABLES" in sql_mode
        assert time_zone == "+00:00"
        assert isolation == "READ-COMMITTED"


# -- refunds, disputes and payment deadlines ---------------------------------------------------


async def completed(ledger: Ledger, buyer: str, seller: str, amount: int = 1250):
    purchase = await begin(ledger, buyer, seller, amount=amount)
    await ledger.attach_payment_intent(purchase.purchase_id, buyer, new_id("pi"), "secret")
    assert await ledger.complete(purchase.purchase_id, buyer, new_id("evt"))
    return await ledger.get(purchase.purchase_id, buyer)


@pytest.mark.parametrize("seller_shard", [0, 1], ids=["same-shard", "cross-shard"])
async def test_a_refund_told_many_times_withdraws_once(ledger: Ledger, seller_shard: int) -> None:
    buyer, seller = user_on(0, "buyer"), user_on(seller_shard, "seller")
    kept = await completed(ledger, buyer, seller, 700)
    purchase = await completed(ledger, buyer, seller, 1250)
    # The Refund object, its webhook and a redelivery of each, some at the same time.
    facts = [new_id("re"), new_id("evt")]
    results = await asyncio.gather(*(
        ledger.refund(purchase.purchase_id, buyer, fact, 1250, "refunded_at_stripe")
        for fact in facts * 3))
    assert sum(results) == 1
    refunded = await ledger.get(purchase.purchase_id, buyer)
    assert refunded.status == "refunded"
    assert not await ledger.has_licence(buyer, purchase.picture_id)
    assert await ledger.has_licence(buyer, kept.picture_id)
    sales, totals = await ledger.sales_of(seller)
    assert [s.purchase_id for s in sales] == [kept.purchase_id]
    assert [(t.sales_count, t.gross_cents) for t in totals] == [(1, 700)]
    payments = await ledger.payments_of(purchase.purchase_id, buyer)
    assert [(p.kind, p.amount_cents) for p in payments].count(("refunded", 1250)) == 1
    # Refunded frees the picture: the buyer may buy it again.
    again = await begin(ledger, buyer, seller, picture=purchase.picture_id)
    assert again.status == "pending"


async def test_a_partial_refund_withdraws_nothing(ledger: Ledger) -> None:
    buyer, seller = user_on(0, "buyer"), user_on(1, "seller")
    purchase = await completed(ledger, buyer, seller, 1000)
    assert not await ledger.refund(purchase.purchase_id, buyer, new_id("evt"), 400,
                                   "refunded_at_stripe")
    assert (await ledger.get(purchase.purchase_id, buyer)).status == "completed"
    assert await ledger.has_licence(buyer, purchase.picture_id)
    kinds = [p.kind for p in await ledger.payments_of(purchase.purchase_id, buyer)]
    assert kinds == ["succeeded", "refund_partial"]


async def test_the_sellers_request_names_the_refund(ledger: Ledger) -> None:
    buyer, seller = user_on(1, "buyer"), user_on(0, "seller")
    purchase = await completed(ledger, buyer, seller)
    await ledger.request_refund(purchase.purchase_id, buyer)
    await ledger.request_refund(purchase.purchase_id, buyer)  # a redelivery: no second row
    assert await ledger.refund(purchase.purchase_id, buyer, new_id("evt"), 1250,
                               "refunded_at_stripe")
    payments = await ledger.payments_of(purchase.purchase_id, buyer)
    assert [(p.kind, p.note) for p in payments if p.kind.startswith("refund")] == [
        ("refund_requested", None), ("refunded", "refunded_by_seller")]


async def test_a_sale_written_late_is_removed_by_the_refund(ledger: Ledger,
                                                           dsns: list[str]) -> None:
    """A crash between the two shards' steps of completing, then a refund: the sale that
    reconciliation writes afterwards is taken off again, once."""
    buyer, seller = user_on(0, "buyer"), user_on(1, "seller")
    purchase = await completed(ledger, buyer, seller, 900)
    # Undo the seller's side as if the process had died before it (and its flag).
    await query(dsns[1], "DELETE FROM sales WHERE purchase_id = %s", purchase.purchase_id)
    await query(dsns[1], "UPDATE seller_totals SET sales_count = sales_count - 1, "
                "gross_cents = gross_cents - 900 WHERE seller_id = %s", seller)
    await query(dsns[0], "UPDATE purchases SET sale_recorded = FALSE WHERE purchase_id = %s",
                purchase.purchase_id)
    assert await ledger.refund(purchase.purchase_id, buyer, new_id("evt"), 900,
                               "refunded_at_stripe")
    await ledger._record_sale(purchase)  # the late second step of completing
    await ledger.reconcile_sales()
    sales, totals = await ledger.sales_of(seller)
    assert sales == [] and [(t.sales_count, t.gross_cents) for t in totals] == [(0, 0)]


async def test_expiry_by_many_workers_fails_once_and_late_money_is_a_refund_due(
    ledger: Ledger,
) -> None:
    buyer, seller = user_on(0, "buyer"), user_on(1, "seller")
    purchase = await begin(ledger, buyer, seller)
    intent = new_id("pi")
    await ledger.attach_payment_intent(purchase.purchase_id, buyer, intent, "secret")
    await asyncio.sleep(0.05)
    overdue = await ledger.overdue(0.01, 1000)
    assert purchase.purchase_id in [p.purchase_id for p in overdue]
    assert purchase.purchase_id not in [p.purchase_id for p in await ledger.overdue(3600)]
    results = await asyncio.gather(*(
        ledger.expire(purchase.purchase_id, buyer, "payment not completed in time")
        for _ in range(5)))
    assert sum(results) == 1
    expired = await ledger.get(purchase.purchase_id, buyer)
    assert (expired.status, expired.failure_reason) == ("failed",
                                                        "payment not completed in time")
    # Money that arrives anyway is not applied: it is a refund due.
    assert not await ledger.complete(purchase.purchase_id, buyer, new_id("evt"),
                                     amount_cents=1250, payment_intent_id=intent)
    assert (await ledger.get(purchase.purchase_id, buyer)).status == "failed"
    assert not await ledger.has_licence(buyer, purchase.picture_id)
    due = [p for p in await ledger.unapplied_payments(1000)
           if p.purchase_id == purchase.purchase_id]
    assert [(p.amount_cents, p.note) for p in due] == [(1250, "paid after the purchase expired")]


async def test_a_dispute_is_recorded_once(ledger: Ledger) -> None:
    buyer, seller = user_on(1, "buyer"), user_on(1, "seller")
    purchase = await completed(ledger, buyer, seller)
    event = new_id("evt")
    assert await ledger.record_dispute(purchase.purchase_id, buyer, event, "opened", 1250,
                                       "fraudulent")
    assert not await ledger.record_dispute(purchase.purchase_id, buyer, event, "opened", 1250,
                                           "fraudulent")
    kinds = [p.kind for p in await ledger.payments_of(purchase.purchase_id, buyer)]
    assert kinds == ["succeeded", "dispute_opened"]
