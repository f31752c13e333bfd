"""Files shipped inside the package: the example configs and the small MNIST sample.

They live in the package (not beside it) so that `pip install` from git or a wheel brings
them along: `actsearch run smoke` works from any folder, not only inside a checkout.
"""

from __future__ import annotations

import difflib
import re
from importlib import resources
from pathlib import Path

from actsearch.errors import UserError


def package_folder(name: str) -> Path:
    """A data folder of the installed package (a real directory: the package is never zipped)."""
    return Path(str(resources.files("actsearch") / name))


def bundled_configs() -> dict[str, Path]:
    """{name: YAML file} of the configs shipped with actsearch, sorted by name."""
    files = package_folder("configs").glob("*.yaml")
    return {p.stem: p for p in sorted(files, key=lambda p: p.stem)}


def config_description(path: Path) -> str:
    """The first sentence of a config's opening comment, which says what it is for."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return re.split(r"[:.](?:\s|$)", " ".join(lines), maxsplit=1)[0]


def resolve_config(config: str | Path) -> Path:
    """A config file given as a path or as a bundled name: an existing file wins, then a
    bundled config of that name; anything else is a one-line error naming the choices."""
    path = Path(config)
    if path.is_file():
        return path
    bundled = bundled_configs()
    if str(config) in bundled:
        return bundled[str(config)]
    close = difflib.get_close_matches(Path(config).stem, bundled, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    raise UserError(f"config {config} is neither a file nor a bundled config ({hint}bundled: "
                    f"{', '.join(bundled)})")


def sample_data(name: str) -> Path:
    """A folder of the data shipped with actsearch (e.g. mnist-mini)."""
    return package_folder("sample_data") / name
