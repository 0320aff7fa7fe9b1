"""`memberdesk dev` and `memberdesk seed`, reached through the `memberdesk.commands` entry points."""

from __future__ import annotations

from devtools.seed import SeedReport
from devtools.services import ServiceUrls
from tests.test_cli import run_cli


def test_help_lists_the_plugin_commands(services: ServiceUrls) -> None:
    done = run_cli(services, "--help")
    assert done.returncode == 0, done.stderr
    assert "dev" in done.stdout
    assert "devtools.commands:seed" in done.stdout


def test_a_plugin_command_parses_its_own_arguments(services: ServiceUrls) -> None:
    done = run_cli(services, "dev", "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: memberdesk dev")
    assert "--free-ports" in done.stdout
    refused = run_cli(services, "seed", "--members", "many")
    assert refused.returncode == 2
    assert "memberdesk seed: error: argument --members" in refused.stderr


def test_seed_runs_through_the_plugin(services: ServiceUrls, seeded: SeedReport) -> None:
    # No members: the command's whole path (settings, connection, S3 client, the seed's transaction) without
    # adding rows to the session's data, which other tests check against its seed.
    done = run_cli(services, "seed", "--members", "0")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Seeded 0 members")


def test_a_builtin_command_refuses_unknown_arguments(services: ServiceUrls) -> None:
    done = run_cli(services, "migrate", "--members", "3")
    assert done.returncode == 2
    assert "unrecognized arguments: --members 3" in done.stderr
