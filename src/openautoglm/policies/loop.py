"""The feedback loop: perceive (the router's signals, users' ratings from the store) -> propose a policy -> try it as
a canary on a share of calls -> compare it with the active one -> promote it or roll it back. A policy an operator
activates is verified the same way against the calls of the version before it, and rolled back if it is worse.

Decisions (``policies/stats.py``), checked at every tick once each side has ``min_calls`` calls:

- worse, rolled back at once: more failed calls (two-proportion z, one-sided, p < alpha), or slower (Mann-Whitney U,
  one-sided, p < alpha, median at least ``SLOWER`` x), or more bad ratings (two-proportion z, p < alpha);
- after ``window`` calls not worse: a canary is promoted; an activated version is kept.

So a bad policy is rolled back within ``window`` calls of it at the latest. The loop never touches a pinned policy
(every write it makes is conditional on no pin and on the active version it saw), never proposes a weight of 0
(so it cannot take every node of a capability out), and every knob it writes is within the document's bounds.
Every step is logged with its figures: ``policy.proposed``, ``policy.canary``, ``policy.promoted``,
``policy.rolled_back``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import structlog

from ..config import PolicySettings
from ..errors import AutoGLMError
from ..events import EventKind
from ..models.pool import Router
from ..models.pool.signals import CallOutcome, Signals
from ..repeating import Repeating
from .book import PolicyBook
from .document import MAX_WEIGHT, Policy, RoutePolicy, diff_policies
from .stats import mann_whitney_greater, two_proportions_greater

log = structlog.get_logger("openautoglm.policies.loop")

AUTHOR = "loop"
SLOWER = 1.1  # a latency difference smaller than this ratio of medians is not called worse
RECENT = 40  # calls of a node (and ratings of it) a proposal reads
STALE_CALLS = 200  # a node unseen for this many calls is probed again with a modest weight
PROBE_WEIGHT = 0.3
MIN_WEIGHT = 0.02  # the loop's floor of a node's share relative to the best: a trickle, so its recovery is seen
MIN_POLICY_WEIGHT = 0.001  # never 0: the loop cannot take a node (or every node) out of a capability
CHANGE = 0.25  # a proposal must move some weight by more than this (relative) to be worth a canary
ERROR_LIMIT_AT = 0.2  # a node failing more often than this gets its concurrency capped
CAPPED_LIMIT = 4
MIN_RATINGS = 10


@dataclass
class Trial:
    """A policy under test: a canary beside the active one, or a newly activated one against its predecessor."""

    version: int | None
    against: int | None
    canary: bool
    start_seq: int
    baseline: list[CallOutcome] = field(default_factory=list)  # a verification's control: calls before
    rated: int = 0  # the version's ratings when the trial began
    bad: int = 0


class PolicyLoop:
    """One loop over one router and one book. :meth:`tick` is one look; :meth:`start` ticks every ``interval_s``."""

    def __init__(self, book: PolicyBook, router: Router, settings: PolicySettings | None = None) -> None:
        self.book = book
        self.router = router
        self.settings = settings or PolicySettings()
        self.trial: Trial | None = None
        self.known_active: int | None = book.state().active
        self.feedback_seen = 0
        self._ticker = Repeating(self._tick, log, "policy loop tick failed")

    @property
    def signals(self) -> Signals:
        return self.router.signals

    # -- one look ---------------------------------------------------------------------------------------------

    def tick(self) -> str | None:
        """Read new ratings, then decide one thing; what it did (proposed, promoted, rolled_back...) or None."""
        self._read_feedback()
        self.book.sync()
        state = self.book.state()
        if state.pinned:
            if self.trial is not None and self.trial.canary:
                return self._stop_canary({"reason": "pinned"})
            self.trial = None
            self.known_active = state.active
            return None
        if state.active != self.known_active:  # an operator (or another loop) changed it: verify it
            if self.trial is not None and self.trial.canary:
                self.router.arms.end_canary()
            rated, bad = self._rating_marks(state.active)
            self.trial = Trial(state.active, self.known_active, False, self.signals.seq,
                               self.signals.since(0, self.known_active)[-self.settings.window:], rated, bad)
            self.known_active = state.active
            log.info("verifying an activated policy", version=state.active, against=self.trial.against)
        if self.trial is not None:
            return self._judge(self.trial)
        return self._propose(state.active)

    def _read_feedback(self) -> None:
        for record in self.book.store.feedback_since(self.feedback_seen):
            if record.id is not None:
                self.feedback_seen = max(self.feedback_seen, record.id)
            if record.rating:
                versions = [record.policy_version] if record.policy_version is not None else []
                self.signals.rating(record.nodes, record.rating, versions)

    def _rating_marks(self, version: int | None) -> tuple[int, int]:
        return self.signals.rated.get(version, 0), self.signals.bad.get(version, 0)

    # -- judging a trial --------------------------------------------------------------------------------------

    def compare(self, trial: Trial) -> tuple[str, dict[str, Any]]:
        """``worse``, ``not_worse`` (window reached) or ``wait``, with the figures."""
        treated = self.signals.since(trial.start_seq, trial.version)
        control = (self.signals.since(trial.start_seq, trial.against) if trial.canary else trial.baseline)
        figures: dict[str, Any] = {"calls": [len(treated), len(control)], "alpha": self.settings.alpha}
        if len(treated) < self.settings.min_calls or len(control) < self.settings.min_calls:
            return "wait", figures
        errors = two_proportions_greater(sum(not c.ok for c in treated), len(treated),
                                         sum(not c.ok for c in control), len(control))
        latency = mann_whitney_greater([c.latency_s for c in treated if c.ok], [c.latency_s for c in control if c.ok])
        rated = self.signals.rated.get(trial.version, 0) - trial.rated
        bad = self.signals.bad.get(trial.version, 0) - trial.bad
        control_rated, control_bad = self._control_ratings(trial)
        ratings = two_proportions_greater(bad, rated, control_bad, control_rated)
        figures.update(errors=errors, latency=latency, ratings=ratings)
        alpha = self.settings.alpha
        slower = latency["p"] < alpha and (latency.get("median_ratio") or 0) >= SLOWER
        worse_rated = rated >= MIN_RATINGS and ratings["p"] < alpha
        if errors["p"] < alpha or slower or worse_rated:
            return "worse", figures
        if len(treated) >= self.settings.window:
            return "not_worse", figures
        return "wait", figures

    def _control_ratings(self, trial: Trial) -> tuple[int, int]:
        """Ratings of the control side: a canary's rival since the trial began would need a start mark per side,
        so the rival's recent ratings stand in (the last ``FEEDBACK_KEPT`` of its version)."""
        recent = list(self.signals.version_ratings.get(trial.against, ()))
        return len(recent), sum(1 for r in recent if r < 0)

    def _judge(self, trial: Trial) -> str | None:
        verdict, figures = self.compare(trial)
        if verdict == "wait":
            return None
        self.trial = None
        if verdict == "worse":
            if trial.canary:
                return self._stop_canary(figures)
            done = self.book.rollback(AUTHOR, "worse than the version before it", test=_plain(figures), by_loop=True)
            self.known_active = self.book.state().active
            log.warning("policy rolled back", version=trial.version, to=trial.against, applied=done is not None)
            return "rolled_back" if done is not None else None
        if not trial.canary:
            return "kept"
        self.router.arms.end_canary()
        done = self.book.store.switch_policy(
            EventKind.POLICY_PROMOTED, trial.version, author=AUTHOR, reason="not worse over the window",
            data={"previous": trial.against, "test": _plain(figures)}, unless_pinned=True,
            expect_active=trial.against)
        self.book.sync()
        self.known_active = self.book.state().active
        log.info("policy promoted", version=trial.version, applied=done is not None)
        return "promoted" if done is not None else None

    def _stop_canary(self, figures: dict[str, Any]) -> str:
        trial = self.trial
        self.router.arms.end_canary()
        self.trial = None
        if trial is not None:
            self.book.store.log_policy(EventKind.POLICY_ROLLED_BACK, trial.version, AUTHOR, "canary worse",
                                       {"to": trial.against, "test": _plain(figures), "canary": True})
        return "rolled_back"

    # -- proposing --------------------------------------------------------------------------------------------

    def propose(self, active: int | None) -> tuple[Policy, dict[str, Any]] | None:
        """A policy from the signals (reweighed nodes, capped concurrency), or None when it would change too little."""
        current = self.book.document(active) if active is not None else Policy()
        routes = dict(current.routes)
        figures: dict[str, Any] = {}
        for capability, names in self.signals.capabilities().items():
            members = {n.name for n in self.router.members.candidates(capability)}
            names = [n for n in names if n in members]
            if len(names) < 2:
                continue
            weights, limits, seen = self._weigh(capability, names)
            figures[capability] = seen
            base = routes.get(capability) or RoutePolicy()
            routes[capability] = base.model_copy(update={"weights": weights, "limits": limits})
        proposal = Policy(routes=routes, sections=current.sections)
        if not _moved(current, proposal):
            return None
        return proposal, figures

    def _weigh(self, capability: str, names: list[str]) -> tuple[dict[str, float], dict[str, int], dict[str, Any]]:
        scores: dict[str, float] = {}
        seen: dict[str, Any] = {}
        stale: set[str] = set()
        for name in names:
            entry = self.signals.node(capability, name)
            median = entry.median_latency_s(RECENT)
            errors, bad = entry.error_rate(RECENT), entry.bad_rating_rate(RECENT)
            seen[name] = {"median_ms": None if median is None else round(median * 1000, 2),
                          "error_rate": round(errors, 3), "bad_rating_rate": round(bad, 3), "calls": entry.calls}
            if median is None or self.signals.seq - entry.last_seq > STALE_CALLS:
                stale.add(name)
                continue
            scores[name] = (1 - errors) ** 2 * (1 - bad) ** 2 / max(median, 1e-4)
        best = max(scores.values(), default=0.0)
        fastest = min((self.signals.node(capability, n).median_latency_s(RECENT) or 1.0 for n in scores), default=1.0)
        weights: dict[str, float] = {}
        for name in names:
            if name in stale or best <= 0:
                weights[name] = PROBE_WEIGHT
                continue
            # The share wanted relative to the best node, divided by the preference the router's EWMA already
            # gives for speed (its weight goes as 1 / latency), so a fast node with bad answers stays a trickle.
            share = max(MIN_WEIGHT, scores[name] / best)
            speed = (self.signals.node(capability, name).median_latency_s(RECENT) or fastest) / max(fastest, 1e-4)
            weights[name] = round(min(MAX_WEIGHT, max(MIN_POLICY_WEIGHT, share * speed)), 4)
        limits = {name: CAPPED_LIMIT for name in names
                  if name not in stale and self.signals.node(capability, name).error_rate(RECENT) > ERROR_LIMIT_AT}
        return weights, limits, seen

    def _propose(self, active: int | None) -> str | None:
        made = self.propose(active)
        if made is None:
            return None
        policy, figures = made
        changes = diff_policies(self.book.document(active) if active is not None else Policy(), policy)
        try:
            record = self.book.create(policy.model_dump(exclude_defaults=True), AUTHOR, "from the signals",
                                      origin="loop", parent=active)
        except AutoGLMError as exc:  # a proposal out of bounds is a bug of the loop: say so, keep routing
            log.error("proposal refused", error=str(exc))
            return None
        store = self.book.store
        store.log_policy(EventKind.POLICY_PROPOSED, record.version, AUTHOR, "from the signals",
                         {"against": active, "changes": changes, "figures": figures})
        share, window = self.settings.canary_share, self.settings.window
        self.router.arms.try_canary(record.version, policy, share)
        store.log_policy(EventKind.POLICY_CANARY, record.version, AUTHOR, None,
                         {"against": active, "share": share, "window": window})
        rated, bad = self._rating_marks(record.version)
        self.trial = Trial(record.version, active, True, self.signals.seq, [], rated, bad)
        return "proposed"

    # -- running ----------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._ticker.start(self.settings.interval_s)

    async def _tick(self) -> None:
        self.tick()  # on the event loop: the signals it reads are appended to there

    async def aclose(self) -> None:
        await self._ticker.aclose()


def _moved(old: Policy, new: Policy) -> bool:
    """Some weight moved by more than CHANGE (relative), or a limit was set or lifted."""
    for capability, route in new.routes.items():
        before = old.routes.get(capability) or RoutePolicy()
        if route.limits != before.limits:
            return True
        for name, weight in route.weights.items():
            was = before.weight(name)
            if abs(weight - was) > CHANGE * max(weight, was):
                return True
    return False


def _plain(figures: dict[str, Any]) -> dict[str, Any]:
    """Figures as JSON keeps them (p-values rounded, so the log reads well)."""
    out: dict[str, Any] = {}
    for key, value in figures.items():
        if isinstance(value, dict):
            out[key] = _plain(value)
        elif isinstance(value, float):
            out[key] = float(f"{value:.6g}")
        else:
            out[key] = value
    return out
