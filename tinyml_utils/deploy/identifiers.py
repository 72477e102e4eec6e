"""C identifiers derived from model names (shared by every C generator of ``deploy``)."""

from __future__ import annotations

import re

from tinyml_utils.core.errors import DataError

#: C and C++ keywords a derived identifier must not equal.
_RESERVED = frozenset(
    """auto break case char const continue default do double else enum extern float for goto if
    inline int long register restrict return short signed sizeof static struct switch typedef
    union unsigned void volatile while bool class delete new this true false namespace template
    alignas alignof""".split()
)


def c_identifier(name: str) -> str:
    """A valid, readable C identifier from a model name: ``"KWS model-v2"`` -> ``kws_model_v2``.

    Lower-case, every run of other characters becomes ``_``, a leading digit gets ``m_`` in
    front, keywords get a ``_model`` suffix. Raises DataError if nothing usable is left.
    """
    ident = re.sub(r"[^0-9a-zA-Z]+", "_", str(name)).strip("_").lower()
    if not ident:
        raise DataError(
            f"cannot derive a C identifier from the name {name!r}: give a name with letters, "
            "e.g. name='carsensor'."
        )
    if ident[0].isdigit():
        ident = "m_" + ident
    if ident in _RESERVED:
        ident += "_model"
    return ident
