"""The generated references of the documentation site: every config key is described, and
every key of every bundled config and every CLI command and option is in the references."""

import argparse
import dataclasses
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from actsearch.cli import build_parser
from actsearch.cli_reference import cli_reference_markdown
from actsearch.config import Config, known_keys
from actsearch.config_reference import (
    config_reference_markdown,
    field_descriptions,
    reference_keys,
)

ROOT = Path(__file__).resolve().parent.parent


def test_every_config_key_has_a_description():
    missing = [k.key for k in reference_keys() if not k.description.strip()]
    assert not missing, ("give these config keys a trailing # comment in actsearch/config.py: "
                         f"{missing}")


def test_the_reference_has_every_key_the_config_accepts():
    documented = {k.key for k in reference_keys()}
    assert set(known_keys()) <= documented, sorted(set(known_keys()) - documented)
    # keys inside lists of sections and optional sections, as --set and YAML take them
    for key in ("training.shuffle", "search.rungs", "search.rungs[].epochs",
                "search.rungs[].model", "training.optimizer.schedule",
                "training.optimizer.schedule.warmup_epochs", "search.confirm.baselines"):
        assert key in documented, key
    by_key = {k.key: k for k in reference_keys()}
    assert by_key["training.epochs"].default == "100"
    assert by_key["model.activations"].default.startswith("[sigmoid, relu")
    assert by_key["training.optimizer.clipvalue"].type == "float or null"
    assert "top fraction" in by_key["search.keep"].description


@dataclass
class _Commented:
    plain: int = 1  # on one line
    wrapped: str = "x"  # begins here
    #   and goes on here,
    #     and here
    # Says what the next key does.
    led: bool = True  # its own comment
    spread: list[int] = field(default_factory=lambda: [1,
                                                       2])  # after a default on two lines
    bare: float = 0.5


def test_descriptions_follow_continuation_lines_and_leading_blocks():
    described = field_descriptions(_Commented)
    assert described == {
        "plain": "on one line",
        "wrapped": "begins here and goes on here, and here",
        "led": "its own comment. Says what the next key does.",
        "spread": "after a default on two lines",
        "bare": "",
    }


def _schema_keys(raw: dict, cls: type, prefix: str = "") -> set[str]:
    """The dotted keys a YAML mapping sets, following the config's sections: `search.rungs[]`
    for keys inside a list of sections; mappings of free keys (sweep, options, a rung's
    model and data) stop at their own key, their inner keys are checked by the caller."""
    keys = set()
    hints = typing.get_type_hints(cls)
    for name, value in raw.items():
        tp, dotted = hints[name], prefix + name
        section = next((t for t in (tp, *typing.get_args(tp)) if dataclasses.is_dataclass(t)),
                       None)
        if section is not None and isinstance(value, dict):
            keys |= _schema_keys(value, section, dotted + ".")
        elif section is not None and isinstance(value, list):
            keys.add(dotted)
            for item in value:
                keys |= _schema_keys(item, section, dotted + "[].")
        else:
            keys.add(dotted)
    return keys


def _transferred_keys(raw: dict) -> set[str]:
    """The model and data keys a search's rungs and confirm run replace (model.architecture)."""
    search = raw.get("search", {})
    found = set()
    for part in [*search.get("rungs", []), search.get("confirm", {})]:
        for section in ("model", "data"):
            found |= {f"{section}.{key}" for key in part.get(section, {})}
    return found


def test_every_key_of_every_bundled_config_is_in_the_reference():
    named = {re.sub(r"<wbr>", "", name)
             for name in re.findall(r"<code>(.*?)</code>", config_reference_markdown())}
    configs = sorted((ROOT / "configs").glob("*.yaml"))
    assert len(configs) >= 7
    for path in configs:
        raw = yaml.safe_load(path.read_text())
        keys = (_schema_keys(raw, Config) | _transferred_keys(raw)
                | set(raw.get("sweep", {})))
        assert keys
        missing = sorted(k for k in keys if k not in named)
        assert not missing, f"{path.name}: {missing}"


def test_the_cli_reference_names_every_command_and_option():
    markdown = cli_reference_markdown()
    parser = build_parser()
    (sub_action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(sub_action.choices) >= {"run", "search", "plot", "list", "configs", "activations"}
    for name, sub in sub_action.choices.items():
        assert f"## `actsearch {name}`" in markdown
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"actsearch {name}: {action.dest} has no help text"
            label = action.option_strings[0] if action.option_strings else (action.metavar
                                                                            or action.dest)
            assert label in markdown, (name, label)
            assert action.help.split("(")[0].strip()[:30] in markdown.replace("\\|", "|")


def _slug(heading: str) -> str:
    """A heading's anchor as GitHub and MkDocs' toc make it (for the headings used here)."""
    text = "".join(c for c in heading.strip().lower() if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def test_the_readme_is_short_opens_with_the_two_commands_and_its_links_resolve():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    assert blocks[0].strip() == ('python3 -m venv .venv && . .venv/bin/activate && pip install '
                                 '-e ".[dev]" && python -m actsearch run configs/smoke.yaml')
    assert blocks[1].strip() == ". .venv/bin/activate && pytest"
    assert "experiments/activation_comparison.ipynb" in text
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    local = [link for link in links if not link.startswith(("http://", "https://"))]
    assert len(local) > 10
    for link in local:
        path, _, anchor = link.partition("#")
        target = ROOT / path
        assert target.exists(), link
        if anchor:
            headings = re.findall(r"^#+ (.+)$", target.read_text(), re.M)
            assert anchor in {_slug(h) for h in headings}, link
