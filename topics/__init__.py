"""Picasso's Kafka contracts: topic names, keys and partitions, and every record on them.

Other systems read this package to produce and consume; nothing else in Picasso spells a
topic name. Records are CloudEvents 1.0 JSON in structured mode (:mod:`topics.envelope`);
each record type has a JSON Schema (:mod:`topics.registry`, generated into ``topics/schemas``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    """A topic of the public contract: its base name and what its key is."""

    base_name: str
    key: str
    description: str

    def name(self, prefix: str = "") -> str:
        """The topic's name on the broker; tests isolate themselves with a prefix."""
        return f"{prefix}{self.base_name}"


PICTURES_COMMANDS = Topic(
    "picasso.pictures.commands", "picture_id", "UploadPicture, UpdatePicture, DeletePicture"
)
PICTURES_EVENTS = Topic(
    "picasso.pictures.events",
    "picture_id",
    "PicturePublished, PictureUpdated, PictureDeleted, PictureRejected",
)
REACTIONS_COMMANDS = Topic("picasso.reactions.commands", "picture_id", "LikePicture, UnlikePicture")
REACTIONS_EVENTS = Topic("picasso.reactions.events", "picture_id", "PictureLiked, PictureUnliked")
PURCHASES_COMMANDS = Topic(
    "picasso.purchases.commands", "purchase_id", "PurchasePicture, RefundPurchase, ExpirePurchase"
)
PURCHASES_EVENTS = Topic(
    "picasso.purchases.events",
    "purchase_id",
    "PurchaseAwaitingPayment, PurchaseCompleted, PurchaseFailed, PurchaseRefunded, "
    "PurchaseDisputed",
)
PAYMENTS_EVENTS = Topic(
    "picasso.payments.events",
    "purchase_id",
    "Stripe webhook facts: PaymentSucceeded, PaymentFailed, PaymentRefunded, PaymentDisputed",
)
USERS_EVENTS = Topic(
    "picasso.users.events", "user_id", "UserRegistered, UserUpdated, UserPreferencesChanged"
)
SOCIAL_COMMANDS = Topic(
    "picasso.social.commands", "follower_id", "FollowUser, UnfollowUser"
)
SOCIAL_EVENTS = Topic(
    "picasso.social.events", "followee_id", "UserFollowed, UserUnfollowed"
)
COMMENTS_COMMANDS = Topic(
    "picasso.comments.commands", "picture_id", "AddComment, DeleteComment"
)
COMMENTS_EVENTS = Topic(
    "picasso.comments.events", "picture_id", "CommentAdded, CommentDeleted"
)
NOTIFICATIONS_COMMANDS = Topic(
    "picasso.notifications.commands", "user_id", "MarkNotificationsRead"
)
NOTIFICATIONS_EVENTS = Topic(
    "picasso.notifications.events", "user_id", "NotificationsChanged"
)
DEADLETTER = Topic(
    "picasso.deadletter",
    "original key",
    "any message an agent could not accept, with the reason",
)

ALL_TOPICS: tuple[Topic, ...] = (
    PICTURES_COMMANDS,
    PICTURES_EVENTS,
    REACTIONS_COMMANDS,
    REACTIONS_EVENTS,
    PURCHASES_COMMANDS,
    PURCHASES_EVENTS,
    PAYMENTS_EVENTS,
    USERS_EVENTS,
    SOCIAL_COMMANDS,
    SOCIAL_EVENTS,
    COMMENTS_COMMANDS,
    COMMENTS_EVENTS,
    NOTIFICATIONS_COMMANDS,
    NOTIFICATIONS_EVENTS,
    DEADLETTER,
)
