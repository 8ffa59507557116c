"""Order chat moderation engine (issue 13): pure, deterministic, no I/O.

``moderate(text, country_code=...)`` returns a ``Verdict`` (action allow / redact / block, reason
codes, spans over the original text, the redacted text, the normalised form and a fingerprint).
Design, measured figures and known misses: docs/messaging/moderation.md.
"""

from .engine import moderate
from .types import Action, Reason, Span, Verdict

__all__ = ["Action", "Reason", "Span", "Verdict", "moderate"]
