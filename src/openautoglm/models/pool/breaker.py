"""A node's circuit breaker: calls stop going to a node that keeps failing, and one probe call tests its return."""

from __future__ import annotations

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class Breaker:
    """Closed until ``threshold`` consecutive failures; open for ``cooldown_s``; then half-open: one probe call
    decides (success closes, failure reopens)."""

    __slots__ = ("cooldown_s", "failures", "opened_at", "probing", "state", "threshold")

    def __init__(self, threshold: int = 5, cooldown_s: float = 30.0) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.state = CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self.probing = False

    def admits(self, now: float) -> bool:
        if self.state == CLOSED:
            return True
        if self.state == OPEN:
            if now - self.opened_at < self.cooldown_s:
                return False
            self.state = HALF_OPEN
            self.probing = False
        return not self.probing

    def claim(self) -> None:
        if self.state == HALF_OPEN:
            self.probing = True

    def success(self) -> None:
        self.failures = 0
        self.state = CLOSED
        self.probing = False

    def failure(self, now: float) -> None:
        self.failures += 1
        if self.state == HALF_OPEN or self.failures >= self.threshold:
            self.state = OPEN
            self.opened_at = now
        self.probing = False

    def hold_open(self, now: float, remaining_s: float) -> None:
        """Open for ``remaining_s`` more (a cooldown found in another process, or one their failures set), unless
        it is open longer already."""
        opened_at = now + remaining_s - self.cooldown_s
        if self.state == OPEN and self.opened_at >= opened_at:
            return
        self.state = OPEN
        self.opened_at = opened_at
        self.probing = False

    def cooled(self, now: float) -> bool:
        """Open (or half-open) long enough that a successful health probe may close it."""
        return self.state != CLOSED and now - self.opened_at >= self.cooldown_s
