"""What `flume-ng agent` accepts beyond zflume's own options: -D switches, JVM switches, and
the `-D` switches of `flume-env.sh` in the `-c/--conf` directory.

A start script written for flume-ng must run unchanged with `zflume` as the command: every
switch is taken, and each one that does nothing here says so in one warning, never silently.

    -Dflume.root.logger=LEVEL,console      the components' log level, on the console
    -Dflume.root.logger=LEVEL,LOGFILE      ... into flume.log.dir/flume.log.file (./logs/flume.log),
                                           rotated at 100 MB keeping 20, as Flume's log4j does
    -Djavax.net.ssl.keyStore... / trustStore...   TLS fallbacks, as FLUME_SSL_* (services/tls.py)
    -Dorg.apache.flume.log.printconfig / rawdata  accepted: zflume never logs configs or bodies
    -Dflume.monitoring.type=http|prometheus, .port (41414), .bind (127.0.0.1; zflume)
                                           an AGENT-monitor program (deploy/monitor.py)
    -Dflume.called.from.service, -DpropertiesImplementation   not implemented yet: a warning
    -Xmx..., -XX:..., --classpath/-C X, --plugins-path X: JVM helpers, a warning each
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from deploy.render import Monitoring
from proto.errors import ZflumeError

# -D switch -> the environment variable services/tls.py reads (the switch wins, as in Flume)
SSL_SWITCHES = {
    "javax.net.ssl.keyStore": "FLUME_SSL_KEYSTORE_PATH",
    "javax.net.ssl.keyStorePassword": "FLUME_SSL_KEYSTORE_PASSWORD",
    "javax.net.ssl.keyStoreType": "FLUME_SSL_KEYSTORE_TYPE",
    "javax.net.ssl.trustStore": "FLUME_SSL_TRUSTSTORE_PATH",
    "javax.net.ssl.trustStorePassword": "FLUME_SSL_TRUSTSTORE_PASSWORD",
    "javax.net.ssl.trustStoreType": "FLUME_SSL_TRUSTSTORE_TYPE",
}
SILENT = {"org.apache.flume.log.printconfig", "org.apache.flume.log.rawdata"}
JVM_PROPERTIES = ("com.sun.management.", "java.", "javax.", "jdk.", "sun.", "log4j", "org.slf4j.")
NOT_YET = {"flume.called.from.service": "keeping on polling for a missing config file",
           "propertiesImplementation": "${VAR} substitution in the config"}
LEVELS = {"TRACE": "DEBUG", "DEBUG": "DEBUG", "INFO": "INFO", "WARN": "WARNING",
          "ERROR": "ERROR", "FATAL": "CRITICAL", "OFF": "CRITICAL"}
WITH_VALUE = {"--classpath", "-C", "--plugins-path"}  # JVM helpers that take an argument
DEFAULT_MONITORING_PORT = 41414  # Flume's HTTPMetricsServer
ENV_OPTS = re.compile(r"\s*(?:export\s+)?(?:FLUME_JAVA_OPTS|JAVA_OPTS)\s*=\s*(.*)")


class FlumeArgsError(ZflumeError, ValueError):
    """An argument flume-ng would not take either."""


@dataclass
class FlumeSwitches:
    """What the extra arguments ask for: environment for the components, and warnings."""

    environment: dict[str, str] = field(default_factory=dict)
    monitoring: Monitoring | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    console: bool = True  # the components' lines on the agent's stdout
    log_file: str = ""  # and/or in this rotated file


def parse(extra: list[str], conf_dir: str | None) -> FlumeSwitches:
    """The switches of flume-env.sh in `conf_dir`, then those on the command line (later
    ones win, as the JVM takes the last -D of a name)."""
    out = FlumeSwitches()
    switches = env_file_switches(conf_dir, out) if conf_dir else []
    args = iter(extra)
    for arg in args:
        if arg.startswith("-D"):
            switches.append(arg[2:])
        elif arg.startswith("-X"):
            out.warnings.append(f"{arg}: a JVM option; nothing to do for zflume")
        elif arg in WITH_VALUE:
            out.warnings.append(f"{arg} {next(args, '')}: a Java classpath option; nothing to "
                                "do for zflume")
        else:
            raise FlumeArgsError(f"unrecognized argument {arg}")
    monitoring: dict[str, str] = {}
    log_place = {"flume.log.dir": "./logs", "flume.log.file": "flume.log"}
    for switch in switches:
        key, _, value = switch.partition("=")
        if key.startswith("flume.monitoring."):
            monitoring[key.removeprefix("flume.monitoring.")] = value
        elif key in log_place:
            log_place[key] = value
        else:
            _apply(switch, out)
    out.monitoring = _monitoring(monitoring, out)
    if out.log_file:
        out.log_file = str(Path(log_place["flume.log.dir"]) / log_place["flume.log.file"])
    return out


def _monitoring(switches: dict[str, str], out: FlumeSwitches) -> Monitoring | None:
    """flume.monitoring.type (http, prometheus), .port (Flume's 41414), .bind (zflume)."""
    if not switches:
        return None
    kind = switches.pop("type", "").lower()
    port_text = switches.pop("port", str(DEFAULT_MONITORING_PORT))
    bind = switches.pop("bind", "127.0.0.1")
    for key, value in switches.items():
        out.warnings.append(f"-Dflume.monitoring.{key}={value}: unknown switch, ignored")
    if kind not in ("http", "prometheus"):
        out.warnings.append(f"-Dflume.monitoring.type={kind}: only http and prometheus are "
                            "served; no monitoring")
        return None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise FlumeArgsError(f"-Dflume.monitoring.port={port_text} is not a port")
    return Monitoring(kind, int(port_text), bind)


def env_file_switches(conf_dir: str, out: FlumeSwitches) -> list[str]:
    """The -D switches of JAVA_OPTS / FLUME_JAVA_OPTS lines in conf_dir/flume-env.sh."""
    path = Path(conf_dir) / "flume-env.sh"
    if not path.is_file():
        return []
    found = []
    for line in path.read_text(errors="replace").splitlines():
        match = ENV_OPTS.match(line)
        if match:
            try:
                words = shlex.split(match.group(1))
            except ValueError:
                words = match.group(1).split()
            found += [w[2:] for word in words for w in word.split() if w.startswith("-D")]
    out.notes.append(f"read {len(found)} -D switch(es) from {path}; zflume uses nothing else "
                     "of flume-env.sh")
    return found


def _apply(switch: str, out: FlumeSwitches) -> None:
    key, _, value = switch.partition("=")
    if key == "flume.root.logger":
        level, _, appender = value.partition(",")
        if level.upper() not in LEVELS:
            out.warnings.append(f"-D{switch}: unknown level {level}; keeping INFO")
        else:
            out.environment["ZFLUME_LOG_LEVEL"] = LEVELS[level.upper()]
        appenders = {name.strip().lower() for name in appender.split(",") if name.strip()}
        if appenders:
            out.console = "console" in appenders
            out.log_file = "logfile" if "logfile" in appenders else ""  # placed by parse()
        for unknown in sorted(appenders - {"console", "logfile"}):
            out.warnings.append(f"-D{switch}: unknown appender {unknown}; Flume's are console "
                                "and LOGFILE")
        if appenders and not appenders & {"console", "logfile"}:
            out.console = True
    elif key in SSL_SWITCHES:
        out.environment[SSL_SWITCHES[key]] = value
    elif key in NOT_YET:
        out.warnings.append(f"-D{switch}: {NOT_YET[key]} is not implemented yet")
    elif key.startswith(JVM_PROPERTIES):
        out.warnings.append(f"-D{switch}: a JVM property; nothing to do for zflume")
    elif key not in SILENT:
        out.warnings.append(f"-D{switch}: unknown switch, ignored")
