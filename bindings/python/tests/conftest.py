"""Makes the in-tree package importable without installing it, so that
`pytest bindings/python/tests` works from the repository root; an installed
copy is used only when this tree's is absent."""
import os
import sys

_PKG_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _PKG_ROOT not in sys.path:
    sys.path.insert(0, _PKG_ROOT)
