"""A minimal Chrome DevTools Protocol client over ``--remote-debugging-pipe`` (stdlib only).

Chromium reads commands from file descriptor 3 and writes replies and events to descriptor 4, each
message one JSON object ending in a NUL byte. No port is opened and no websocket library is needed.
"""

from __future__ import annotations

import fcntl
import json
import os
import queue
import subprocess
import threading
import time
from pathlib import Path

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
)


class CDPError(RuntimeError):
    """A command failed, or the browser did not answer in time."""


class Browser:
    """One headless Chromium and one page session on it; every event is kept in :attr:`events`."""

    def __init__(self, executable: str, user_data_dir: Path, timeout: float = 30.0):
        self.timeout = timeout
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def wire_fds() -> None:  # runs in the child: our pipe ends become its descriptors 3 and 4
            high_r = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
            high_w = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self.proc = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={user_data_dir}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,  # descriptors 3 and 4 must survive exec; the rest are close-on-exec
            preexec_fn=wire_fds,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self.events: list[dict] = []
        self._replies: dict[int, dict] = {}
        self._inbox: queue.Queue = queue.Queue()
        self._next_id = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.session = self._attach()

    def _read(self) -> None:
        buffer = b""
        while chunk := os.read(self._from_child, 1 << 16):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for message in messages:
                self._inbox.put(json.loads(message))
        self._inbox.put(None)

    def _pump(self, deadline: float) -> None:
        try:
            message = self._inbox.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return
        if message is None:
            raise CDPError(f"the browser exited (status {self.proc.poll()})")
        if "id" in message:
            self._replies[message["id"]] = message
        else:
            self.events.append(message)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send one command and wait for its reply; an error reply raises :class:`CDPError`."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while self._next_id not in self._replies:
            if time.monotonic() > deadline:
                raise CDPError(f"{method}: no reply in {self.timeout} s")
            self._pump(deadline)
        reply = self._replies.pop(self._next_id)
        if "error" in reply:
            raise CDPError(f"{method}: {reply['error']}")
        return reply["result"]

    def page(self, method: str, **params) -> dict:
        """Send a command to the page session."""
        return self.send(method, params, self.session)

    def wait_for(self, method: str) -> dict:
        """Wait for the next event ``method`` not yet waited for."""
        deadline = time.monotonic() + self.timeout
        seen = 0
        while True:
            for event in self.events[seen:]:
                if event.get("method") == method and not event.get("_taken"):
                    event["_taken"] = True
                    return event
            seen = len(self.events)
            if time.monotonic() > deadline:
                raise CDPError(f"no {method} event in {self.timeout} s")
            self._pump(deadline)

    def _attach(self) -> str:
        deadline = time.monotonic() + self.timeout
        while True:
            targets = self.send("Target.getTargets")["targetInfos"]
            pages = [t for t in targets if t["type"] == "page"]
            if pages:
                break
            if time.monotonic() > deadline:
                raise CDPError("the browser opened no page")
            time.sleep(0.05)
        result = self.send("Target.attachToTarget", {"targetId": pages[0]["targetId"], "flatten": True})
        return result["sessionId"]

    def evaluate(self, expression: str):
        """The JSON value of a JavaScript expression in the page; a thrown exception raises."""
        result = self.page("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise CDPError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def click(self, x: float, y: float) -> None:
        """A left click at viewport coordinates, as a user's mouse would."""
        for kind in ("mousePressed", "mouseReleased"):
            self.page("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def close(self) -> None:
        """Close the browser, killing it when it does not exit promptly."""
        try:
            self.send("Browser.close")
        except (CDPError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_child)
        self._reader.join(timeout=5)
        if not self._reader.is_alive():
            os.close(self._from_child)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
