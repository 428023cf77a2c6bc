"""Live updates in the browser: pages change as things happen, without a reload."""

from __future__ import annotations

import re
import uuid
from typing import Callable

from playwright.sync_api import Page, expect

from tests.browser.test_ui import PASSWORD, publish_through_the_api, sign_up


def test_one_browser_likes_and_the_others_see_the_count_change(
        new_page: Callable[..., Page], system: str) -> None:
    title = f"Harbour {uuid.uuid4().hex[:6]}"
    pid, olga_email = publish_through_the_api(new_page().request, title, 0)

    # Olga, the owner, looks at her picture; a visitor looks at the feed.
    olga = new_page()
    olga.goto(f"/app/login?next=/app/pictures/{pid}")
    olga.get_by_label("Email").fill(olga_email)
    olga.get_by_label("Password").fill(PASSWORD)
    olga.get_by_role("button", name="Sign in").click()
    expect(olga.get_by_role("heading", name=title)).to_be_visible()
    likes = olga.get_by_test_id("like-count")
    expect(likes).to_have_text("0")
    bell = olga.get_by_test_id("unread-count")
    expect(bell).to_have_text("1")  # "… is published"

    visitor = new_page()
    visitor.goto("/")
    card = visitor.locator(".picture-card", has_text=title)
    expect(card.locator(".likes")).to_have_text("♥ 0")

    bob = new_page()
    sign_up(bob, "Bob")
    bob.goto(f"/app/pictures/{pid}")
    like = bob.get_by_role("button", name=re.compile("Like"))
    like.click()
    expect(like.get_by_test_id("like-count")).to_have_text("1")

    # No reload on the other pages: the count changes, and Olga's bell counts up.
    expect(likes).to_have_text("1")
    expect(card.locator(".likes")).to_have_text("♥ 1")
    expect(bell).to_have_text("2")

    bob.get_by_label("Your comment").fill("What a view")
    bob.get_by_role("button", name="Comment", exact=True).click()
    expect(olga.get_by_test_id("comment-count")).to_have_text("1")
    expect(bell).to_have_text("3")
