"""Applications built on the facade (:class:`~openautoglm.AutoGLM`): each a package with its own logic, reached
from the CLI (``cli/``) and the gateway (``server/routes/``). They use the facade's parts and typed store methods
only, never private state; nothing but ``cli`` and ``server`` imports them."""
