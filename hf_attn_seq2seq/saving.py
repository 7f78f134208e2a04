"""Atomic saves: a save that is interrupted (a kill, a full disk) leaves the old files or the new ones, never a mix or
a truncated file.

The package's `save_pretrained`, the training CLI's model folder and the ONNX export all write through `write_staged`.
This module does not travel to the Hub with a model's code: a folder loaded with remote code alone saves the plain
transformers way.
"""

import ctypes
import errno
import os
import shutil
import tempfile
from pathlib import Path

from safetensors import SafetensorError


_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one step (Linux `renameat2(RENAME_EXCHANGE)`); False where the system or the file system
    has no such call."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(error, os.strerror(error), str(second))


def _process_umask() -> int:
    """The process's file-creation mask, read without changing it (`os.umask` can only be read by setting it, which
    other threads would see)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def _give_usual_permissions(staging: Path) -> None:
    """Temporary folders and files are created private (0700, 0600); what the save leaves behind gets the modes any
    other file of the user gets (0755 and 0644 under the usual umask 022)."""
    umask = _process_umask()
    for path in [staging, *staging.rglob("*")]:
        if not path.is_symlink():
            path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


def write_staged(target, write, whole_folder: bool, last: str = "config.json",
                 stale: tuple[str, ...] = ("model*.safetensors*",)):
    """The package's one way to save atomically: `write(staging)` fills a new folder beside `target`, which then
    replaces what `target` held; returns what `write` returned. Files and folders get the usual permissions (the
    umask's), not the temporary folder's private ones.

    - `whole_folder=False` (`save_pretrained`, an export into a folder it does not own): each written file moves into
      `target` with one rename, `last` last (it marks a complete save); other files in `target` stay, except those
      matching `stale` (weights of an earlier, differently sharded save) that this save did not write. An
      interruption leaves every file old or new, never truncated.
    - `whole_folder=True` (the training CLI's export, an ONNX export over an earlier one): the staging folder takes
      `target`'s place in one exchange (two renames where the system cannot swap folders), so a kill at any moment
      leaves the old or the new complete folder. The caller checks that `target` holds nothing it may not delete.
    """
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"{target} exists and is not a folder; move it away (it is not replaced or deleted).")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.saving-", dir=target.parent))
    try:
        try:
            result = write(staging)
        except (OSError, SafetensorError) as error:
            if getattr(error, "errno", None) == errno.ENOSPC or "os error 28" in str(error):
                raise OSError(errno.ENOSPC, f"No space left on the device to save {target}; nothing there was "
                              "replaced. Free some space and save again.") from None
            raise
        _give_usual_permissions(staging)
        if not whole_folder:
            target.mkdir(exist_ok=True)
            written = {path.name for path in staging.iterdir()}
            for pattern in stale:
                for old in target.glob(pattern):
                    if old.name not in written:
                        old.unlink()
            for name in sorted(written, key=lambda n: n == last):
                os.replace(staging / name, target / name)
        elif not target.exists():
            os.replace(staging, target)
        elif _exchange(staging, target):
            pass  # `staging` now holds the old folder, removed below; a kill first leaves it to the next export
        else:
            retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
            os.replace(target, retired / target.name)
            os.replace(staging, target)
            shutil.rmtree(retired, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result


__all__ = ["write_staged"]
