"""The composer: one reply in the request's language from the step results, an honest status and a confidence.

- :mod:`.composer`      ``Composer.compose(ComposeInput) -> Composed``: picks the writer, records what it did
- :mod:`.outcomes`      what each part came to (tool fact, knowledge, checked writing, failed, unsupported)
- :mod:`.deterministic` the reply from each tool's own sentence (``Tool.answer``), joined as prose
- :mod:`.model_writer`  a capable model's reply, kept only when grounded in the results
- :mod:`.grounding`     every number, date and name of a text found in the results?
- :mod:`.checks`        loops, wrong language, echoed prompt, leaked instructions, empty text
- :mod:`.confidence`    the status and the confidence formula
- :mod:`.language`      the reply's language
"""

from .base import Composed, ComposeInput, Status
from .checks import text_problems
from .composer import Composer
from .language import reply_language

__all__ = ["ComposeInput", "Composed", "Composer", "Status", "reply_language", "text_problems"]
