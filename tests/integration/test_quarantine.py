"""A batch no sink can decode (a corrupt blob in a channel) is moved to the run directory's
quarantine once, with one error line, instead of blocking everything behind it for ever."""
from __future__ import annotations

from pathlib import Path

import zmq

from proto import messages
from services.router import quarantine
from tests.integration.harness import Agent, lines_in, wait_for
from tests.integration.test_bad_messages import CONF, TOTAL

POISON = b"\x93 not a batch, as a bad disk sector might leave it"


def test_an_undecodable_batch_is_quarantined_and_the_rest_flows(tmp_path: Path,
                                                                agents: list[Agent]) -> None:
    agent = Agent(tmp_path, "a", CONF).start()
    agents.append(agent)
    ctx = zmq.Context()
    try:
        sock = ctx.socket(zmq.DEALER)
        sock.connect(f"ipc://{agent.run_dir / 'c.chan'}")
        inc = messages.new_incarnation()
        sock.send_multipart([b"", *messages.Put(src=inc, seq=1, ns=[5], sizes=[len(POISON)],
                                                delivered=False, until=0.0, rid=1,
                                                blobs=[POISON]).frames(inc)])
        assert sock.poll(5000), "the channel answered the PUT"
        assert isinstance(messages.parse(sock.recv_multipart()[1:]), messages.PutOk)
    finally:
        ctx.destroy(linger=0)
    wait_for(lambda: len(set(lines_in(tmp_path / "out"))) >= TOTAL, 60, "every good event")
    assert sorted(set(lines_in(tmp_path / "out"))) == list(range(TOTAL))
    # The sink writes the good transactions of the poisoned flight before the router hears
    # of the bad one: the quarantine file may come a moment after the last good event.
    kept = agent.run_dir / quarantine.DIRECTORY
    files = wait_for(lambda: kept.is_dir() and list(kept.iterdir()), 10, "the quarantine file")
    assert len(files) == 1 and quarantine.read(str(files[0])) == [POISON]
    wait_for(lambda: "cannot decode a batch of 5 events" in agent.log.read_text(), 10,
             "the router's error line")
    log = agent.log.read_text()
    assert log.count("cannot decode a batch of 5 events") == 1 and "Traceback" not in log
