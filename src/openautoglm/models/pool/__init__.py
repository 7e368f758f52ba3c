"""The pool of model nodes (the router): breaker, node stats, strategies with the hash ring, membership, admission,
the retry/fallback walk and the response cache hook. The pool knows no backend: it is given a node factory."""

from .breaker import CLOSED, HALF_OPEN, OPEN, Breaker
from .cache import ResponseCache
from .membership import Membership, NodeFactory
from .node import PoolNode
from .router import PinnedModel, Router
from .strategies import HashRing, Strategy, strategies

__all__ = ["CLOSED", "HALF_OPEN", "OPEN", "Breaker", "HashRing", "Membership", "NodeFactory", "PinnedModel",
           "PoolNode", "ResponseCache", "Router", "Strategy", "strategies"]
