"""The MongoDB client shared by a process (motor), and the collections' one home."""

from __future__ import annotations

from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorDatabase

from picasso.settings import Settings

# Collection names, by owner. Only the owner writes; the edge reads the read models.
PICTURES = "pictures"  # uploads
UPLOADS_PROCESSED = "uploads_processed"  # uploads: command ids applied, events to emit
LIKES = "likes"  # reactions: one document per (picture, user)
LIKE_COUNTS = "like_counts"  # reactions: like_count per picture
REACTIONS_PROCESSED = "reactions_processed"  # reactions
USERS = "users"  # users projection
PURCHASES_PROCESSED = "purchases_processed"  # purchases: command and payment ids applied
# The services' inboxes (command ids applied, with the events each caused).
INBOXES = (UPLOADS_PROCESSED, REACTIONS_PROCESSED, PURCHASES_PROCESSED)
MAIL_USERS = "mail_users"  # mail: recipients' addresses, names and preferences
MAIL_PICTURES = "mail_pictures"  # mail: picture titles and owners
# mail: one document per (event, kind of mail): its status, what is needed to write it
# again, and ``due_at``, when the sweeper next acts on it (retry, lease, give up).
MAIL_DELIVERIES = "mail_deliveries"


def connect(settings: Settings) -> AsyncIOMotorDatabase:
    """A database handle; motor connects lazily, so this does no I/O."""
    client = AsyncIOMotorClient(settings.mongodb_url, tz_aware=True, serverSelectionTimeoutMS=5000)
    return client[settings.mongodb_database]
