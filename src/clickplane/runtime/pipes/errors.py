"""What a pipe's source or destination can refuse."""

from __future__ import annotations

from clickplane.runtime.base import RuntimeFailure


class SourceProblem(RuntimeFailure):
    """The source cannot be used as asked: unreachable, refused, or lacking something the pipe needs. The message
    says what is wrong and what to do; the API shows it as a 400 at create and the pipe shows it once running."""
