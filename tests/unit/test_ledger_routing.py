"""Routing users to shards through buckets: stable buckets, the first map, and moves that
carry only the users of the buckets moved."""

from __future__ import annotations

import hashlib

import pytest

from agents.purchases.ledger import BUCKETS, bucket_of, shard_of
from agents.purchases.ledger.moves import BucketMove, _ranges
from agents.purchases.ledger.routing import initial_owner, map_problems, owners_from

USERS = [f"user-{i}" for i in range(20_000)]


def sha_mod(user_id: str, shard_count: int) -> int:
    """The ledger's placement before buckets: sha256's first 8 bytes mod the shard count."""
    digest = hashlib.sha256(user_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shard_count


def seeded(shard_count: int) -> dict[int, list[tuple[int, str]]]:
    """The shards' ownership rows of a fresh deployment."""
    return {
        shard: [(b, "owned") for b in range(BUCKETS) if initial_owner(b, shard_count) == shard]
        for shard in range(shard_count)
    }


def test_a_users_bucket_is_stable_and_spread() -> None:
    # Pinned values: the SQL column of migration 0003 computes the same (an integration test
    # compares them on MariaDB); changing either would strand every user's rows.
    assert (bucket_of("alice"), bucket_of("bob"), bucket_of("carol")) == (175, 1754, 2206)
    assert bucket_of("ü-user") == 3500
    assert [bucket_of("dave") for _ in range(3)] == [bucket_of("dave")] * 3
    buckets = [bucket_of(user) for user in USERS]
    assert all(0 <= b < BUCKETS for b in buckets)
    assert len(set(buckets)) > BUCKETS * 0.99  # 20 000 users reach almost every bucket
    halves = sum(1 for b in buckets if b < BUCKETS // 2)
    assert 9_500 < halves < 10_500


@pytest.mark.parametrize("shard_count", [1, 2, 4, 8, 64, BUCKETS])
def test_the_first_map_keeps_the_old_placement_for_powers_of_two(shard_count: int) -> None:
    assert all(shard_of(user, shard_count) == sha_mod(user, shard_count) for user in USERS)
    owners = owners_from(seeded(shard_count))
    assert all(owners[bucket_of(user)] == sha_mod(user, shard_count) for user in USERS)
    assert map_problems(seeded(shard_count)) == []


def test_the_first_map_of_other_shard_counts_is_bucket_mod_n() -> None:
    owners = owners_from(seeded(3))
    assert owners == [b % 3 for b in range(BUCKETS)]
    assert {shard_of(user, 3) for user in USERS} == {0, 1, 2}
    assert any(shard_of(user, 3) != sha_mod(user, 3) for user in USERS)
    with pytest.raises(ValueError):
        shard_of("alice", 0)


def test_moving_k_buckets_moves_only_their_users() -> None:
    before = seeded(2)
    moved = {b for b in range(BUCKETS) if b % 7 == 0}  # 586 of 4096 buckets to a new shard 2
    after = {shard: [(b, s) for b, s in rows if b not in moved] for shard, rows in before.items()}
    after[2] = [(b, "owned") for b in sorted(moved)]
    old, new = owners_from(before), owners_from(after)
    assert map_problems(after) == []
    changed = [user for user in USERS if old[bucket_of(user)] != new[bucket_of(user)]]
    assert all(bucket_of(user) in moved and new[bucket_of(user)] == 2 for user in changed)
    assert {user for user in USERS if bucket_of(user) in moved} == set(changed)
    share = len(changed) / len(USERS)
    assert abs(share - len(moved) / BUCKETS) < 0.02  # about k/B of the users, not (N-1)/N


def test_the_map_during_a_move_and_its_problems() -> None:
    rows = seeded(2)
    # Bucket 0 is moving from shard 0; the target (shard 1) owns it already: it routes there.
    rows[0] = [(b, "moving" if b == 0 else s) for b, s in rows[0]]
    rows[1].append((0, "owned"))
    assert owners_from(rows)[0] == 1
    assert map_problems(rows) == ["bucket 0 is moving: [(0, 'moving'), (1, 'owned')]"]
    # Marked but not yet copied: transactions go to the source and wait there.
    rows[1].remove((0, "owned"))
    assert owners_from(rows)[0] == 0
    # Bucket 2 owned twice, bucket 4 by nobody.
    rows[1].append((2, "owned"))
    rows[0] = [(b, s) for b, s in rows[0] if b != 4]
    assert owners_from(rows)[4] is None
    assert map_problems(rows) == [
        "bucket 0 is moving: [(0, 'moving')]",
        "bucket 2 is owned by shards [0, 1]",
        "bucket 4 has no shard",
    ]


def test_a_move_describes_its_buckets_as_ranges() -> None:
    move = BucketMove(0, 2, (0, 1, 2, 3, 7, 9, 10), resumed=True)
    assert move.describe() == "resume moving 7 buckets from shard 0 to shard 2: 0-3, 7, 9-10"
    assert _ranges((5,)) == "5"
