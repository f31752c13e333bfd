"""Files shipped with the package: the bundled configs and the small MNIST sample.

Both travel inside the wheel, so `actsearch run smoke` works from any folder after `pip
install`, not only inside a checkout; in a checkout the configs are its top-level configs/.
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


def configs_folder() -> Path:
    """Where the bundled configs are: inside the package when installed from a wheel (built
    from the repository's configs/), else the configs/ of the checkout the package runs from
    (an editable install, the tests)."""
    shipped = package_folder("configs")
    return shipped if shipped.is_dir() else Path(__file__).resolve().parent.parent / "configs"


def bundled_configs() -> dict[str, Path]:
    """{name: YAML file} of the configs shipped with actsearch, sorted by name."""
    files = configs_folder().glob("*.yaml")
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
    bundled config of that name (`mnist`, or `configs/mnist.yaml` outside a checkout);
    anything else is a one-line error naming the choices."""
    path = Path(config)
    if path.is_file():
        return path
    bundled = bundled_configs()
    if str(config) in bundled:
        return bundled[str(config)]
    if path.parent == Path("configs") and path.suffix == ".yaml" and path.stem in bundled:
        return bundled[path.stem]  # the checkout's command, run from another folder
    close = difflib.get_close_matches(Path(config).stem, bundled, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    raise UserError(f"config {config} is neither a file nor a bundled config ({hint}bundled: "
                    f"{', '.join(bundled)})")


def sample_data(name: str) -> Path:
    """A folder of the data shipped with actsearch (e.g. mnist-mini)."""
    return package_folder("sample_data") / name
