"""Open a fit-check page in headless Chromium and report what happened (tests and ``--check``).

Chromium is driven through the Chrome DevTools protocol over a pipe (``--remote-debugging-pipe``:
JSON messages ending in a NUL byte on file descriptors 3 and 4), so nothing listens on a port and
no extra Python package is needed. :func:`open_page` loads a ``file://`` page, collects console
errors, uncaught exceptions and failed loads, waits until the page says its 3D viewers have
loaded (``<body data-viewers-loaded="N">`` equal to ``data-viewers``), then saves a screenshot
and the DOM.

WebGL runs on SwiftShader (Chromium's CPU rasteriser), so the page works without a GPU.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import MissingDependencyError
from engine.types import PathLikeStr

#: binaries tried in order (Debian's package installs /usr/bin/chromium).
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """Path of a Chromium binary (``$ATELIER_CHROMIUM`` first, then :data:`CHROMIUM_NAMES` on PATH), or None."""
    env = os.environ.get("ATELIER_CHROMIUM")
    if env and Path(env).is_file():
        return env
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageReport:
    """What the browser saw.

    Attributes:
        url: the page opened.
        console_errors: console.error messages, uncaught exceptions and failed loads, in order.
        console_messages: every console message as "type: text".
        viewers: 3D viewers on the page (``data-viewers``).
        viewers_loaded: viewers whose model loaded (``data-viewers-loaded``).
        title: document title when done.
        dom: the final DOM (``outerHTML``).
        screenshot: path of the PNG written, or None.
        seconds: wall time from launch to screenshot, s.
        timed_out: the viewers did not all load within the time limit.
    """

    url: str
    console_errors: list[str] = field(default_factory=list)
    console_messages: list[str] = field(default_factory=list)
    viewers: int = 0
    viewers_loaded: int = 0
    title: str = ""
    dom: str = ""
    screenshot: Path | None = None
    seconds: float = 0.0
    timed_out: bool = False


class _Pipe:
    """Minimal CDP client over Chromium's debugging pipe."""

    def __init__(self, proc: subprocess.Popen, to_browser: int, from_browser: int):
        self.proc, self.w, self.r = proc, to_browser, from_browser
        self.buf = b""
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30.0) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        want = self.next_id
        deadline = time.monotonic() + timeout
        while True:
            for m in self._read(deadline):
                if m.get("id") == want:
                    if "error" in m:
                        raise RuntimeError(f"CDP {method}: {m['error']}")
                    return m.get("result", {})
                if "method" in m:
                    self.events.append(m)

    def pump(self, seconds: float) -> None:
        """Read events for up to ``seconds``."""
        try:
            for m in self._read(time.monotonic() + seconds, once=True):
                if "method" in m:
                    self.events.append(m)
        except TimeoutError:
            pass

    def _read(self, deadline: float, once: bool = False):
        while True:
            while b"\0" in self.buf:
                raw, self.buf = self.buf.split(b"\0", 1)
                yield json.loads(raw)
            left = deadline - time.monotonic()
            if left <= 0:
                if once:
                    return
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self.r], [], [], min(left, 0.5))
            if ready:
                chunk = os.read(self.r, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"Chromium closed the debugging pipe (exit code {self.proc.poll()})")
                self.buf += chunk
            elif once and not self.buf:
                return


def chromium_flags(profile: PathLikeStr) -> list[str]:
    """Headless flags: no network chatter, a throwaway profile, WebGL on SwiftShader."""
    return [
        "--headless", "--no-sandbox", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
        "--mute-audio", "--hide-scrollbars", f"--user-data-dir={profile}",
        "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist",
        "--remote-debugging-pipe",
    ]


def _text_of(args: list[dict]) -> str:
    parts = []
    for a in args:
        if "value" in a:
            parts.append(str(a["value"]))
        else:
            parts.append(a.get("description") or a.get("type", ""))
    return " ".join(parts)


def _collect(events: list[dict], report: PageReport) -> None:
    for e in events:
        m, p = e["method"], e.get("params", {})
        if m == "Runtime.consoleAPICalled":
            text = _text_of(p.get("args", []))
            report.console_messages.append(f"{p.get('type')}: {text}")
            if p.get("type") in ("error", "assert"):
                report.console_errors.append(f"console.{p.get('type')}: {text}")
        elif m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            exc = d.get("exception", {}).get("description") or d.get("text", "exception")
            report.console_errors.append(f"uncaught: {exc}")
        elif m == "Log.entryAdded":
            entry = p.get("entry", {})
            report.console_messages.append(f"{entry.get('level')}: {entry.get('text')}")
            if entry.get("level") == "error":
                report.console_errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip())
    events.clear()


def open_page(
    page: PathLikeStr,
    screenshot: PathLikeStr | None = None,
    width: int = 1280,
    height: int = 1600,
    timeout: float = 90.0,
    chromium: str | None = None,
) -> PageReport:
    """Open ``page`` (a local HTML file) in headless Chromium and report on it.

    Args:
        page: the HTML file (opened as a ``file://`` URL).
        screenshot: PNG path for a full-page screenshot (``width`` wide), or None.
        width, height: viewport, CSS pixels.
        timeout: seconds to wait for the page's viewers to load.
        chromium: the browser binary (default :func:`find_chromium`).

    Returns:
        :class:`PageReport`.

    Raises:
        MissingDependencyError: no Chromium binary.
        RuntimeError: Chromium exited or stopped answering.
    """
    exe = chromium or find_chromium()
    if exe is None:
        raise MissingDependencyError("no Chromium binary found (looked for " + ", ".join(CHROMIUM_NAMES) + ")",
                                     hint="apt-get install -y chromium (Debian), or set ATELIER_CHROMIUM")
    url = Path(page).resolve().as_uri()
    report = PageReport(url=url)
    t0 = time.monotonic()
    profile = tempfile.mkdtemp(prefix="atelier-chromium-")
    to_r, to_w = os.pipe()
    from_r, from_w = os.pipe()

    def child_fds():  # in the child: the pipe ends become fds 3 (commands in) and 4 (answers out)
        a, b = os.dup(to_r), os.dup(from_w)  # above 4 either way, so the two dup2 cannot clobber
        os.dup2(a, 3)
        os.dup2(b, 4)

    # close_fds=False: subprocess would otherwise close fds 3 and 4 after preexec_fn; Python's own
    # fds are not inheritable (PEP 446), so nothing else leaks into the browser.
    proc = subprocess.Popen([exe, *chromium_flags(profile), "about:blank"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=False,
                            preexec_fn=child_fds)
    os.close(to_r)
    os.close(from_w)
    cdp = _Pipe(proc, to_w, from_r)
    try:
        targets = cdp.send("Target.getTargets", timeout=60)["targetInfos"]
        pages = [t["targetId"] for t in targets if t.get("type") == "page"]
        target = pages[0] if pages else cdp.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        sid = cdp.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            cdp.send(f"{domain}.enable", session=sid)
        cdp.send("Page.bringToFront", session=sid)  # a background tab gets no animation frames
        cdp.send("Emulation.setFocusEmulationEnabled", {"enabled": True}, session=sid)
        cdp.send("Emulation.setDeviceMetricsOverride",
                 {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=sid)
        cdp.send("Page.navigate", {"url": url}, session=sid)
        deadline = time.monotonic() + timeout
        state = {}
        while True:
            cdp.pump(0.5)
            r = cdp.send("Runtime.evaluate", {"expression": (
                "JSON.stringify({ready: document.readyState, n: +(document.body && document.body.dataset.viewers || 0),"
                " done: +(document.body && document.body.dataset.viewersLoaded || 0),"
                " failed: +(document.body && document.body.dataset.viewersFailed || 0), title: document.title})"),
                "returnByValue": True}, session=sid)
            state = json.loads(r.get("result", {}).get("value") or "{}")
            if state.get("ready") == "complete" and state.get("done", 0) + state.get("failed", 0) >= state.get("n", 0):
                break
            if time.monotonic() > deadline:
                report.timed_out = True
                break
        cdp.pump(1.0)  # let a last frame draw and late messages arrive
        report.viewers, report.viewers_loaded = int(state.get("n", 0)), int(state.get("done", 0))
        report.title = state.get("title", "")
        dom = cdp.send("Runtime.evaluate", {"expression": "document.documentElement.outerHTML", "returnByValue": True},
                       session=sid)
        report.dom = dom.get("result", {}).get("value", "")
        if screenshot is not None:
            shot = cdp.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=sid,
                            timeout=120)
            path = Path(screenshot)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(base64.b64decode(shot["data"]))
            report.screenshot = path
        _collect(cdp.events, report)
        try:
            cdp.send("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError):
            pass
    finally:
        os.close(to_w)
        os.close(from_r)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
    report.seconds = time.monotonic() - t0
    return report


__all__ = ["PageReport", "open_page", "find_chromium", "chromium_flags", "CHROMIUM_NAMES"]
