"""``cardiac-qa models [list|verify]``: the model packs the node would load (shipped + site)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .common import config_option, get_settings
from .main import CliError

__all__ = ["models", "pack_dirs", "pack_table"]


def pack_dirs(config_path: str | None) -> list[tuple[str, Path]]:
    """(origin, folder) in load order: shipped packs, then ``data_dir/packs`` (site packs win)."""
    from models.runtime import SHIPPED_PACKS_DIR

    settings = get_settings(config_path)
    return [("shipped", SHIPPED_PACKS_DIR), ("site", Path(settings.storage.data_dir) / "packs")]


def pack_table(config_path: str | None, verify: bool) -> list[dict[str, Any]]:
    """One entry per pack found; ``active`` marks the one that wins for its name."""
    from models.runtime import PackError, discover_packs, load_pack, read_manifest

    dirs = pack_dirs(config_path)
    winners = discover_packs([d for _, d in dirs])
    entries = []
    for origin, base in dirs:
        for name, path in sorted(discover_packs([base]).items()):
            entry: dict[str, Any] = {
                "name": name,
                "origin": origin,
                "path": str(path),
                "active": winners.get(name) == path,
            }
            try:
                # verify: sha256 and the model's input/output shapes against the manifest
                m = load_pack(path, ["CPUExecutionProvider"], 1).manifest if verify else read_manifest(path)
                entry.update(
                    version=m.version,
                    task=str(m.task),
                    sha256=m.sha256,
                    demonstration_only=m.demonstration_only,
                    ok=True,
                    error=None,
                )
            except PackError as exc:
                entry.update(
                    version=None, task=None, sha256=None, demonstration_only=None, ok=False, error=str(exc)
                )
            entries.append(entry)
    return entries


def _print(entries: list[dict[str, Any]], verify: bool) -> None:
    if not entries:
        click.echo("no model packs found")
        return
    for e in entries:
        status = ("verified" if verify else "ok") if e["ok"] else "BROKEN"
        mark = "*" if e["active"] else " "
        sha = (e["sha256"] or "")[:12]
        click.echo(
            f"{mark} {e['name']:<24} {e['version'] or '-':<10} {e['task'] or '-':<22} {e['origin']:<8} "
            f"{sha:<12} {status}"
        )
        if e["error"]:
            click.echo(f"    {e['error']}")
    click.echo("(* = the pack loaded for its name; site packs under data_dir/packs override shipped ones)")


def _run(config_path: str | None, verify: bool, as_json: bool) -> None:
    entries = pack_table(config_path, verify)
    if as_json:
        click.echo(json.dumps(entries, indent=2))
    else:
        _print(entries, verify)
    broken = [e for e in entries if not e["ok"]]
    if broken:
        raise CliError(f"{len(broken)} of {len(entries)} packs are broken: {broken[0]['error']}")


@click.group(invoke_without_command=True)
@config_option
@click.option("--json", "as_json", is_flag=True, help="JSON instead of the table.")
@click.pass_context
def models(ctx: click.Context, config_path: str | None, as_json: bool) -> None:
    """List the model packs (shipped and data_dir/packs); `models verify` checks their sha256."""
    ctx.ensure_object(dict)
    ctx.obj.update(config_path=config_path, as_json=as_json)
    if ctx.invoked_subcommand is None:
        _run(config_path, verify=False, as_json=as_json)


@models.command(name="list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="JSON instead of the table.")
@click.pass_context
def list_cmd(ctx: click.Context, config_path: str | None, as_json: bool) -> None:
    """List every pack with its version, task and origin (manifests only)."""
    _run(config_path or ctx.obj.get("config_path"), verify=False, as_json=as_json or ctx.obj.get("as_json"))


@models.command(name="verify")
@config_option
@click.option("--json", "as_json", is_flag=True, help="JSON instead of the table.")
@click.pass_context
def verify_cmd(ctx: click.Context, config_path: str | None, as_json: bool) -> None:
    """Verify every pack (manifest, model.onnx sha256, model shapes); exit 1 if any is broken."""
    _run(config_path or ctx.obj.get("config_path"), verify=True, as_json=as_json or ctx.obj.get("as_json"))
