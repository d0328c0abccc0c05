"""The rating page in real headless Chromium, driven over the DevTools protocol: a rater types
their name, rates items by clicking (and one by key), the page resumes after a reload,
Export downloads the file, and the rows read back as the ratings that were clicked, with the
hidden A/B order of each item. Hostile model output shows as text and runs nothing."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from evalkit.cli import main
from evalkit.data.ratings import PairwiseRating, read_ratings
from evalkit.errors import EXIT_GATE_FAILED, EXIT_OK
from evalkit.pipeline import RunOutcome
from evalkit.report.review import Review, build_review
from evalkit.results import load_run
from tests import test_report_browser as report_browser
from tests.conftest import XSS_MARK
from tests.review_run import HOSTILE_ANSWER, make_review_run

# the same browser, and the same skip-or-fail rule, as the report's browser test
pytestmark = report_browser.pytestmark
CHROMIUM = report_browser.CHROMIUM
SEED = "7"  # a sample whose first two items show different arms first


class Page:
    """One tab over the DevTools protocol (flattened session on the browser's websocket)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.session: str | None = None
        self.events: list[dict[str, Any]] = []
        self._next = 0
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._dialogs: set[asyncio.Task[dict[str, Any]]] = set()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self._waiting:
                self._waiting.pop(data["id"]).set_result(data)
            else:
                self.events.append(data)
                if data.get("method") == "Page.javascriptDialogOpening":
                    # an alert() would block the page: close it, and errors() reports it
                    self._dialogs.add(asyncio.create_task(
                        self.send("Page.handleJavaScriptDialog", accept=False)
                    ))  # fmt: skip

    async def send(self, method: str, browser: bool = False, **params: Any) -> dict[str, Any]:
        self._next += 1
        future = asyncio.get_running_loop().create_future()
        self._waiting[self._next] = future
        message = {"id": self._next, "method": method, "params": params}
        if self.session and not browser:
            message["sessionId"] = self.session
        await self.ws.send_str(json.dumps(message))
        reply = await asyncio.wait_for(future, 30)
        assert "error" not in reply, (method, reply["error"])
        return reply.get("result", {})

    async def js(self, expression: str) -> Any:
        got = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in got, got["exceptionDetails"]
        return got["result"].get("value")

    async def until(self, expression: str, timeout: float = 10) -> Any:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            value = await self.js(expression)
            if value:
                return value
            await asyncio.sleep(0.05)
        raise AssertionError(
            f"never true: {expression} ({await self.js('document.body.innerText.slice(0, 300)')!r})"
        )

    async def open(self, url: str) -> None:
        loaded = len([e for e in self.events if e.get("method") == "Page.loadEventFired"])
        await self.send("Page.navigate", url=url)
        await self.until("document.readyState === 'complete'")
        end = time.monotonic() + 10
        while len([e for e in self.events if e.get("method") == "Page.loadEventFired"]) == loaded:
            assert time.monotonic() < end, "the page never loaded"
            await asyncio.sleep(0.05)

    async def click(self, selector: str) -> None:
        """A real mouse click at the middle of the element, as a person makes one."""
        box = await self.js(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        x, y = box
        for kind in ("mousePressed", "mouseReleased"):
            await self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left",
                            clickCount=1)  # fmt: skip

    async def key(self, key: str) -> None:
        text = {"text": key} if len(key) == 1 else {}  # a named key types nothing
        await self.send("Input.dispatchKeyEvent", type="keyDown", key=key, **text)
        await self.send("Input.dispatchKeyEvent", type="keyUp", key=key)

    def errors(self) -> list[str]:
        return [
            json.dumps(e["params"])[:300]
            for e in self.events
            if e.get("method") in ("Runtime.exceptionThrown", "Page.javascriptDialogOpening")
        ]


@asynccontextmanager
async def browser(profile: Path, downloads: Path) -> AsyncIterator[Page]:
    args = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank",
    ]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        end = time.monotonic() + 30
        while not (port_file.is_file() and len(port_file.read_text().split()) == 2):
            assert time.monotonic() < end and proc.poll() is None, "chromium did not start"
            await asyncio.sleep(0.05)
        port, path = port_file.read_text().split()
        url = f"ws://127.0.0.1:{port}{path}"
        async with aiohttp.ClientSession() as http, http.ws_connect(url, max_msg_size=0) as ws:
            page = Page(ws)
            await page.send("Browser.setDownloadBehavior", browser=True, behavior="allow",
                            downloadPath=str(downloads))  # fmt: skip
            target = await page.send("Target.createTarget", browser=True, url="about:blank")
            attached = await page.send("Target.attachToTarget", browser=True,
                                       targetId=target["targetId"], flatten=True)  # fmt: skip
            page.session = attached["sessionId"]
            for domain in ("Page", "Runtime"):
                await page.send(f"{domain}.enable")
            yield page
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RunOutcome:
    return make_review_run(tmp_path_factory.mktemp("review-browser"))


@pytest.fixture(scope="module")
def page(run: RunOutcome, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Review]:
    out = tmp_path_factory.mktemp("page")
    assert main(["review", str(run.run_dir), "--seed", SEED, "--out", str(out)]) == 0
    # the items as the page holds them, computed on their own for the expectations
    return out / "review.html", build_review(load_run(run.run_dir), None, 50, int(SEED))


def test_chromium_found() -> None:
    assert CHROMIUM.exists(), f"no chromium at {CHROMIUM}"


async def _rate_and_export(url: str, profile: Path, downloads: Path) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    async with browser(profile, downloads) as tab:
        await tab.open(url)
        assert await tab.js("document.getElementById('js-errors').textContent") == ""
        seen["first_progress"] = await tab.js("document.getElementById('progress').textContent")
        # Export before naming oneself is refused, and says why
        await tab.click("#export")
        seen["unnamed"] = await tab.js("document.getElementById('message').textContent")
        await tab.click("#rater")
        await tab.send("Input.insertText", text="Ann Rater")
        # item 1: A is better, and tone 5 for answer A, by clicking
        await tab.click("[data-choice='A']")
        await tab.click("input[name='score-A-tone'][value='5']")
        await tab.key("j")  # keys work with the focus on a score, too
        # item 2: B is better by key, then on with j
        await tab.key("3")
        await tab.key("j")
        # item 3: about the same, clicked; then the button again takes it back, and again
        await tab.click("[data-choice='tie']")
        await tab.click("[data-choice='tie']")
        seen["untied"] = await tab.js("document.querySelector('[data-choice=tie]').ariaPressed")
        await tab.click("[data-choice='tie']")
        await tab.click("#next")  # item 4: left unrated
        seen["progress"] = await tab.js("document.getElementById('progress').textContent")
        # a reload resumes: the same rater, the same ratings, the same item
        await tab.open(url)
        seen["resumed"] = await tab.js(
            "[document.getElementById('rater').value, document.getElementById('progress')"
            ".textContent, document.getElementById('position').textContent]"
        )
        await tab.click("#export")
        await tab.until("document.getElementById('message').textContent.startsWith('Exported')")
        seen["exported"] = await tab.js("document.getElementById('message').textContent")
        seen["errors"] = tab.errors()
        end = time.monotonic() + 10  # the browser must stay open until the file is written
        while not list(downloads.glob("*.jsonl")):
            assert time.monotonic() < end, "no file was downloaded"
            await asyncio.sleep(0.05)
    return seen


def test_rating_by_clicking_exports_the_clicked_ratings(
    run: RunOutcome, page: tuple[Path, Review], tmp_path: Path
) -> None:
    path, review = page
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    seen = asyncio.run(_rate_and_export(path.as_uri(), tmp_path / "profile", downloads))
    n = len(review.items)
    assert seen["errors"] == []
    assert seen["first_progress"] == f"0 of {n} rated"
    assert seen["unnamed"].startswith("Enter your name before exporting")
    assert seen["untied"] == "false"
    assert seen["progress"] == f"3 of {n} rated"
    assert seen["resumed"] == ["Ann Rater", f"3 of {n} rated", f"Item 4 of {n}"]
    (file,) = downloads.glob("*.jsonl")
    assert file.name == f"ratings-Ann_Rater-{review.run_id}.jsonl"
    assert seen["exported"] == f"Exported 3 ratings to {file.name}."
    ratings = read_ratings(file)
    assert all(isinstance(r, PairwiseRating) for r in ratings)
    first, second, third = review.items[:3]
    got = {(r.dataset, r.item_id): r for r in ratings}
    assert list(got) == [(i.dataset, i.item_id) for i in (first, second, third)]
    r1, r2, r3 = got.values()
    # the hidden order of each item, and the arm each click meant
    assert (r1.order, r2.order, r3.order) == (first.order, second.order, third.order)
    assert (r1.choice, r2.choice, r3.choice) == ("A", "B", "tie")
    assert r1.preferred() == first.order[0] and r2.preferred() == second.order[1]
    assert {i.order for i in (first, second)} == {("baseline", "candidate"),
                                                  ("candidate", "baseline")}  # fmt: skip
    assert r1.scores == {"A": {"tone": 5.0}} and r1.arm_scores(first.order[0]) == {"tone": 5.0}
    assert r2.scores == {} and r3.scores == {}
    for r in ratings:
        assert r.rater == "Ann Rater" and r.run_id == review.run_id
        assert r.seconds is not None and r.seconds >= 0
        assert r.rated_at and r.rated_at.endswith("Z") and r.rated_at.startswith("20")

    # imported into (a copy of) the run, the clicks decide the gate on people's preference
    rated = tmp_path / "run"
    shutil.copytree(run.run_dir, rated)
    assert main(["gate", str(rated)]) == EXIT_GATE_FAILED  # no ratings yet: fails closed
    assert main(["review", "import", str(rated), str(file)]) == EXIT_OK
    value = {"candidate": 1.0, "tie": 0.5, "baseline": 0.0}
    expected = sum(value[r.preferred()] for r in ratings) / 3
    people = json.loads((rated / "results.json").read_text(encoding="utf-8"))["people"]
    assert people["win_rate"]["win_rate"] == pytest.approx(expected)
    assert people["raters"] == ["Ann Rater"] and people["win_rate"]["items"] == 3
    assert main(["gate", str(rated)]) == (EXIT_OK if expected >= 0.5 else EXIT_GATE_FAILED)


async def _show_hostile(url: str, index: int, profile: Path, downloads: Path) -> dict[str, Any]:
    async with browser(profile, downloads) as tab:
        await tab.open(url)
        for _ in range(index):
            await tab.key("ArrowRight")
        return {
            "position": await tab.js("document.getElementById('position').textContent"),
            "answers": await tab.js(
                "['A', 'B'].map(s => document.getElementById('answer-' + s).textContent)"
            ),
            "images": await tab.js("document.images.length"),
            "inside": await tab.js(
                "document.querySelectorAll('#answer-A *, #answer-B *, #input-text *').length"
            ),
            "scripts": await tab.js("document.scripts.length"),
            "xss": await tab.js(f"String({XSS_MARK})"),
            "errors": [
                *tab.errors(),
                await tab.js("document.getElementById('js-errors').textContent"),
            ],
        }


def test_hostile_answers_show_as_text_and_run_nothing(
    page: tuple[Path, Review], tmp_path: Path
) -> None:
    path, review = page
    index = next(k for k, i in enumerate(review.items) if i.item_id == "q5")
    got = asyncio.run(_show_hostile(path.as_uri(), index, tmp_path / "profile", tmp_path))
    assert got["position"] == f"Item {index + 1} of {len(review.items)}"
    assert got["errors"] == [""]  # no script error, no alert() dialog
    assert got["xss"] == "undefined"
    assert got["images"] == 0 and got["scripts"] == 3
    # the answers are the model's text, character for character
    assert sorted(got["answers"]) == sorted(review.items[index].outputs)
    assert HOSTILE_ANSWER in got["answers"][0] or HOSTILE_ANSWER in got["answers"][1]
    assert got["inside"] == 0  # no element made of an answer's "<b>bold</b>" or "<img>"


async def _rate_then_reopen(first: str, again: str, profile: Path, downloads: Path) -> None:
    async with browser(profile, downloads) as tab:
        await tab.open(first)
        await tab.click("#rater")
        await tab.send("Input.insertText", text="Bo")
        await tab.click("[data-choice='A']")
        await tab.click("input[name='score-A-tone'][value='5']")
        await tab.open(again)  # the same run's page, made again with another seed
        await tab.click("#export")
        end = time.monotonic() + 10
        while not list(downloads.glob("*.jsonl")):
            assert time.monotonic() < end, "no file was downloaded"
            await asyncio.sleep(0.05)
        assert tab.errors() == []


def test_a_page_made_again_with_another_seed_keeps_the_rated_arm(
    page: tuple[Path, Review], run: RunOutcome, tmp_path: Path
) -> None:
    """Ratings resume by item; where the new page shows the item's arms the other way round,
    the saved choice and scores follow the arms, not the letters."""
    path, review = page
    assert main(["review", str(run.run_dir), "--seed", "0", "--out", str(tmp_path / "s0")]) == 0
    reseeded = build_review(load_run(run.run_dir), None, 50, 0)
    item = review.items[0]
    (now,) = [i for i in reseeded.items if i.item_id == item.item_id]
    assert now.order == item.order[::-1]  # seed 0 shows this item the other way round
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    uri = (tmp_path / "s0" / "review.html").as_uri()
    asyncio.run(_rate_then_reopen(path.as_uri(), uri, tmp_path / "profile", downloads))
    (file,) = downloads.glob("*.jsonl")
    (rating,) = read_ratings(file)
    assert isinstance(rating, PairwiseRating) and rating.item_id == item.item_id
    assert rating.order == now.order and rating.choice == "B"
    assert rating.preferred() == item.order[0]  # the arm clicked as "A" on the first page
    assert rating.scores == {"B": {"tone": 5.0}} and rating.arm_scores(item.order[0]) == {
        "tone": 5.0
    }


async def _two_raters(url: str, profile: Path, downloads: Path) -> list[str]:
    async with browser(profile, downloads) as tab:
        await tab.open(url)
        await tab.key("1")  # rated before any name is typed: it becomes Cy's
        await tab.click("#rater")
        await tab.send("Input.insertText", text="Cy")
        await tab.click("#next")
        await tab.key("3")
        # another rater takes the keyboard: Cy's ratings stay Cy's
        await tab.js("document.getElementById('rater').select()")
        await tab.send("Input.insertText", text="Di")
        await tab.click("#next")
        progress = [await tab.js("document.getElementById('progress').textContent")]
        await tab.key("2")
        await tab.click("#export")
        end = time.monotonic() + 10
        while not list(downloads.glob("*.jsonl")):
            assert time.monotonic() < end, "no file was downloaded"
            await asyncio.sleep(0.05)
        # and back to Cy: both of Cy's ratings are there
        await tab.js("document.getElementById('rater').select()")
        await tab.send("Input.insertText", text="Cy")
        await tab.click("#next")
        progress.append(await tab.js("document.getElementById('progress').textContent"))
        assert tab.errors() == []
        return progress


def test_each_rater_exports_only_their_own_ratings(
    page: tuple[Path, Review], tmp_path: Path
) -> None:
    path, review = page
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    progress = asyncio.run(_two_raters(path.as_uri(), tmp_path / "profile", downloads))
    n = len(review.items)
    assert progress == [f"0 of {n} rated", f"2 of {n} rated"]
    (file,) = downloads.glob("*.jsonl")
    (rating,) = read_ratings(file)
    assert (rating.rater, rating.item_id, rating.choice) == ("Di", review.items[2].item_id, "tie")
