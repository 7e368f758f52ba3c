"""One exception tree for the whole project.

Every error a user can meet derives from :class:`AutoGLMError`; its message says what is wrong and, where it
can, what to do about it. The CLI prints ``str(error)`` on one line; the gateway maps ``http_status`` and
``error_type`` to its JSON error body.

::

    AutoGLMError
    ├── ConfigError                  bad autoglm.yaml / AUTOGLM_* value
    │   └── MissingExtraError        an optional dependency is not installed (also an ImportError)
    ├── PlanError                    a plan that cannot run
    │   ├── PlanValidationError      cycle, unknown step/tool/reference, arguments that do not fit the schema
    │   └── ClarificationNeeded      the request lacks something only the user can supply
    ├── ToolError                    a tool could not do its job
    │   ├── ToolNotFound
    │   ├── ToolArgumentError        arguments rejected by the tool's schema
    │   ├── ToolPermissionError      role not allowed, approval denied, SQL write refused
    │   ├── UnsafeTargetError        outbound address or path outside what is allowed (SSRF, traversal)
    │   └── WorkerLost               the cluster worker running a step died, more times than it is sent again
    ├── StepTimeout                  a step ran past its timeout
    │   └── TaskTimeout              a whole task ran past ``task_timeout_s``
    ├── ModelError                   a model node failed
    │   ├── ModelUnavailable         connection refused, timeout, 5xx: retryable elsewhere
    │   ├── ModelResponseError       malformed or unusable output, 4xx: not retryable
    │   │   └── ContextLengthExceeded  the prompt does not fit the model's context: fails the same anywhere
    │   └── NoNodeAvailable          nothing in the pool can serve the capability
    ├── StoreError                   persistence failed
    │   ├── NotFound                 no such task / session / node / key
    │   ├── TaskConflict             the task is held by another process's lease, or already finished (409)
    │   ├── PolicyConflict           a routing-policy change a pin or the history forbids (409)
    │   ├── TicketConflict           a support ticket already decided, or with no draft to approve (409)
    │   └── ApprovalConflict         an approval request already decided, expired or cancelled (409)
    ├── AuthError                    missing or bad credentials (401)
    │   ├── ForbiddenError           authenticated but not allowed (403)
    │   └── InvalidClient            OAuth 2: unknown client or wrong secret at the token endpoint (401)
    ├── OAuthRequestError            OAuth 2: a token request that is malformed or asks for another grant (400)
    └── RateLimited                  too many requests for this key (429, with retry_after)
"""

from __future__ import annotations


class AutoGLMError(Exception):
    """Root of every error Open-AutoGLM raises on purpose."""

    http_status = 500
    error_type = "internal_error"
    retryable = False
    # False when the failure is the input's own: a stand-in step given the same input would fail the same way.
    replannable = True


class ConfigError(AutoGLMError):
    http_status = 400
    error_type = "config_error"


class MissingExtraError(ConfigError, ImportError):
    """A module needs an optional dependency; the message names the extra that installs it. An ImportError too,
    so code that tries an optional import keeps working."""

    error_type = "missing_extra"


class PlanError(AutoGLMError):
    http_status = 400
    error_type = "plan_error"


class PlanValidationError(PlanError):
    """A plan failed validation; ``problems`` lists each finding in words."""

    error_type = "invalid_plan"

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid plan: " + "; ".join(self.problems))


class ClarificationNeeded(PlanError):
    """The request cannot be planned without an answer from the user."""

    error_type = "clarification_needed"

    def __init__(self, question: str, missing: list[str] | None = None) -> None:
        self.question = question
        self.missing = list(missing or [])
        super().__init__(question)


class ToolError(AutoGLMError):
    http_status = 502
    error_type = "tool_error"


class ToolNotFound(ToolError):
    http_status = 404
    error_type = "tool_not_found"


class ToolArgumentError(ToolError):
    http_status = 400
    error_type = "invalid_arguments"


class ToolPermissionError(ToolError):
    http_status = 403
    error_type = "permission_denied"


class UnsafeTargetError(ToolPermissionError):
    error_type = "unsafe_target"


class WorkerLost(ToolError):
    error_type = "worker_lost"


class StepTimeout(AutoGLMError):
    http_status = 504
    error_type = "timeout"
    retryable = True


class TaskTimeout(StepTimeout):
    error_type = "task_timeout"
    retryable = False


class ModelError(AutoGLMError):
    http_status = 502
    error_type = "model_error"


class ModelUnavailable(ModelError):
    retryable = True
    error_type = "model_unavailable"


class ModelResponseError(ModelError):
    error_type = "model_response_error"


class ContextLengthExceeded(ModelResponseError):
    """The prompt is longer than the model's context window. Retrying, on this node or another of the same model,
    fails the same way after the same wait, so nothing retries it, and no replan stands in for the step."""

    http_status = 400
    error_type = "context_length_exceeded"
    replannable = False


class NoNodeAvailable(ModelError):
    http_status = 503
    error_type = "no_node_available"


class StoreError(AutoGLMError):
    error_type = "store_error"


class NotFound(StoreError):
    http_status = 404
    error_type = "not_found"


class TaskConflict(StoreError):
    """What was asked of a task cannot be done in its state: another process holds its lease, or it finished."""

    http_status = 409
    error_type = "task_conflict"


class PolicyConflict(StoreError):
    """A routing policy change the state forbids: a pin holds, or there is no earlier version to roll back to."""

    http_status = 409
    error_type = "policy_conflict"


class TicketConflict(StoreError):
    """What an agent asked of a support ticket cannot be done in its state: decided already, or nothing to approve."""

    http_status = 409
    error_type = "ticket_conflict"


class ApprovalConflict(StoreError):
    """An approval request that is closed already: decided (by someone else, or twice), expired or cancelled."""

    http_status = 409
    error_type = "approval_conflict"


class AuthError(AutoGLMError):
    http_status = 401
    error_type = "authentication_error"


class ForbiddenError(AuthError):
    http_status = 403
    error_type = "permission_denied"


class InvalidClient(AuthError):
    error_type = "invalid_client"


class OAuthRequestError(AutoGLMError):
    """A token request the OAuth 2 way refuses; ``error_type`` is the RFC 6749 error code."""

    http_status = 400
    error_type = "invalid_request"

    def __init__(self, message: str, error_type: str = "invalid_request") -> None:
        self.error_type = error_type  # invalid_request | unsupported_grant_type
        super().__init__(message)


class RateLimited(AutoGLMError):
    """Too many requests for one key; ``retry_after`` says when the next one will be admitted."""

    http_status = 429
    error_type = "rate_limit_exceeded"
    retryable = True

    def __init__(self, message: str, retry_after: float) -> None:
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(max(1, int(retry_after + 0.999)))}
        super().__init__(message)
