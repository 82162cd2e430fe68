"""``hilcal rig check|schema``, ``hilcal --version`` and the readable ``hilcal sequences`` listing.

Kept out of ``controller/cli.py`` so the console module only registers them.
"""

from __future__ import annotations

import json
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from controller.config import load_rig_config
from controller.errors import ConfigError

rig_app = typer.Typer(no_args_is_help=True, help="Check a rig against its file; the rig file's schema.")
console = Console()
err_console = Console(stderr=True)

#: What `hilcal --version` reports besides hilcal itself: the libraries a run's results depend on.
KEY_DEPENDENCIES = ("pydantic", "pyvisa", "pyvisa-py", "pyserial", "numpy", "scipy", "typer", "sqlalchemy")


def _version_of(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def version_lines() -> list[str]:
    lines = [f"hilcal {_version_of('hilcal')}"]
    lines += [f"  {name} {_version_of(name)}" for name in KEY_DEPENDENCIES]
    lines.append(f"  python {platform.python_version()} ({platform.python_implementation()})")
    return lines


def version_callback(value: bool) -> None:
    """``--version``: print and exit before any command runs."""
    if value:
        for line in version_lines():
            console.print(line, markup=False, highlight=False)
        raise typer.Exit(0)


VersionOption = Annotated[
    bool,
    typer.Option(
        "--version",
        callback=version_callback,
        is_eager=True,
        help="print hilcal's version and its key dependencies' versions, then exit",
    ),
]


def print_sequences() -> None:
    """Each sequence with its parameters: type, default ("required" when there is none), description."""
    from controller.rig_schema import default_text, type_text
    from sequences import SEQUENCE_PLUGIN_PROBLEMS, SEQUENCES

    for name, seq in SEQUENCES.items():
        console.print(f"[bold]{name}[/bold]: {seq.title}")
        for field, info in seq.params_model.model_fields.items():
            console.print(
                f"    {field}: {type_text(info.annotation)} = {default_text(info)}  "
                f"[dim]{info.description or ''}[/dim]",
                highlight=False,
            )
    for problem in SEQUENCE_PLUGIN_PROBLEMS:
        err_console.print(f"[yellow]warning:[/yellow] {problem}", markup=True, highlight=False)


@rig_app.command("check")
def check(
    rig: Annotated[Path, typer.Argument(help="rig file (YAML/TOML)")],
) -> None:
    """Open every device, read its identity, compare limits and configuration with the rig file.

    Moves nothing, homes nothing, switches nothing on. Exit 0 when every device agrees with the file,
    1 when problems were found (all are listed), 2 on bad input (a rig file that does not validate).
    """
    from controller.rig_check import check_rig

    try:
        config = load_rig_config(rig)
        report = check_rig(config, str(rig))
    except ConfigError as err:
        err_console.print("[red]error:[/red] ", end="")
        err_console.print(str(err), markup=False, highlight=False)
        raise typer.Exit(2) from err
    for line in report.lines():
        console.print(line, markup=False, highlight=False)
    raise typer.Exit(0 if report.ok else 1)


@rig_app.command("schema")
def schema(
    out: Annotated[Path | None, typer.Option(help="write the schema here instead of standard output")] = None,
) -> None:
    """Write the rig file's JSON schema (each driver's params included), for editors and validators."""
    from controller.rig_schema import rig_schema

    text = json.dumps(rig_schema(), indent=2, ensure_ascii=False) + "\n"
    if out is None:
        print(text, end="")
        return
    out.write_text(text, encoding="utf-8")
    console.print(f"Rig file schema written to {out}", markup=False, highlight=False)
