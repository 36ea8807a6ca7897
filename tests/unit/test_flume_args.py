"""flume-ng's switches taken by `zflume agent`: each one acts or says in a warning that it
does nothing here; flume-env.sh lends only its -D switches."""
from __future__ import annotations

from pathlib import Path

import pytest

from deploy.flume_args import FlumeArgsError, parse


def test_log_level_and_tls_switches_become_the_components_environment() -> None:
    out = parse(["-Dflume.root.logger=DEBUG,console", "-Djavax.net.ssl.trustStore=/t.jks",
                 "-Djavax.net.ssl.trustStorePassword=secret"], None)
    assert out.environment == {"ZFLUME_LOG_LEVEL": "DEBUG",
                               "FLUME_SSL_TRUSTSTORE_PATH": "/t.jks",
                               "FLUME_SSL_TRUSTSTORE_PASSWORD": "secret"}
    assert out.warnings == []


@pytest.mark.parametrize("args, warning", [
    (["-Xmx2g"], "-Xmx2g: a JVM option"),
    (["-XX:+UseG1GC"], "-XX:+UseG1GC: a JVM option"),
    (["--classpath", "/opt/x.jar"], "--classpath /opt/x.jar: a Java classpath option"),
    (["--plugins-path", "/p"], "--plugins-path /p: a Java classpath option"),
    (["-Dflume.monitoring.type=ganglia"], "only http and prometheus are served"),
    (["-Dflume.monitoring.type=http", "-Dflume.monitoring.hosts=x"], "hosts=x: unknown switch"),
    (["-Dflume.called.from.service"], "not implemented yet"),
    (["-Dcom.sun.management.jmxremote"], "a JVM property"),
    (["-Dno.such.switch=1"], "-Dno.such.switch=1: unknown switch, ignored"),
    (["-Dflume.root.logger=INFO,SYSLOG"], "unknown appender syslog"),
    (["-Dflume.root.logger=LOUD,console"], "unknown level LOUD"),
])
def test_every_switch_that_does_nothing_says_so(args: list[str], warning: str) -> None:
    out = parse(args, None)
    assert len(out.warnings) == 1 and warning in out.warnings[0]


def test_logfile_appender_goes_where_flume_log_dir_and_file_say() -> None:
    out = parse(["-Dflume.root.logger=DEBUG,LOGFILE", "-Dflume.log.dir=/var/log/flume"], None)
    assert (out.log_file, out.console, out.environment["ZFLUME_LOG_LEVEL"], out.warnings) == (
        "/var/log/flume/flume.log", False, "DEBUG", [])
    both = parse(["-Dflume.root.logger=INFO,LOGFILE,console", "-Dflume.log.file=a.log"], None)
    assert (both.log_file, both.console) == ("logs/a.log", True)
    assert (parse(["-Dflume.root.logger=INFO,console"], None).log_file, parse([], None).console
            ) == ("", True)


def test_switches_that_change_nothing_here_are_quiet() -> None:
    out = parse(["-Dorg.apache.flume.log.printconfig=true",
                 "-Dorg.apache.flume.log.rawdata=true"], None)
    assert (out.warnings, out.environment) == ([], {})


def test_flume_env_sh_lends_its_d_switches_and_the_command_line_wins(tmp_path: Path) -> None:
    (tmp_path / "flume-env.sh").write_text(
        '# Flume env\nexport JAVA_OPTS="-Xms100m -Xmx2000m -Dflume.root.logger=WARN,console"\n'
        'FLUME_CLASSPATH="/opt/lib"\n')
    out = parse([], str(tmp_path))
    assert out.environment == {"ZFLUME_LOG_LEVEL": "WARNING"} and out.warnings == []
    assert "read 1 -D switch(es)" in out.notes[0]
    assert parse(["-Dflume.root.logger=ERROR,console"], str(tmp_path)).environment == {
        "ZFLUME_LOG_LEVEL": "ERROR"}


def test_something_flume_ng_would_refuse_is_an_error() -> None:
    with pytest.raises(FlumeArgsError, match="unrecognized argument --frobnicate"):
        parse(["--frobnicate"], None)


def test_monitoring_switches_describe_the_monitor_program() -> None:
    out = parse(["-Dflume.monitoring.type=HTTP", "-Dflume.monitoring.port=34545"], None)
    assert (out.monitoring.kind, out.monitoring.port, out.monitoring.bind) == (
        "http", 34545, "127.0.0.1")
    assert parse(["-Dflume.monitoring.type=prometheus"], None).monitoring.port == 41414
    assert parse([], None).monitoring is None
    with pytest.raises(FlumeArgsError, match="not a port"):
        parse(["-Dflume.monitoring.type=http", "-Dflume.monitoring.port=99999"], None)
