"""``python -m openautoglm.testing --port 8901 --mode echo``: a fake OpenAI-compatible server in its own process."""

from .fake_openai import main

main()
