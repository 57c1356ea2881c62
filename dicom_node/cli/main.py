"""``cardiac-qa``: one click group; each command lives in its own module, loaded lazily.

Exit codes (ARCHITECTURE.md §8): 0 success, 1 handled error (one-line message), 2 bad usage.
"""

from __future__ import annotations

import importlib
import sys

import click

__all__ = ["cli", "main", "CliError"]

# command name -> "module:function" (module relative to dicom_node.cli)
COMMANDS: dict[str, str] = {
    "serve": "serve:serve",
    "send": "send:send",
    "studies": "studies:studies",
    "status": "status:status",
    "analyze": "analyze:analyze",
    "results": "results:results",
    "show": "results:show",
    "outbox": "outbox:outbox",
    "models": "models_cmd:models",
    "synth": "synth:synth",
    "train": "train:train",
    "demo": "demo:demo",
}


class CliError(click.ClickException):
    """A handled error: printed as one line, exit code 1."""

    def show(self, file=None) -> None:  # noqa: ANN001 — click's signature
        click.echo(f"error: {self.format_message()}", err=True)


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attr = target.partition(":")
        return getattr(importlib.import_module(f"dicom_node.cli.{module_name}"), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cardiac-qa-node")
def cli() -> None:
    """Cardiac QA Node: grades cardiac image quality (echo, whole-heart MR) as studies arrive."""


def main(argv: list[str] | None = None) -> int:
    """Entry point; the one place that turns unexpected exceptions into a one-line error."""
    try:
        cli.main(args=argv, prog_name="cardiac-qa", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    except click.UsageError as exc:
        # One line, exit 2 (bad usage); the command's --help has the rest.
        cmd = exc.ctx.command_path if exc.ctx else "cardiac-qa"
        click.echo(f"error: {' '.join(exc.format_message().split())} (see '{cmd} --help')", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 — main is a boundary: no tracebacks for users
        code = getattr(exc, "code", None)
        prefix = f"{code}: " if isinstance(code, str) else f"{type(exc).__name__}: "
        click.echo(f"error: {prefix}{exc}".splitlines()[0], err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
