"""Entry point of every component process: `zflume component ...` (rendered by deploy/)."""
from __future__ import annotations

import logging

from services import rundir
from services.config.load import load_agent
from services.config.model import ConfigErrors
from services.endpoints import EndpointError
from services.process import setup_logging
from services.registry import process_class

log = logging.getLogger("zflume.runner")


def run_component(conf_file: str, agent_name: str, kind: str, name: str, run_dir: str) -> int:
    """Load the agent's config and run one of its components until it stops."""
    setup_logging()
    try:
        agent = load_agent(conf_file, agent_name)
        run_dir = rundir.prepare(run_dir)
        process = process_class(agent, kind, name)(agent, name, run_dir)
    except ConfigErrors as exc:
        log.error("configuration errors:\n%s", exc)
        return 2
    except (EndpointError, rundir.RunDirError) as exc:
        log.error("%s", exc)
        return 2
    return process.run()
