"""HTTP routes, one module per resource; ``MODULES`` in the order the edge registers them."""

from web.routes import (
    accounts,
    comments,
    likes,
    notifications,
    ops,
    people,
    pictures,
    purchases,
    search,
    session,
    timeline,
    ui,
)

MODULES = (accounts, session, pictures, timeline, likes, comments, people, notifications,
           purchases, search, ops, ui)
