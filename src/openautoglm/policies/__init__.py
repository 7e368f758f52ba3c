"""Routing policies as versioned data, and the loop that proposes, tries and keeps or rolls them back.

``document.py`` is what a policy says (validated, every knob bounded); ``book.py`` keeps the versions in the store and
applies the active one to the running router; ``signals.py`` gathers what the loop reads; ``stats.py`` the tests it
decides by; ``loop.py`` the loop itself. The book's poll and the loop's look run in the background on
``openautoglm.repeating``."""

from .document import Policy, RoutePolicy, diff_policies, policy_sections

__all__ = ["Policy", "RoutePolicy", "diff_policies", "policy_sections"]
