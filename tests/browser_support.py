"""Browser-test support shared by every tests/test_browser*.py: one app started with the README's
command (`make run`) for the whole session, Debian's Chromium through Playwright, and a Session that
records every request (aborting any that leaves localhost), console errors and dialogs.

Needs /usr/bin/chromium (`apt-get install -y chromium`; `make test` installs it). Without it browser
tests are skipped locally and fail on CI (CI=true).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import (
    ConsoleMessage,
    Dialog,
    FrameLocator,
    Page,
    Response,
    Route,
    expect,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError

REPO_ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})
STARTUP_TIMEOUT_S = 120
# The first page load may still be seeding caches; later loads take a second or two.
LOAD_TIMEOUT_MS = 60_000
MAP_IFRAME = 'iframe[title*="streamlit_folium"]'
_STREAMLIT_PROBE = re.compile(r"^/[^/]+/_stcore/(health|host-config)$")
ERROR_BOXES = '.st-key-dashboard-error, [data-testid="stException"]'


# --------------------------------------------------------------------------------------------- fixtures


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _log_tail(log_path: Path, lines: int = 60) -> str:
    try:
        text = log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - local http only
            return response.status == 200 and response.read().decode().strip() == "ok"
    except (urllib.error.URLError, OSError, ValueError):
        return False


STAFF_PASSWORD = "browser test passphrase"
STAFF_ROLES = ("council", "command", "analyst", "admin")


def _add_staff(data_dir: Path) -> None:
    """One built-in user per staff role (`browser-<role>`), added before the app starts."""
    from dashboard import auth
    from dashboard.store import Store

    store = Store(data_dir / "dashboard.duckdb", idle_close=0)
    for role in STAFF_ROLES:
        if not store.rows("SELECT 1 FROM users WHERE username = ?", [f"browser-{role}"]):
            auth.add_user(store, f"browser-{role}", role, STAFF_PASSWORD, actor="tests")
    store.close()


@dataclass(frozen=True)
class App:
    url: str
    log_path: Path

    def log_tail(self, lines: int = 60) -> str:
        return _log_tail(self.log_path, lines)


@contextmanager
def serve(data_dir: Path, log_path: Path, extra_env: dict[str, str] | None = None,
          via_make: bool = True) -> Iterator[App]:
    """Run the app on a free port with its store in ``data_dir`` (staff users added first): as the
    README says (`make run PORT=...`), or straight with `streamlit run` on a store prepared already."""
    _add_staff(data_dir)
    port = _free_port()
    env = {**os.environ, "DASHBOARD_DATA_DIR": str(data_dir), **(extra_env or {})}
    command = (["make", "run", f"PORT={port}"] if via_make else
               [str(Path(sys.executable).parent / "streamlit"), "run", "app.py", "--server.port", str(port)])
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, start_new_session=True, stdin=subprocess.DEVNULL,
                                stdout=log_file, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _healthy(f"{base}/_stcore/health"):
            if proc.poll() is not None:
                pytest.fail(f"`{' '.join(command)}` exited with {proc.returncode} before the app answered.\n"
                            f"Log tail ({log_path}):\n{_log_tail(log_path)}")
            if time.monotonic() > deadline:
                pytest.fail(f"The app did not answer {base}/_stcore/health within {STARTUP_TIMEOUT_S} s.\n"
                            f"Log tail ({log_path}):\n{_log_tail(log_path)}")
            time.sleep(0.5)
        yield App(base, log_path)
    finally:
        # make -> streamlit: kill the whole session's process group, not just make.
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=5)


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """The app started as the README says (`make run PORT=...`) on a free port, with its own store."""
    with serve(tmp_path_factory.mktemp("store"), tmp_path_factory.mktemp("app") / "make-run.log") as running:
        yield running


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        message = (f"{CHROMIUM} is missing: install it with `apt-get install -y chromium` "
                   "(`make test` does it).")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("DASHBOARD_SCREENSHOT_DIR")
    if chosen:
        path = Path(chosen)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("screenshots")


@dataclass
class Traffic:
    """What one browser context asked for and what it showed."""

    requests: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    websockets: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)


@dataclass
class Session:
    """One browser tab on the app, with everything it requested recorded."""

    page: Page
    traffic: Traffic
    app: App
    screenshot_dir: Path

    def open(self, path: str, ready: str, role: str | None = None) -> None:
        """Go to a page (signing in as the `browser-<role>` user first when a role is given), wait until
        Streamlit has run it and `ready` (a selector) or an error box shows, and fail at once, with the
        app's log, if it is an error box."""
        self.page.goto(self.app.url + path, wait_until="domcontentloaded", timeout=LOAD_TIMEOUT_MS)
        if role:
            self.sign_in(f"browser-{role}", STAFF_PASSWORD)
        self.page.locator(f"{ready}, {ERROR_BOXES}").first.wait_for(state="attached", timeout=LOAD_TIMEOUT_MS)
        self.assert_no_error_box()
        self.wait_for_run()

    def sign_in(self, username: str, password: str) -> None:
        """Through the sidebar form, as a person would; waits for the rerun that follows."""
        page = self.page
        # Typing while the first run is still drawing the sidebar can lose the text: wait for it.
        expect(page.get_by_text("Staff sign-in")).to_be_visible(timeout=LOAD_TIMEOUT_MS)
        self.wait_for_run()
        user = page.get_by_label("User name")
        if not user.is_visible():
            page.get_by_text("Staff sign-in").click()
        user.fill(username)
        user.press("Tab")
        page.get_by_label("Password", exact=True).fill(password)
        page.get_by_label("Password", exact=True).press("Enter")  # submits the form
        expect(page.get_by_text(f"Signed in as {username}")).to_be_visible(timeout=LOAD_TIMEOUT_MS)
        self.wait_for_run()

    def wait_for_run(self) -> None:
        self.page.wait_for_selector(
            '[data-testid="stApp"][data-test-script-state="notRunning"]'
            '[data-test-connection-state="CONNECTED"]',
            state="attached",
            timeout=LOAD_TIMEOUT_MS,
        )

    def screenshot(self, name: str) -> Path:
        path = self.screenshot_dir / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def assert_no_error_box(self) -> None:
        boxes = self.page.locator(ERROR_BOXES)
        if boxes.count():
            pytest.fail(f"the page shows an error box:\n{boxes.first.inner_text()}\n\n"
                        f"App log tail ({self.app.log_path}):\n{self.app.log_tail()}")

    def assert_clean(self) -> None:
        """No error box, no request left this server, no dialog popped up, no uncaught JS error."""
        self.assert_no_error_box()
        external = list(self.traffic.external)
        if external:
            print("external requests (aborted):\n" + "\n".join(external))
        assert external == [], "the page asked for files from other hosts (aborted); it must work offline"
        foreign_ws = [url for url in self.traffic.websockets if urlparse(url).hostname not in LOCAL_HOSTS]
        assert foreign_ws == [], "websockets to other hosts"
        dialogs = list(self.traffic.dialogs)
        assert dialogs == [], "a JavaScript dialog fired"
        page_errors = list(self.traffic.page_errors)
        assert page_errors == [], "uncaught JavaScript errors on the page"
        failed = list(self.traffic.failed)
        assert failed == [], "local requests failed (a missing asset?)"
        # "Failed to load resource" is covered by the request checks above.
        script_errors = [text for text in self.traffic.console_errors if "Failed to load resource" not in text]
        assert script_errors == [], "errors in the browser console"


@pytest.fixture
def session(browser, app: App, screenshot_dir: Path, request: pytest.FixtureRequest) -> Iterator[Session]:
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    traffic = Traffic()

    def handle(route: Route) -> None:
        url = route.request.url
        traffic.requests.append(url)
        if urlparse(url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            traffic.external.append(url)
            route.abort()

    def on_dialog(dialog: Dialog) -> None:
        traffic.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def on_response(response: Response) -> None:
        # Streamlit's frontend first probes <page path>/_stcore/{health,host-config} (404) before the
        # root ones; that is how it finds its base URL, not a fault.
        if response.status >= 400 and not _STREAMLIT_PROBE.search(urlparse(response.url).path):
            traffic.failed.append(f"{response.status} {response.url}")

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            traffic.console_errors.append(f"{message.text} @ {message.location.get('url', '')}")

    context.route("**/*", handle)
    context.on("response", on_response)
    context.on("requestfailed", lambda req: None if urlparse(req.url).hostname not in LOCAL_HOSTS
               else traffic.failed.append(f"{req.failure} {req.url}"))
    page = context.new_page()
    page.on("dialog", on_dialog)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: traffic.page_errors.append(str(exc)))
    page.on("websocket", lambda ws: traffic.websockets.append(ws.url))
    try:
        yield Session(page, traffic, app, screenshot_dir)
    finally:
        # The state the test ended in (passed or not), for looking at afterwards.
        try:
            page.screenshot(path=str(screenshot_dir / f"{request.node.name}-end.png"), full_page=True)
        except PlaywrightError:
            pass
        print(f"screenshots in {screenshot_dir}")
        if traffic.console_errors:
            print("console errors:\n" + "\n".join(traffic.console_errors))
        context.close()


def map_frame(session: Session) -> FrameLocator:
    """The streamlit-folium iframe's content, once its Leaflet map has drawn the areas."""
    page = session.page
    expect(page.locator(MAP_IFRAME)).to_have_count(1, timeout=LOAD_TIMEOUT_MS)
    frame = page.frame_locator(MAP_IFRAME)
    expect(frame.locator(".leaflet-container")).to_be_visible(timeout=LOAD_TIMEOUT_MS)
    # 77 community areas: wait until well more than ten polygons are drawn.
    expect(frame.locator("path.leaflet-interactive").nth(10)).to_be_attached(timeout=LOAD_TIMEOUT_MS)
    return frame
