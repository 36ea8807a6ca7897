"""Entry point of every component process: `zflume component ...` (rendered by deploy/)."""
from __future__ import annotations

import logging

from services import rundir
from services.config import scale
from services.config.load import load_agent
from services.config.model import ConfigErrors
from services.endpoints import EndpointError
from services.heap import reuse_freed_buffers
from services.process import setup_logging
from services.registry import process_class
from services.scheduling import prefer_throughput

log = logging.getLogger("zflume.runner")


def run_component(conf_file: str, agent_name: str, kind: str, name: str, run_dir: str,
                  instance: int = 0, collectors: str = "") -> int:
    """Load the agent's config and run one of its components until it stops.

    `instance` and `collectors` are the scaling transforms of deploy.scale, applied here exactly
    as the renderer applied them.
    """
    setup_logging()
    prefer_throughput()
    reuse_freed_buffers()
    try:
        agent = scale.apply(load_agent(conf_file, agent_name), instance, collectors)
        run_dir = rundir.prepare(run_dir)
        process = process_class(agent, kind, name)(agent, name, run_dir)
    except ConfigErrors as exc:
        log.error("configuration errors:\n%s", exc)
        return 2
    except (EndpointError, rundir.RunDirError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    return process.run()
