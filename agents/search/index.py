"""What each event does to the search index.

The service keeps what it needs of each picture (``search_pictures``: title, description,
tags, price, owner, status, creation time) and each person (``search_people``: the display
name), every field guarded by the time of the event that told it
(:func:`picasso.projection.remember`), so an old event redelivered after a newer one never
brings an old title (or a deleted picture) back. After each change it derives, from that
state, the document the picture or person has in the read model ``search_documents``: the
keys it is found by with their weights (title words count most), and for a picture its
price and creation time (for filters and order). A picture that is not published keeps a
document with no keys, so that every edge, which reads the documents changed since it last
looked (``updated_at``), sees it go. Each write replaces the whole document, as derived
from the state, so a redelivery writes the same again.

One small document per picture, rather than one per key holding every picture with it:
measured (docs/benchmarks.md §10), a common key's document grew to 10,000 entries, and
rewriting such documents on each publication kept a new picture out of the results for
seconds.

The owner's name is searchable with their pictures, and comes on another topic: a picture
is indexed with the owner's name as the service knows it, and a new name re-indexes the
owner's pictures. Each side writes its own fact first and then reads the other's, so
whichever comes last indexes with both.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from motor.motor_asyncio import AsyncIOMotorDatabase

from picasso.mongo import SEARCH_DOCUMENTS, SEARCH_PEOPLE, SEARCH_PICTURES
from picasso.projection import remember
from picasso.search import (
    PERSON,
    PERSON_STEM,
    PERSON_WORD,
    PICTURE,
    PICTURE_STEM,
    PICTURE_TAG,
    PICTURE_WORD,
    stem,
    words,
)
from topics.envelope import CloudEvent, utc_now
from topics.pictures import PICTURE_DELETED, PICTURE_PUBLISHED, PICTURE_UPDATED
from topics.record import Record

PUBLISHED = "published"
DELETED = "deleted"
# How much a word counts in each field of a picture, and how often a repeated word counts.
FIELD_WEIGHTS = {"title": 3.0, "tags": 2.0, "owner": 2.0, "description": 1.0}
REPEATS_MAX = 3
# Fields of a picture the index uses, as the pictures events tell them.
_PICTURE_FIELDS = ("owner_id", "title", "description", "tags", "price_cents", "created_at")


def _weights(fields: dict[str, str], stem_space: str, word_space: str) -> dict[str, float]:
    """Each stem's and each word's weight over ``fields`` (name → text)."""
    keys: Counter = Counter()
    for name, text in fields.items():
        for word, times in Counter(words(text)).items():
            weight = FIELD_WEIGHTS[name] * min(times, REPEATS_MAX)
            keys[stem_space + stem(word)] += weight
            keys[word_space + word] += weight
    return dict(keys)


def picture_terms(picture: dict, owner_name: str | None) -> dict[str, float]:
    """The keys a published picture is found by, each with its weight."""
    terms = _weights({
        "title": picture.get("title", ""),
        "description": picture.get("description", ""),
        "tags": " ".join(picture.get("tags", [])),
        "owner": owner_name or "",
    }, PICTURE_STEM, PICTURE_WORD)
    terms.update((PICTURE_TAG + tag, 0.0) for tag in picture.get("tags", []))
    return terms


def person_terms(display_name: str) -> dict[str, float]:
    """The keys a person is found by (their name's), each with its weight."""
    return _weights({"owner": display_name}, PERSON_STEM, PERSON_WORD)


def document(kind: str, ref: str, terms: dict[str, float], **fields) -> dict:
    """A document of the ``search_documents`` read model."""
    return {"_id": f"{kind}:{ref}", "kind": kind, "ref": ref,
            "terms": sorted([key, round(weight, 3)] for key, weight in terms.items()),
            **fields, "updated_at": utc_now()}


@dataclass
class SearchIndex:
    db: AsyncIOMotorDatabase

    @property
    def pictures(self):
        return self.db[SEARCH_PICTURES]

    @property
    def people(self):
        return self.db[SEARCH_PEOPLE]

    @property
    def documents(self):
        return self.db[SEARCH_DOCUMENTS]

    async def ensure_indexes(self) -> None:
        await self.pictures.create_index([("owner_id", 1)])
        await self.documents.create_index([("updated_at", 1)])

    async def picture(self, record: Record, event: CloudEvent) -> list[CloudEvent]:
        """A pictures event: remember what it tells, then index the picture anew."""
        d = event.data
        picture_id = d["picture_id"]
        if record is PICTURE_PUBLISHED:
            await remember(self.pictures, picture_id,
                           {**{k: d[k] for k in _PICTURE_FIELDS if k in d},
                            "status": PUBLISHED}, event.time)
        elif record is PICTURE_UPDATED:
            await remember(self.pictures, picture_id,
                           {k: d[k] for k in _PICTURE_FIELDS if k in d}, event.time)
        elif record is PICTURE_DELETED:
            await remember(self.pictures, picture_id, {"status": DELETED}, event.time)
        else:
            return []  # a refused upload or change: nothing indexed changes
        await self.reindex_picture(picture_id)
        return []

    async def person(self, record: Record, event: CloudEvent) -> list[CloudEvent]:
        """A users event: a (new) display name re-indexes the person and their pictures."""
        name = event.data.get("display_name")
        if name is None:
            return []  # preferences, a bio or an avatar: not searched
        user_id = event.data["user_id"]
        await remember(self.people, user_id, {"display_name": name}, event.time)
        person = await self.people.find_one({"_id": user_id})
        await self._write(document(PERSON, user_id,
                                   person_terms(person.get("display_name", ""))))
        async for picture in self.pictures.find({"owner_id": user_id}, {"_id": 1}):
            await self.reindex_picture(picture["_id"])
        return []

    async def reindex_picture(self, picture_id: str) -> None:
        """Write the picture's document as its state now says: its keys while published
        (with every field it needs known), none otherwise."""
        picture = await self.pictures.find_one({"_id": picture_id})
        if picture is None:
            return
        terms: dict[str, float] = {}
        if picture.get("status") == PUBLISHED and "title" in picture:
            owner = await self.people.find_one({"_id": picture.get("owner_id")},
                                               {"display_name": 1})
            terms = picture_terms(picture, (owner or {}).get("display_name"))
        await self._write(document(PICTURE, picture_id, terms,
                                   price_cents=picture.get("price_cents", 0),
                                   created_at=picture.get("created_at", "")))

    async def _write(self, doc: dict) -> None:
        await self.documents.replace_one({"_id": doc["_id"]}, doc, upsert=True)
