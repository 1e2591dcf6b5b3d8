"""Selection errors that show where in the selection the problem is."""
from __future__ import annotations

from typing import Optional

from datamake.core.errors import SelectionError


def empty_argument() -> SelectionError:
    """For ``datamake make "$UNSET"``: an empty argument is refused, not taken for every asset."""
    return SelectionError('the selection has an empty argument ("")',
                          hint="a shell variable that is not set? Name assets, or give no selection for every asset")


def located(text: str, start: int, end: int, message: str, hint: Optional[str] = None) -> SelectionError:
    """A :class:`SelectionError` for ``text[start:end]``: the message, the column, the text and a caret line."""
    width = max(1, end - start)
    return SelectionError(f"{message} (column {start + 1} of the selection)\n    {text}\n    {' ' * start}{'^' * width}",
                          hint=hint)
