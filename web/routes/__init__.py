"""HTTP routes, one module per resource; ``MODULES`` in the order the edge registers them."""

from web.routes import (
    accounts,
    comments,
    likes,
    live,
    notifications,
    ops,
    people,
    pictures,
    purchases,
    session,
    timeline,
    ui,
)

MODULES = (accounts, session, pictures, timeline, likes, comments, people, notifications,
           purchases, live, ops, ui)
