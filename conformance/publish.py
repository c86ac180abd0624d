"""Writing what the suite publishes (reports, golden vectors, the compatibility matrix, SPEC.md).

Each file is written to a temporary file in its own directory and then renamed over the old one,
which replaces it in one step: a run that is interrupted or fails while writing leaves the old file
whole, never a truncated one. Missing directories are created.
"""

import contextlib
import os
import tempfile


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def replacing(path, binary=False):
    """A file object to write ``path``'s new content to; ``path`` is replaced when the block ends
    without an exception, and left as it was otherwise."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".partial", dir=directory)
    try:
        os.chmod(temporary, 0o666 & ~_umask())  # as open() would create it, not mkstemp's 0600
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as f:
            yield f
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_text(path, text):
    with replacing(path) as f:
        f.write(text)
