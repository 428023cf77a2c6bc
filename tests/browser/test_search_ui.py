"""Search in a real browser, against the whole running system: the header's box, results
as one types, the filters, and people by name."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Callable

from playwright.sync_api import Page, expect

from tests.browser.test_ui import publish_through_the_api, sign_up


def test_search_from_the_header_as_one_types_with_filters(
        new_page: Callable[..., Page], system: str, artifacts: Path) -> None:
    # Words nobody else's pictures hold: search matches any of the words typed, and other
    # tests of the session publish pictures called "Harbour ...", "... lighthouse".
    word, other, light = (prefix + "".join(chr(ord("a") + int(c, 16))
                                           for c in uuid.uuid4().hex[:8])
                          for prefix in ("Zq", "Zh", "Zl"))
    page = new_page()
    http = page.context.request
    publish_through_the_api(http, f"{word} {light}", 0)
    publish_through_the_api(http, f"{word} {other}", 900)
    # Indexed by the search service shortly after it is published.
    for _ in range(200):
        if len(http.get(f"/api/v1/search?q={word}").json()["items"]) == 2:
            break
        time.sleep(0.05)

    page.goto("/")
    page.get_by_label("Search pictures").fill(f"{word} {light}")
    page.get_by_label("Search pictures").press("Enter")
    expect(page).to_have_url(f"{system}/app/search?q={word}%20{light}")
    cards = page.locator(".picture-card")
    expect(cards.first).to_contain_text(f"{word} {light}")  # both words: first
    expect(cards).to_have_count(2)

    # Results follow the words as they are typed; the last one may be a beginning.
    page.get_by_label("Search for").fill(f"{word} {other[:5]}")
    expect(cards.first).to_contain_text(f"{word} {other}")
    page.get_by_label("Free only").check()
    expect(cards).to_have_count(1)
    expect(cards.first).to_contain_text(f"{word} {light}")
    expect(page).to_have_url(f"{system}/app/search?q={word}+{other[:5]}&free=true")
    page.screenshot(path=artifacts / "search.png", full_page=True)

    # People by name.
    name = word.capitalize()
    sign_up(new_page(), name)
    page.get_by_label("Look for").select_option("people")
    page.get_by_label("Search for").fill(word[:6])
    expect(page.get_by_role("link", name=name)).to_be_visible()
