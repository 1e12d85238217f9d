"""The `communepol` command as an operator uses it: help, bad input and bad settings end in
one line and a non-zero exit and write nothing; good input does what it says."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from communepol.cli import main
from communepol.crypto import Keyring
from communepol.db.models import Household, LinkPurpose, Staff, Unit, UnitLevel
from communepol.db.orm import open_database
from communepol.services.staff import consume_link_code
from tests.conftest import TEST_SECRET_KEY


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> str:
    monkeypatch.chdir(tmp_path)
    for name in ("COMMUNEPOL_ENV", "COMMUNEPOL_PORT", "COMMUNEPOL_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COMMUNEPOL_DATABASE_URL", database_url)
    monkeypatch.setenv("COMMUNEPOL_SECRET_KEY", TEST_SECRET_KEY)
    return database_url


def run(*argv: str) -> int:
    return main(list(argv))


def query(url: str, action: Any) -> Any:
    async def go() -> Any:
        async with open_database(url):
            return await action()

    return asyncio.run(go())


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["serve"],
        ["demo"],
        ["db"],
        ["db", "migrate"],
        ["units", "import"],
        ["units", "search"],
        ["units", "add-hamlet"],
        ["admin", "create"],
        ["staff", "add"],
        ["i18n", "check"],
    ],
)
def test_help_for_every_command(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main([*argv, "--help"])
    assert caught.value.code == 0
    assert "usage: communepol" in capsys.readouterr().out


def test_bad_setting_is_one_line(
    cli_env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COMMUNEPOL_TIMEZONE", "Mars/Olympus")
    assert run("db", "status") == 2
    err = capsys.readouterr().err
    assert err == "communepol: error: COMMUNEPOL_TIMEZONE: 'Mars/Olympus' is not a known timezone\n"


@pytest.fixture
def with_dak_lak(cli_env: str) -> str:
    assert run("units", "import", "--province", "dak lak") == 0
    return cli_env


def test_units_import_and_search(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    from vietnam_provinces import Ward

    wards = sum(1 for w in Ward.iter_all() if int(w.province_code) == 66)
    assert run("units", "import", "--province", "dak lak") == 0
    assert f"communes: {wards} created" in capsys.readouterr().out
    assert run("units", "import", "--province", "66") == 0
    assert "communes: 0 created" in capsys.readouterr().out
    assert run("units", "search", "cu mgar") == 0
    assert "Xã Cư M'gar" in capsys.readouterr().out


def test_add_hamlet_under_a_commune(with_dak_lak: str, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    argv = ["units", "add-hamlet", "--commune", "cu mgar", "--name", "Ea Sinh", "--kind", "Buôn"]
    assert run(*argv) == 0
    assert "Buôn Ea Sinh added under Xã Cư M'gar" in capsys.readouterr().out
    assert run(*argv) == 1  # the same hamlet twice is a conflict, not a second row
    assert query(with_dak_lak, lambda: Unit.filter(level=UnitLevel.HAMLET).count()) == 1
    assert run("units", "add-hamlet", "--commune", "dak lak", "--name", "Ea Sinh") == 2


def test_households_import_keeps_good_rows_and_names_bad_ones(
    with_dak_lak: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert (
        run("units", "add-hamlet", "--commune", "cu mgar", "--name", "Ea Sinh", "--kind", "Buôn")
        == 0
    )
    sheet = tmp_path / "ho.csv"
    sheet.write_text(
        "thon,chu_ho,so_nguoi,dia_chi\nBuôn Ea Sinh,Y Kông Êban,6,Nhà 3\nEa Sinh,H'Nga,0,Nhà 4\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    assert run("households", "import", "--commune", "cu mgar", str(sheet)) == 1
    out = capsys.readouterr().out
    assert "1 households added to Xã Cư M'gar; 1 rows refused" in out
    assert "line 3: members must be a whole number from 1 to 50" in out
    assert query(with_dak_lak, lambda: Household.all().count()) == 1
    assert run("households", "import", "--commune", "cu mgar", str(tmp_path / "none.csv")) == 2
    assert "cannot read" in capsys.readouterr().err


def test_units_import_unknown_province(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("units", "import", "--province", "atlantis") == 2
    assert "atlantis" in capsys.readouterr().err
    assert query(cli_env, lambda: Unit.all().count()) == 0


def test_staff_add_prints_a_working_link_code(
    with_dak_lak: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    code = run(
        "staff",
        "add",
        "--unit",
        "ea kar",
        "--role",
        "officer",
        "--name",
        "Nguyễn Văn Tâm",
        "--phone",
        "0912 345 678",
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "Nguyễn Văn Tâm is on the roster of Xã Ea Kar as officer" in out
    link_code = out.split("one-time link code: ")[1].split()[0]

    async def consume() -> Any:
        return await consume_link_code(Keyring(TEST_SECRET_KEY), link_code, LinkPurpose.STAFF)

    assert query(with_dak_lak, consume).staff_id is not None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--unit", "atlantis", "--role", "officer"], "no unit matches 'atlantis'"),
        (["--unit", "ea kar", "--role", "chief"], "unknown role 'chief'"),
        (["--unit", "ea kar", "--role", "officer", "--phone", "12345"], "not a Vietnamese phone"),
        (["--unit", "dak lak", "--role", "officer"], "an officer must belong to a commune"),
    ],
)
def test_staff_add_bad_input_writes_nothing(
    with_dak_lak: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    capsys.readouterr()
    assert run("staff", "add", "--name", "Trần Quốc Bảo", *argv) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert query(with_dak_lak, lambda: Staff.all().count()) == 0


def test_admin_create_reads_the_password_from_stdin(
    with_dak_lak: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    argv = ["admin", "create", "--username", "quantri", "--name", "Lê Nhung", "--unit", "66"]
    assert run(*argv, "--password-stdin") == 2
    assert "at least 12 characters" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long enough password\n"))
    assert run(*argv, "--password-stdin") == 0
    assert "admin quantri created for Tỉnh Đắk Lắk" in capsys.readouterr().out
    staff = query(with_dak_lak, lambda: Staff.get(username="quantri"))
    assert staff.role == "admin"


def test_commands_refuse_an_unmigrated_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COMMUNEPOL_DATABASE_URL", f"sqlite://{tmp_path}/fresh.sqlite3")
    monkeypatch.setenv("COMMUNEPOL_SECRET_KEY", TEST_SECRET_KEY)
    assert run("units", "import", "--province", "66") == 3
    assert "run `communepol db migrate` first" in capsys.readouterr().err
    assert run("db", "migrate") == 0
    assert "applied   0001_initial" in capsys.readouterr().out
    assert run("units", "import", "--province", "66") == 0
    url = f"sqlite://{tmp_path}/fresh.sqlite3"
    count = query(url, lambda: Unit.filter(level=UnitLevel.PROVINCE).count())
    assert count == 1


def test_unknown_migration_target(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("db", "migrate", "--target", "0099_nothing") == 2
    assert "unknown migration" in capsys.readouterr().err


def _subprocess(
    tmp_path: Path, env: dict[str, str], *argv: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "communepol", *argv],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_unreachable_postgres_is_one_line_in_a_real_process(tmp_path: Path) -> None:
    result = _subprocess(
        tmp_path,
        {
            "COMMUNEPOL_DATABASE_URL": "postgres://nobody@127.0.0.1:1/none",
            "COMMUNEPOL_SECRET_KEY": TEST_SECRET_KEY,
        },
        "db",
        "status",
    )
    assert result.returncode == 3
    assert result.stderr.startswith("communepol: error: the database is not reachable")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_production_without_secret_in_a_real_process(tmp_path: Path) -> None:
    result = _subprocess(tmp_path, {"COMMUNEPOL_ENV": "production"}, "db", "status")
    assert result.returncode == 2
    assert (
        result.stderr
        == "communepol: error: COMMUNEPOL_SECRET_KEY: is required when COMMUNEPOL_ENV=production\n"
    )


def test_debug_logging_never_prints_sql_parameters(
    with_dak_lak: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import logging

    from communepol.cli import SQL_LOGGERS

    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in SQL_LOGGERS)]
    levels = [logger.level for logger in loggers]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logging.getLogger().addHandler(handler)
    monkeypatch.setenv("COMMUNEPOL_LOG_LEVEL", "DEBUG")
    try:
        argv = ["--unit", "ea kar", "--role", "officer", "--name", "SENTINEL Tâm"]
        assert run("staff", "add", *argv) == 0
    finally:
        logging.getLogger().removeHandler(handler)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
    err = capsys.readouterr().err
    assert "DEBUG" in err  # debug logging was on
    assert "SENTINEL" not in err


def test_serve_on_a_busy_port_is_one_line(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert run("serve", "--host", "127.0.0.1", "--port", str(port)) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"communepol: error: cannot listen on 127.0.0.1:{port}")
    assert err.count("\n") == 1
