"""The gateway (FastAPI on uvicorn). Its dependencies are the ``server`` extra."""

from ..extras import require_extra

require_extra("server", "the gateway", "fastapi", "starlette", "uvicorn", "jwt", "prometheus_client", "opentelemetry")
