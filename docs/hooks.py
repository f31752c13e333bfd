"""MkDocs hooks (mkdocs.yml `hooks:`): the generated references, and links out of docs/.

- `<!-- actsearch:config-reference -->` and `<!-- actsearch:cli-reference -->` in a page are
  replaced by the references generated from actsearch.config and actsearch.cli.
- A link or image that leaves docs/ (`../results/reference/mnist-cpu/plots/val_loss.png`,
  `../configs/mnist.yaml`) is written as it reads on GitHub. In the site, an image is copied
  into the build from its one place in the repository (under `repo/`), and any other file or
  folder links to the repository on GitHub. A target that does not exist is a warning, so
  `mkdocs build --strict` fails on it.
"""

from __future__ import annotations

import logging
import posixpath
import re
import sys
from pathlib import Path

from mkdocs.structure.files import File

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the references describe this checkout's code

IMAGES = {".png", ".svg", ".jpg", ".jpeg", ".gif"}
COPIED = "repo"  # where images from outside docs/ land in the site
OUTSIDE_LINK = re.compile(r"(\]\()(\.\./[^)\s#]*)(#[^)\s]*)?(\))")
log = logging.getLogger("mkdocs.hooks.actsearch")


def _target(page_uri: str, link: str) -> Path | None:
    """The repository path a link from a page points to, if it leaves docs/."""
    docs = REPO / "docs"
    resolved = (docs / posixpath.dirname(page_uri) / link).resolve()
    if resolved.is_relative_to(docs) or not resolved.is_relative_to(REPO):
        return None
    return resolved


def on_files(files, config):
    """Register every image that a page links to outside docs/, so it is copied into the site."""
    wanted = set()
    for file in files.documentation_pages():
        for match in OUTSIDE_LINK.finditer(Path(file.abs_src_path).read_text()):
            target = _target(file.src_uri, match.group(2))
            if target is not None and target.suffix.lower() in IMAGES and target.is_file():
                wanted.add(target)
    for target in sorted(wanted):
        uri = f"{COPIED}/{target.relative_to(REPO).as_posix()}"
        files.append(File.generated(config, uri, abs_src_path=str(target)))
    return files


def _rewrite(page_uri: str, repo_url: str, match: re.Match) -> str:
    link, anchor = match.group(2), match.group(3) or ""
    target = _target(page_uri, link)
    if target is None:
        return match.group(0)
    rel = target.relative_to(REPO).as_posix()
    if not target.exists():
        log.warning("%s: link to %s, which is not in the repository", page_uri, link)
        return match.group(0)
    if target.suffix.lower() in IMAGES and target.is_file():
        new = posixpath.relpath(f"{COPIED}/{rel}", posixpath.dirname(page_uri) or ".")
    else:
        kind = "tree" if target.is_dir() else "blob"
        new = f"{repo_url.rstrip('/')}/{kind}/main/{rel}"
    return f"{match.group(1)}{new}{anchor}{match.group(4)}"


GENERATED = {
    "<!-- actsearch:config-reference -->": "config_reference",
    "<!-- actsearch:cli-reference -->": "cli_reference",
}


def _generated(which: str) -> str:
    if which == "config_reference":
        from actsearch.config_reference import config_reference_markdown

        return config_reference_markdown()
    from actsearch.cli_reference import cli_reference_markdown

    return cli_reference_markdown()


def on_page_markdown(markdown, page, config, files):
    for marker, which in GENERATED.items():
        if marker in markdown:
            markdown = markdown.replace(marker, _generated(which))
    return OUTSIDE_LINK.sub(lambda m: _rewrite(page.file.src_uri, config["repo_url"], m),
                            markdown)
