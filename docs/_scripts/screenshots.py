"""Regenerate the inspector's screenshots in docs/images/ (run by hand, never by a test run).

    python docs/_scripts/screenshots.py            # writes docs/images/inspector-*.png

It starts a seeded mock on a loopback port, sends it a little traffic (tasks in each
state, a fault rule that fires, a retried poll), opens `/_mock/ui` in headless Chromium
(Debian's `chromium`; `CHROMIUM=/path` to use another) and photographs each tab. The
inspector tests call `shoot` with a temporary folder, so the scene is tested and a test
run never changes the committed images.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import httpx

from vidu_lipsync_mock import LipSyncMock

__all__ = ["TABS", "chromium_path", "shoot"]

IMAGES = Path(__file__).resolve().parent.parent / "images"
SUBMIT = "/api/v1/vidu/lip-sync/async"

#: Each tab, and the file its picture goes to.
TABS = {
    "tasks": "inspector-tasks.png",
    "journal": "inspector-journal.png",
    "faults": "inspector-faults.png",
    "clock": "inspector-clock.png",
}


def chromium_path() -> str | None:
    """The Chromium to drive: `$CHROMIUM`, else Debian's."""
    given = os.environ.get("CHROMIUM")
    return given or shutil.which("chromium") or shutil.which("chromium-browser")


def _traffic(mock: LipSyncMock) -> None:
    auth = mock.auth_headers
    body = {"video_url": "https://example.com/talk.mp4", "audio_url": "https://example.com/a.mp3"}
    with httpx.Client(base_url=mock.url, headers=auth) as client:
        ids = [client.post(SUBMIT, json=body).json()["data"]["task_id"] for _ in range(3)]
        mock.force(ids[0], "success")
        mock.force(ids[1], "failed", "Video has no visible face")
        mock.add_fault("error", status=503, route="poll", times=1)
        for _ in range(2):
            client.get(f"/api/v1/tasks/{ids[2]}")
        client.get(f"/api/v1/tasks/{ids[0]}", headers={"X-Request-Id": "checkout-42"})
        client.get("/api/v1/tasks/task-unknown")


def shoot(browser: Any, out_dir: Path) -> list[Path]:
    """Photograph each tab of a fresh mock's inspector into `out_dir`; the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    mock = LipSyncMock(seed=7, clock="manual", progression="manual")
    mock.start()
    written = []
    try:
        _traffic(mock)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(f"{mock.url}/_mock/ui")
        page.locator("#tasks-body tr").first.wait_for()
        for tab, name in TABS.items():
            page.click(f"nav button[data-tab='{tab}']")
            ready = {
                "tasks": "#tasks-body tr",
                "journal": ".jrow",
                "faults": "#rules-body tr",
                "clock": "#accounts-body tr",
            }[tab]
            page.locator(ready).first.wait_for()
            path = out_dir / name
            page.screenshot(path=str(path), full_page=True)
            written.append(path)
        page.close()
    finally:
        mock.stop()
    return written


def main() -> int:
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        print("no Chromium: apt-get install -y chromium, or set CHROMIUM", file=sys.stderr)
        return 1
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        try:
            for path in shoot(browser, IMAGES):
                print(path)
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
