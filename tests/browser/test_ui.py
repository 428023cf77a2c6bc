"""The web UI in a real browser, against the whole running system."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Callable

from playwright.sync_api import APIRequestContext, Page, expect

from tests.helpers import jpeg_with_gps

PASSWORD = "correct horse battery"


def sign_up(page: Page, name: str) -> str:
    email = f"{name.lower()}-{uuid.uuid4().hex[:10]}@example.com"
    page.goto("/app/signup")
    page.get_by_label("Name shown to others").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    return email


def publish_through_the_api(http: APIRequestContext, title: str,
                            price_cents: int) -> tuple[str, str]:
    """A picture published by another user through the HTTP API, as any client would;
    returns its id and the owner's email."""
    email = f"olga-{uuid.uuid4().hex[:10]}@example.com"
    answer = http.post("/api/v1/auth/register", data={
        "email": email, "password": PASSWORD, "display_name": "Olga"})
    assert answer.status == 201, answer.text()
    auth = {"Authorization": f"Bearer {answer.json()['id_token']}"}
    answer = http.post("/api/v1/pictures", headers=auth, multipart={
        "title": title, "price_cents": str(price_cents),
        "file": {"name": "photo.jpg", "mimeType": "image/jpeg",
                 "buffer": jpeg_with_gps(320, 240)}})
    assert answer.status == 202, answer.text()
    picture_id = answer.json()["picture_id"]
    answer = http.get(f"/api/v1/pictures/{picture_id}?wait_ms=10000", headers=auth)
    assert answer.json()["status"] == "published", answer.text()
    return picture_id, email


def test_sell_like_buy_and_download(new_page: Callable[..., Page], system: str,
                                    artifacts: Path) -> None:
    original = jpeg_with_gps(800, 600)
    title = f"Golden Gate {uuid.uuid4().hex[:6]}"

    ada = new_page()
    sign_up(ada, "Ada")
    ada.get_by_role("link", name="Upload").click()
    ada.get_by_label("Picture (JPEG, PNG or WebP)").set_input_files(files=[{
        "name": "bridge.jpg", "mimeType": "image/jpeg", "buffer": original}])
    expect(ada.get_by_alt_text("Preview of the chosen picture")).to_be_visible()
    ada.get_by_label("Title").fill(title)
    ada.get_by_label("Description").fill("The bridge as the fog rolls in.")
    ada.get_by_label("Price in US dollars").fill("15.00")
    ada.get_by_label("Tags").fill("bridge, dusk")
    ada.get_by_role("button", name="Upload").click()
    status = ada.get_by_test_id("upload-status")
    expect(status).to_contain_text("Published")  # no reload: the page followed processing
    expect(ada.get_by_label("Upload progress")).to_have_attribute("value", "100")
    ada.screenshot(path=artifacts / "upload.png", full_page=True)

    ada.get_by_role("link", name="Explore").click()
    card = ada.locator(".picture-card", has_text=title)
    expect(card).to_contain_text("$15.00")
    expect(ada.locator(".picture-card").first).to_contain_text(title)  # newest first
    expect(card.get_by_role("img")).to_have_js_property("complete", True)
    ada.screenshot(path=artifacts / "feed.png", full_page=True)

    bob = new_page()
    sign_up(bob, "Bob")
    bob.goto("/")
    bob.get_by_role("link", name=title).click()
    expect(bob.get_by_role("heading", name=title)).to_be_visible()
    expect(bob.get_by_text("by Ada")).to_be_visible()
    expect(bob.get_by_role("link", name="Download original")).to_have_count(0)
    like = bob.get_by_role("button", name=re.compile("Like"))
    expect(like.get_by_test_id("like-count")).to_have_text("0")
    like.click()
    expect(like.get_by_test_id("like-count")).to_have_text("1")
    expect(like).to_have_attribute("aria-pressed", "true")

    bob.get_by_label("Pay with").select_option(label="Test Visa card (succeeds)")
    bob.get_by_role("button", name="Buy for $15.00").click()
    expect(bob.get_by_test_id("purchase-status")).to_contain_text("Purchase completed",
                                                                 timeout=30_000)
    expect(bob.get_by_role("img", name=title)).to_have_js_property("complete", True)
    bob.screenshot(path=artifacts / "picture.png", full_page=True)
    with bob.expect_download() as download:
        bob.get_by_role("link", name="Download original").click()
    assert Path(download.value.path()).read_bytes() == original  # byte for byte

    bob.get_by_role("link", name="My purchases").click()
    expect(bob.get_by_role("row", name=re.compile(title))).to_contain_text("completed")
    ada.get_by_role("link", name="My sales").click()
    expect(ada.locator(".total")).to_contain_text("$15.00 from 1 sale")
    expect(ada.get_by_role("row", name=re.compile(title))).to_be_visible()


def test_a_declined_card_shows_the_failure(new_page: Callable[..., Page], system: str) -> None:
    title = f"Harbour {uuid.uuid4().hex[:6]}"
    eve = new_page()
    picture_id, _ = publish_through_the_api(eve.request, title, 700)
    sign_up(eve, "Eve")
    eve.goto(f"/app/pictures/{picture_id}")
    eve.get_by_label("Pay with").select_option(label="Test card that is declined")
    eve.get_by_role("button", name="Buy for $7.00").click()
    expect(eve.get_by_test_id("purchase-status")).to_contain_text("Payment failed",
                                                                 timeout=30_000)
    expect(eve.get_by_role("link", name="Download original")).to_have_count(0)


def test_a_visitor_browses_and_signs_in_to_like_upload_or_buy(
        new_page: Callable[..., Page], system: str, artifacts: Path) -> None:
    title = f"Lighthouse {uuid.uuid4().hex[:6]}"
    visitor = new_page(viewport={"width": 390, "height": 844})  # a phone
    picture_id, owner_email = publish_through_the_api(visitor.request, title, 500)
    visitor.goto("/")
    expect(visitor.get_by_role("button", name="Sign out")).to_have_count(0)
    visitor.get_by_role("link", name=title).click()
    expect(visitor.get_by_role("heading", name=title)).to_be_visible()
    visitor.screenshot(path=artifacts / "phone-picture.png", full_page=True)
    page_path = f"/app/pictures/{picture_id}"

    visitor.get_by_role("button", name=re.compile("Like")).click()
    expect(visitor.get_by_role("heading", name="Sign in")).to_be_visible()
    assert visitor.url.endswith(f"/app/login?next={page_path.replace('/', '%2F')}")
    visitor.go_back()
    visitor.get_by_role("button", name="Buy for $5.00").click()
    expect(visitor.get_by_role("heading", name="Sign in")).to_be_visible()
    visitor.goto("/")
    visitor.get_by_role("link", name="Upload").click()
    expect(visitor.get_by_role("heading", name="Sign in")).to_be_visible()

    visitor.goto(f"/app/login?next={page_path}")
    visitor.get_by_label("Email").fill(owner_email)
    visitor.get_by_label("Password").fill("wrong password")
    visitor.get_by_role("button", name="Sign in").click()
    expect(visitor.get_by_role("alert")).to_contain_text("wrong")
    visitor.get_by_label("Password").fill(PASSWORD)
    visitor.get_by_role("button", name="Sign in").click()
    expect(visitor.get_by_role("heading", name=title)).to_be_visible()  # back where they were
    expect(visitor.get_by_text("This is your picture.")).to_be_visible()


def test_errors_are_shown_next_to_their_fields(new_page: Callable[..., Page]) -> None:
    page = new_page()
    page.goto("/app/signup")
    page.get_by_label("Name shown to others").fill("Ivy")
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#field-email-error")).to_have_text("a valid email address")
    expect(page.locator("#field-password-error")).to_have_text("8 to 128 characters")
    expect(page.get_by_label("Email")).to_have_attribute("aria-invalid", "true")

    sign_up(page, "Ivy")
    page.get_by_role("link", name="Upload").click()
    page.get_by_label("Picture (JPEG, PNG or WebP)").set_input_files(files=[{
        "name": "tiny.jpg", "mimeType": "image/jpeg", "buffer": jpeg_with_gps(64, 48)}])
    page.get_by_label("Price in US dollars").fill("0.10")
    page.get_by_role("button", name="Upload").click()  # the title is missing too
    expect(page.locator("#field-title-error")).to_contain_text("required")
    expect(page.locator("#field-price-error")).to_contain_text("0 for free")
    expect(page.get_by_label("Title")).to_be_focused()


def test_comment_under_a_picture_and_delete_it(new_page: Callable[..., Page],
                                               system: str) -> None:
    """A comment appears under the picture as written (markup shown as text, never run),
    the count goes up, and its author deletes it."""
    title = f"Harbour {uuid.uuid4().hex[:6]}"
    bob = new_page()
    picture_id, _ = publish_through_the_api(bob.request, title, 0)
    sign_up(bob, "Bob")
    bob.goto(f"/app/pictures/{picture_id}")
    expect(bob.get_by_test_id("comment-count")).to_have_text("0")
    words = "Lovely light <b>here</b>"
    bob.get_by_label("Your comment").fill(words)
    bob.get_by_role("button", name="Comment", exact=True).click()
    comments = bob.get_by_test_id("comments")
    expect(comments.get_by_text(words)).to_be_visible()
    expect(comments.locator("b")).to_have_count(0)  # the markup is text, not an element
    expect(bob.get_by_test_id("comment-count")).to_have_text("1")

    bob.reload()  # from the read model, not from the page's memory
    expect(comments.get_by_text(words)).to_be_visible()
    comments.get_by_role("button", name="Delete this comment").click()
    expect(comments.get_by_text(words)).to_have_count(0)
    expect(bob.get_by_test_id("comment-count")).to_have_text("0")
    bob.reload()
    expect(bob.get_by_test_id("comment-count")).to_have_text("0")
    expect(comments.get_by_text(words)).to_have_count(0)


def test_follow_someone_from_their_profile(new_page: Callable[..., Page], system: str) -> None:
    """From a picture to its owner's page; Follow counts there, and stays after a reload."""
    title = f"Lighthouse {uuid.uuid4().hex[:6]}"
    cleo = new_page()
    picture_id, _ = publish_through_the_api(cleo.request, title, 0)
    sign_up(cleo, "Cleo")
    cleo.goto(f"/app/pictures/{picture_id}")
    cleo.get_by_role("link", name="Olga").click()
    expect(cleo.get_by_role("heading", name="Olga")).to_be_visible()
    expect(cleo.get_by_role("list", name="Olga").get_by_text(title)).to_be_visible()
    expect(cleo.get_by_test_id("followers-count")).to_have_text("0")
    cleo.get_by_role("button", name="Follow").click()
    expect(cleo.get_by_role("button", name="Following")).to_be_visible()
    expect(cleo.get_by_test_id("followers-count")).to_have_text("1")
    cleo.reload()
    expect(cleo.get_by_test_id("followers-count")).to_have_text("1")
    cleo.get_by_role("button", name="Following").click()
    expect(cleo.get_by_role("button", name="Follow")).to_be_visible()
    expect(cleo.get_by_test_id("followers-count")).to_have_text("0")


def test_the_home_tab_shows_the_pictures_of_people_followed(
        new_page: Callable[..., Page], system: str) -> None:
    title = f"Canal {uuid.uuid4().hex[:6]}"
    dan = new_page()
    picture_id, _ = publish_through_the_api(dan.request, title, 0)
    sign_up(dan, "Dan")
    dan.get_by_role("link", name="Home").click()
    expect(dan.get_by_text("Nothing here yet")).to_be_visible()
    dan.goto(f"/app/pictures/{picture_id}")
    dan.get_by_role("link", name="Olga").click()
    dan.get_by_role("button", name="Follow").click()
    expect(dan.get_by_role("button", name="Following")).to_be_visible()
    dan.get_by_role("link", name="Home").click()
    home = dan.get_by_role("list", name="Home")
    for _ in range(20):  # the timeline service backfills the followed person's pictures
        if home.get_by_text(title).count():
            break
        dan.wait_for_timeout(250)
        dan.reload()
    expect(home.get_by_text(title)).to_be_visible()


def test_the_bell_counts_a_new_follower_and_the_list_says_who(
        new_page: Callable[..., Page], system: str) -> None:
    fay = new_page()
    sign_up(fay, "Fay")
    fay_id = fay.request.get("/api/v1/me").json()["user_id"]
    expect(fay.get_by_test_id("unread-count")).to_have_text("0")

    gus = new_page().request  # another person, through the HTTP API
    answer = gus.post("/api/v1/auth/register", data={
        "email": f"gus-{uuid.uuid4().hex[:10]}@example.com", "password": PASSWORD,
        "display_name": "Gus"})
    assert answer.status == 201, answer.text()
    auth = {"Authorization": f"Bearer {answer.json()['id_token']}"}
    for _ in range(40):  # Fay's profile is the users service's projection, a moment later
        answer = gus.put(f"/api/v1/users/{fay_id}/follow", headers=auth)
        if answer.status != 404:
            break
        fay.wait_for_timeout(250)
    assert answer.status == 202, answer.text()

    for _ in range(40):  # the notifications service applies the follow
        fay.reload()
        if fay.get_by_test_id("unread-count").text_content() == "1":
            break
        fay.wait_for_timeout(250)
    expect(fay.get_by_test_id("unread-count")).to_have_text("1")
    fay.get_by_role("link", name="Notifications").click()
    notices = fay.get_by_role("list", name="Notifications")
    expect(notices.get_by_text("Gus followed you")).to_be_visible()
    fay.get_by_role("button", name="Mark all read").click()
    expect(fay.get_by_test_id("unread-count")).to_have_text("0")
    fay.reload()
    expect(fay.get_by_test_id("unread-count")).to_have_text("0")


def test_the_trending_tab_shows_a_liked_picture_over_the_hour_and_the_day(
        new_page: Callable[..., Page], system: str) -> None:
    title = f"Harbour {uuid.uuid4().hex[:6]}"
    eve = new_page()
    picture_id, _ = publish_through_the_api(eve.request, title, 0)
    sign_up(eve, "Eve")
    eve.goto(f"/app/pictures/{picture_id}")
    eve.get_by_role("button", name=re.compile("Like")).click()
    expect(eve.get_by_role("button", name=re.compile("Liked"))).to_be_visible()
    eve.get_by_role("link", name="Trending").click()
    expect(eve.get_by_role("heading", name="Trending")).to_be_visible()
    trending = eve.get_by_role("list", name="Trending")
    for _ in range(40):  # the trending service ranks again every few seconds
        if trending.get_by_text(title).count():
            break
        eve.wait_for_timeout(250)
        eve.reload()
    expect(trending.get_by_text(title)).to_be_visible()
    tabs = eve.get_by_role("navigation", name="Trending over")
    expect(tabs.get_by_role("link", name="Last day")).to_have_attribute("aria-current", "page")
    tabs.get_by_role("link", name="Last hour").click()
    expect(tabs.get_by_role("link", name="Last hour")).to_have_attribute("aria-current", "page")
    expect(eve).to_have_url(re.compile(r"/app/trending\?window=hour$"))
    expect(trending.get_by_text(title)).to_be_visible()
