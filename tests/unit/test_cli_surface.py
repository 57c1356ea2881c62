"""Every ``cardiac-qa`` command has --help and fails on bad usage with one line and exit code 2."""

from __future__ import annotations

import pytest

from dicom_node.cli.main import COMMANDS, main


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage: cardiac-qa") and command in out


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_bad_usage_is_one_line_exit_2(command, capsys):
    assert main([command, "--no-such-option-anywhere"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err


def test_unknown_command_and_group_help(capsys):
    assert main(["frobnicate"]) == 2
    assert "No such command" in capsys.readouterr().err
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(c in out for c in COMMANDS)
