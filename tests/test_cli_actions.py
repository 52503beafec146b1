"""A plugin command declared as ``Action`` records: help with the example, the parsed arguments
given to ``run``, its return value as the exit status, duplicate names refused."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from emgan_core.cli import Action, configure_actions
from emgan_core.records import Command
from emgan_core.registry import get_registry
from emgan_core.testing import run_emgan


def _greet_arguments(p) -> None:
    p.add_argument("who", help="whom to greet")
    p.add_argument("--times", type=int, default=1, help="how often (1)")


@pytest.fixture
def demo(monkeypatch):
    """Install ``emgan demo`` (built from ``actions``) in the registry the CLI uses; returns the
    list that ``run`` functions append their args to."""
    calls = []

    def greet(args) -> int:
        calls.append(args)
        return 3

    def ping(args) -> int:
        calls.append(args)
        return 0

    def install(*actions):
        actions = actions or (Action("greet", "say hello to someone", "emgan demo greet Ada --times 2",
                                     greet, _greet_arguments),
                              Action("ping", "answer nothing", "emgan demo ping", ping))
        command = Command("demo", configure_actions(*actions), "a demo command")
        monkeypatch.setitem(get_registry().commands, "demo", (command, "demo-plugin"))
        return calls

    return install


def test_help_lists_the_actions_and_shows_each_example(demo):
    demo()
    listing = run_emgan("demo", "--help", check_rc=0).stdout
    assert "greet" in listing and "say hello to someone" in listing and "ping" in listing
    help = run_emgan("demo", "greet", "--help", check_rc=0).stdout
    assert help.startswith("usage: emgan demo greet [-h] [--times TIMES] who")
    assert "\nsay hello to someone\n" in help  # the description
    assert help.rstrip().endswith("example:\n  emgan demo greet Ada --times 2")
    assert "--times TIMES  how often (1)" in help


def test_run_gets_the_parsed_arguments_and_gives_the_exit_status(demo):
    calls = demo()
    assert run_emgan("demo", "greet", "Ada", "--times", "2").returncode == 3
    args = calls[-1]
    assert (args.action, args.who, args.times) == ("greet", "Ada", 2)
    assert run_emgan("demo", "ping", check_rc=0).stdout == ""  # no arguments function
    assert calls[-1].action == "ping"


def test_an_action_is_required_and_arguments_are_checked(demo):
    calls = demo()
    missing = run_emgan("demo")
    assert missing.returncode == 2 and "required: ACTION" in missing.stderr
    stray = run_emgan("demo", "ping", "--loud")
    assert stray.returncode == 2 and "unrecognized arguments: --loud" in stray.stderr
    assert calls == []


def test_two_actions_of_one_name_are_an_error_naming_command_and_action(demo):
    noop = lambda args: 0  # noqa: E731
    demo(Action("ping", "a", "emgan demo ping", noop), Action("ping", "b", "emgan demo ping", noop))
    proc = run_emgan("demo", "ping")
    assert proc.returncode == 2
    assert "emgan: error: command 'demo' has two actions named 'ping'" in proc.stderr


def test_an_action_is_a_frozen_record():
    action = Action("ping", "answer", "emgan demo ping", lambda args: 0)
    assert action.arguments is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        action.name = "pong"


def test_every_plugin_action_has_an_example_of_itself():
    """Each installed plugin command is declared with actions, and each action's example runs it."""
    commands = get_registry().commands
    assert {"struc2mapgan", "superem", "diffragan", "cryoetgan", "denoise"} <= set(commands)
    for name, (command, _) in sorted(commands.items()):
        actions = getattr(command.configurator(), "actions", None)
        assert actions, f"command '{name}' is not built with configure_actions"
        for action in actions:
            assert action.example.startswith(f"emgan {name} {action.name} "), (name, action.name)
            assert action.help and callable(action.run)


def test_configuring_every_plugin_command_imports_no_torch():
    """Building the parser of each plugin command (the help of its actions) imports no torch."""
    code = ("import sys\n"
            "from emgan_core.cli.main import build_parser\n"
            "from emgan_core.registry import get_registry\n"
            "reg = get_registry()\n"
            "for name in reg.commands:\n"
            "    build_parser(reg, name)\n"
            "print(len(reg.commands), sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'scipy')))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-500:]
    count, _, imported = proc.stdout.strip().partition(" ")
    assert int(count) >= 5 and imported == "[]"
