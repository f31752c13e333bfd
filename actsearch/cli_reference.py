"""The command-line reference (docs/cli.md), generated from the argparse parser of
actsearch.cli, so every command and option the CLI accepts is documented as it is parsed."""

from __future__ import annotations

import argparse

from actsearch.cli import build_parser


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of each subcommand, in the order they were added."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            return [(name, helps.get(name, ""), sub) for name, sub in action.choices.items()]
    return []


def _argument_row(action: argparse.Action) -> str:
    if action.option_strings:
        name = ", ".join(action.option_strings)
        if action.nargs != 0:
            name += " " + (action.metavar or action.dest.upper())
    else:
        name = action.metavar or action.dest
        if action.nargs in ("?", "*"):
            name = f"[{name}{' ...' if action.nargs == '*' else ''}]"
    default = action.default
    shown = "" if default in (None, False, [], argparse.SUPPRESS) else f"`{default}`"
    text = (action.help or "").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
    return f"| `{name}` | {text} | {shown} |"


def _usage(parser: argparse.ArgumentParser) -> str:
    """The usage line on one line, whatever the terminal's width."""
    formatter = argparse.HelpFormatter(parser.prog, width=1000)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups,
                        prefix="")
    return formatter.format_help().strip()


def cli_reference_markdown(parser: argparse.ArgumentParser | None = None) -> str:
    """Every subcommand: its usage, description and arguments (name, what it does, default)."""
    parser = parser or build_parser()
    out = ["```text", _usage(parser), "```", ""]
    for name, summary, sub in _subcommands(parser):
        out += [f"## `{parser.prog} {name}`", "", summary[:1].upper() + summary[1:] + ".", "",
                "```text", _usage(sub), "```", ""]
        if sub.description:
            out += ["```text", sub.description.strip(), "```", ""]
        rows = [a for a in sub._actions if not isinstance(a, argparse._HelpAction)]
        if rows:
            out += ["| argument | what it does | default |", "| --- | --- | --- |"]
            out += [_argument_row(a) for a in rows]
            out.append("")
    return "\n".join(out)
