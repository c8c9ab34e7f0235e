"""``python -m bilancio.model.kernel``: load the model's kernel now, compiling it if no shipped
or cached object fits (an image's build step); ``--bundle`` compiles the generic kernel into the
package's ``objects/`` for this platform (after a change of the kernel's source or of the locked
numba or llvmlite)."""

import sys

from .loader import advance_fn, bundle, cache_key

if sys.argv[1:] in (["-h"], ["--help"]):
    print(__doc__)
elif sys.argv[1:] == ["--bundle"]:
    print(f"bilancio: wrote {bundle()}")
elif sys.argv[1:]:
    print(f"bilancio: unknown argument {sys.argv[1]!r}: allowed --bundle, --help", file=sys.stderr)
    sys.exit(2)
else:
    advance_fn()
    print(f"bilancio: the model kernel is loaded (key {cache_key()})")
