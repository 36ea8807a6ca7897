"""The `zflume` command line: check, render, component, and the run directory's guards."""
from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from deploy.cli import _flume_switches, _parser, main
from services import rundir
from tests.paths import SEED_EXAMPLES, nonempty

EXAMPLES = nonempty(SEED_EXAMPLES, "seed example configs")
ZFLUME = Path(sys.executable).parent / "zflume"

GOOD = """\
a.sources = s
a.channels = c
a.sinks = k1 k2
a.sources.s.type = seq
a.sources.s.channels = c
a.channels.c.type = memory
a.sinks.k1.type = null
a.sinks.k1.channel = c
a.sinks.k2.type = logger
a.sinks.k2.channel = c
a.sinkgroups = g
a.sinkgroups.g.sinks = k1 k2
a.sinkgroups.g.processor.type = load_balance
"""

BAD = """\
a.sources = s
a.channels = c
a.sinks = k
a.sources.s.type = exec
a.sources.s.command = cat
a.sources.s.channels = c
a.sources.s.batchSize = lots
a.channels.c.type = memory
a.sinks.k.type = nosuchsink
a.sinks.k.channel = nowhere
"""


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A directory short enough for ipc paths (pytest's tmp_path can be too long)."""
    path = Path(tempfile.mkdtemp(prefix="zf-", dir="/tmp"))
    yield path
    shutil.rmtree(path)


def write(directory: Path, text: str, name: str = "a.conf") -> Path:
    path = directory / name
    path.write_text(text)
    return path


def test_check_lists_every_error_as_file_line_key_message(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = write(tmp_path, BAD)
    assert main(["check", "-f", str(conf)]) != 0
    lines = capsys.readouterr().out.splitlines()
    shape = re.compile(rf"{re.escape(str(conf))}:(\d+): (\S+): .+")
    assert lines and all(shape.fullmatch(line) for line in lines), lines
    found = {(int(m[1]), m[2]) for m in map(shape.fullmatch, lines)}
    assert (7, "a.sources.s.batchSize") in found
    assert (9, "a.sinks.k.type") in found
    assert (10, "a.sinks.k.channel") in found


def test_check_of_an_unknown_agent_names_it(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    conf = write(tmp_path, GOOD)
    assert main(["check", "-f", str(conf), "-n", "nope"]) != 0
    assert "agent nope not found" in capsys.readouterr().out


@pytest.mark.parametrize("conf", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_check_accepts_the_seed_configs(conf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "-f", str(conf)]) == 0
    assert capsys.readouterr().out == ""


def test_there_are_seed_configs_to_check() -> None:
    assert len(EXAMPLES) == 6


def test_render_prints_one_program_per_component_named_agent_component(
        tmp_path: Path, short_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = write(tmp_path, GOOD)
    assert main(["render", "-f", str(conf), "-n", "a", "--run-dir", str(short_tmp)]) == 0
    parsed = configparser.RawConfigParser()
    parsed.read_string(capsys.readouterr().out)
    programs = {s.split(":", 1)[1] for s in parsed.sections() if s.startswith("program:")}
    assert programs == {"a-s", "a-c", "a-k1", "a-k2", "a-g"}
    assert not [s for s in parsed.sections() if s.startswith("group:")]  # see render.py
    assert parsed["program:a-k1"]["command"].split()[0] == str(ZFLUME)


def test_render_of_a_bad_config_exits_2_with_every_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = write(tmp_path, BAD)
    assert main(["render", "-f", str(conf), "-n", "a", "--run-dir", "/tmp/x"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{conf}:9: a.sinks.k.type:" in captured.err
    assert f"{conf}:10: a.sinks.k.channel:" in captured.err


def test_component_of_an_unknown_agent_exits_2_naming_it(tmp_path: Path, short_tmp: Path) -> None:
    conf = write(tmp_path, GOOD)
    result = subprocess.run(
        [str(ZFLUME), "component", "-f", str(conf), "-n", "nope", "--kind", "source",
         "--component", "s", "--run-dir", str(short_tmp / "run")],
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "agent nope not found" in result.stderr


def test_a_run_dir_open_to_others_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir(mode=0o755)
    os.chmod(run, 0o755)
    with pytest.raises(rundir.RunDirError, match=r"open to other users \(mode 755\).*chmod 700"):
        rundir.prepare(str(run))


def test_agent_refuses_a_run_dir_open_to_others_before_starting_anything(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = write(tmp_path, GOOD)
    run = tmp_path / "r"
    run.mkdir()
    os.chmod(run, 0o755)
    assert main(["agent", "-f", str(conf), "-n", "a", "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert str(run) in err and "open to other users" in err
    assert not (run / "supervisord.conf").exists()


def test_a_missing_run_dir_is_created_private(tmp_path: Path) -> None:
    run = rundir.prepare(str(tmp_path / "new" / "run"))
    assert os.stat(run).st_mode & 0o777 == 0o700


def test_a_run_dir_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(rundir.RunDirError, match="cannot create run directory"):
        rundir.prepare(str(tmp_path / "file"))


def test_the_lock_refuses_a_second_holder_until_the_first_lets_go(tmp_path: Path) -> None:
    run = rundir.prepare(str(tmp_path / "run"))
    first = rundir.lock(run)
    with pytest.raises(rundir.RunDirError, match=rf"{re.escape(run)} is in use by another "
                                                 rf"agent \(pid {os.getpid()}\)"):
        rundir.lock(run)
    first.close()
    rundir.lock(run).close()


def test_an_ipc_path_too_long_for_the_os_is_an_error_naming_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = write(tmp_path, GOOD)
    long_dir = "/tmp/" + "d" * 120
    assert main(["render", "-f", str(conf), "-n", "a", "--run-dir", long_dir]) != 0
    err = capsys.readouterr().err
    assert "too long" in err and long_dir in err


def test_a_control_socket_path_too_long_is_an_error_even_when_components_fit(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Short component names leave `supervisor.sock` the longest path in the run dir."""
    conf = write(tmp_path, GOOD)
    run_dir = "/tmp/" + "d" * (107 - len("/tmp//supervisor.sock") + 1)
    assert len(f"{run_dir}/k1.deliver") <= 107 < len(f"{run_dir}/supervisor.sock")
    assert main(["render", "-f", str(conf), "-n", "a", "--run-dir", run_dir]) != 0
    err = capsys.readouterr().err
    assert f"{run_dir}/supervisor.sock" in err and "too long" in err


def test_status_of_a_run_dir_where_nothing_answers_fails(
        short_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--json", "--run-dir", str(short_tmp)]) == 1
    assert "no component answered" in capsys.readouterr().err


def test_log_level_option_wins_over_flume_root_logger(monkeypatch: pytest.MonkeyPatch) -> None:
    # setenv first, so that teardown removes what the switches set: a delenv of a variable
    # that is not set records nothing to undo, and the WARNING level then silenced the INFO
    # logs (a logger sink's events) of every agent a later test started.
    monkeypatch.setenv("ZFLUME_LOG_LEVEL", "INFO")
    monkeypatch.delenv("ZFLUME_LOG_LEVEL")
    args, extra = _parser().parse_known_args(["agent", "-f", "a.conf", "-n", "a", "--log-level",
                                              "warn", "-Dflume.root.logger=DEBUG,console"])
    _flume_switches(args, extra)
    assert os.environ["ZFLUME_LOG_LEVEL"] == "WARNING"
