"""Reading inputs and writing outputs safely: nobody sees half a file, and relsim never touches what it did not write.

- :mod:`sim.files.atomic`: :func:`atomic_write` writes a file beside its target and renames it into place
  (durably); :func:`stale_temporaries` finds what a killed writer left.
- :mod:`sim.files.reading`: :func:`read_toml` reads every TOML input (configs and specs) the same way: a size cap,
  UTF-8, one-line errors.
- :mod:`sim.files.folders`: :func:`output_folder` claims a folder for one command (a marker file, :data:`MARKER`,
  names what relsim wrote there; a lock, :data:`LOCK`, refuses a second command at the same time; a folder holding
  anything else is refused unless ``force``, and then its files are never replaced or removed);
  :func:`check_output` makes the same checks creating nothing; :func:`staged_folder` publishes a command's outputs
  whole.

Every name is importable from here (``from sim.files import atomic_write``); that is how the rest of relsim uses it.
"""

from sim.files.atomic import TEMPORARY, atomic_write, stale_temporaries
from sim.files.folders import LOCK, MARKER, RESERVED, STAGING, check_output, output_folder, staged_folder
from sim.files.reading import MAX_TOML_BYTES, read_toml

__all__ = [
    "LOCK",
    "MARKER",
    "MAX_TOML_BYTES",
    "RESERVED",
    "STAGING",
    "TEMPORARY",
    "atomic_write",
    "check_output",
    "output_folder",
    "read_toml",
    "staged_folder",
    "stale_temporaries",
]
