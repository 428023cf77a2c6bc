"""The MongoDB client shared by a process (motor), and the collections' one home."""

from __future__ import annotations

from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorCollection, AsyncIOMotorDatabase
from pymongo.errors import BulkWriteError, OperationFailure

from picasso.settings import Settings

# Collection names, by owner. Only the owner writes; the edge reads the read models.
PICTURES = "pictures"  # uploads
UPLOADS_PROCESSED = "uploads_processed"  # uploads: command ids applied, events to emit
# reactions: one document per (picture, user) ever liked, ``liked`` false once unliked
LIKES = "likes"
# The likes that stand: a pair is liked unless it says otherwise (likes recorded before
# unlikes were kept say nothing).
LIKED = {"liked": {"$ne": False}}
LIKE_COUNTS = "like_counts"  # reactions: like_count per picture
REACTIONS_PROCESSED = "reactions_processed"  # reactions
USERS = "users"  # users projection
PURCHASES_PROCESSED = "purchases_processed"  # purchases: command and payment ids applied
# purchases: its catalogue of pictures (price, currency, owner, title, status), built from
# picasso.pictures.events; never the pictures collection, which is uploads'.
PURCHASES_CATALOGUE = "purchases_catalogue"
# purchases: its read model of purchases, one document per purchase as the ledger holds it
# (written whenever the ledger changes, guarded by ``version``). Licences (completed ones,
# by buyer and picture) and sales (completed ones, by seller, with totals) are read from it.
PURCHASES = "purchases"
# every service (picasso.runtime): what became of each command, for ``?after=<command_id>``.
COMMAND_RESULTS = "command_results"
COMMENTS = "comments"  # comments: one document per comment (read model)
COMMENT_COUNTS = "comment_counts"  # comments: comment_count per picture (read model)
COMMENTS_PROCESSED = "comments_processed"  # comments: command ids applied, events to emit
# comments: its catalogue of pictures (owner, status), built from picasso.pictures.events;
# never the pictures collection, which is uploads'.
COMMENTS_PICTURES = "comments_pictures"
# social: one document per (follower, followee) ever followed, ``active`` false once undone
FOLLOWS = "follows"
# The follows that stand (those recorded before unfollows were kept say nothing).
FOLLOWING = {"active": {"$ne": False}}
# social: per person, following_count (by the follows agent, in order per follower) and
# followers_count (by the followers agent, in order per followee).
SOCIAL_COUNTS = "social_counts"
SOCIAL_PROCESSED = "social_processed"  # social: follow commands applied, events to emit
SOCIAL_COUNTED = "social_counted"  # social: follow facts the followers count was taken after
# notifications: one document per notification (read model), ``user_id`` the recipient;
# likes on one picture are one document (``liked:<picture_id>``) with its likers.
NOTIFICATIONS = "notifications"
NOTIFICATIONS_PROCESSED = "notifications_processed"  # notifications: command ids applied
# notifications: its catalogue of pictures (owner, title), built from
# picasso.pictures.events; never the pictures collection, which is uploads'.
NOTIFICATIONS_PICTURES = "notifications_pictures"
MAIL_USERS = "mail_users"  # mail: recipients' addresses, names and preferences
MAIL_PICTURES = "mail_pictures"  # mail: picture titles and owners
# mail: one document per (event, kind of mail): its status, what is needed to write it
# again, and ``due_at``, when the sweeper next acts on it (retry, lease, give up).
MAIL_DELIVERIES = "mail_deliveries"
# timeline: the home timelines (read model): one document per (reader, picture) fanned out
# or backfilled, read newest first per reader.
TIMELINES = "timelines"
# timeline: one document per (reader, followee over TIMELINE_FANOUT_MAX_FOLLOWERS): the
# accounts whose pictures a reader's timeline merges in at read time (read model).
TIMELINE_CELEBRITIES = "timeline_celebrities"
# timeline: one document per account: its newest published pictures (id and created_at),
# which readers who merge that account in at read time read with one lookup (read model).
TIMELINE_RECENT = "timeline_recent"
# timeline (private): the follow graph as picasso.social.events tell it, one document per
# (followee, follower), and each followee's fan-out mode.
TIMELINE_FOLLOWS = "timeline_follows"
TIMELINE_ACCOUNTS = "timeline_accounts"
# timeline (private): published pictures per owner (id, owner, created_at, status), from
# picasso.pictures.events; backfills read it, never the pictures collection.
TIMELINE_PICTURES = "timeline_pictures"
# search: the search index (read model): one document per picture and per person with the
# keys it is found by (its words' stems, the words, tags) and their weights; each edge keeps
# an inverted index of it in memory, refreshed from ``updated_at`` (picasso.search).
SEARCH_DOCUMENTS = "search_documents"
# search (private): what it knows of each picture and person, from picasso.pictures.events
# and picasso.users.events, each field guarded by its event's time.
SEARCH_PICTURES = "search_pictures"
SEARCH_PEOPLE = "search_people"
# trending: the rankings (read model), one document per window ("hour", "day") with its
# pictures in order.
TRENDING = "trending"
# trending (private): one document per contribution (a like by one user, a comment, a
# purchase) with its picture, kind, time bucket and whether it still counts; and the counts
# per (picture, time bucket) recounted from them. Built from the other domains' events.
TRENDING_ACTIVITY = "trending_activity"
TRENDING_BUCKETS = "trending_buckets"
# trending (private): pictures deleted, from picasso.pictures.events.
TRENDING_PICTURES = "trending_pictures"
# trending (private): the journal of its batches, each entry what one batch changes (its
# contributions and the change of each (picture, bucket)), open until applied.
TRENDING_JOURNAL = "trending_journal"


# MongoDB's error code for a write that hit a unique index: another write got there first.
DUPLICATE_KEY = 11000
_INDEX_OPTIONS_CONFLICT, _INDEX_KEY_SPECS_CONFLICT = 85, 86


async def ensure_expiry(collection: AsyncIOMotorCollection, field: str, seconds: float) -> None:
    """A TTL index removing documents ``seconds`` after their BSON date ``field`` (those
    without it stay); an index made earlier with another window gets this one."""
    seconds = int(seconds)
    try:
        await collection.create_index([(field, 1)], expireAfterSeconds=seconds)
    except OperationFailure as exc:
        if exc.code not in (_INDEX_OPTIONS_CONFLICT, _INDEX_KEY_SPECS_CONFLICT):
            raise
        await collection.database.command(
            "collMod", collection.name,
            index={"keyPattern": {field: 1}, "expireAfterSeconds": seconds})


async def bulk_write_done_once(collection: AsyncIOMotorCollection, writes: list) -> None:
    """An unordered bulk write in which a duplicate key is a write already done (a guarded
    upsert that missed its guard and hit the key, a document inserted meanwhile); any other
    error is raised."""
    if not writes:
        return
    try:
        await collection.bulk_write(writes, ordered=False)
    except BulkWriteError as exc:
        if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
            raise


async def insert_new(collection: AsyncIOMotorCollection, docs: list[dict]) -> list[int]:
    """Insert ``docs`` (unordered); answers the positions of those whose key another
    document holds already (each caller decides what such a one means); any other error is
    raised. The local MongoDB-compatible server inserts a batch several times faster than it
    upserts one."""
    if not docs:
        return []
    try:
        await collection.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        return [e["index"] for e in errors]
    return []


def connect(settings: Settings) -> AsyncIOMotorDatabase:
    """A database handle; motor connects lazily, so this does no I/O."""
    client = AsyncIOMotorClient(settings.mongodb_url, tz_aware=True, serverSelectionTimeoutMS=5000)
    return client[settings.mongodb_database]
