"""The HTTP source under a real agent: 200 only for stored events, 503 to retry, 4xx for bad input."""
from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from pathlib import Path

from tests.integration.harness import Agent, duplicates, wait_for
from tests.integration.test_sources import all_lines, free_port, pipeline, start


def http_source(port: int, extra: str = "") -> str:
    return (f"a.sources.s.type = http\na.sources.s.bind = 127.0.0.1\na.sources.s.port = {port}\n"
            f"{extra}")


def post(port: int, body: bytes, method: str = "POST", content_type: str = "application/json",
         path: str = "/") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": content_type})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_listening(port: int) -> None:
    def attempt() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False
    wait_for(attempt, 15, f"the http source on {port}")


def events(numbers: range) -> bytes:
    return json.dumps([{"headers": {"n": str(n)}, "body": str(n)} for n in numbers]).encode()


def test_concurrent_clients_lose_nothing_while_the_channel_fills(
        tmp_path: Path, agents: list[Agent]) -> None:
    """When four clients post 20,000 events in batches of 100 into a channel of 120, some posts
    are answered 503; the clients post those again, and every event arrives, none twice
    except those of a retried post."""
    port = free_port()
    start(tmp_path, agents, pipeline(http_source(port), capacity=120,
                                    extra="a.channels.c.keep-alive = 0"))
    wait_listening(port)
    answers: dict[int, int] = {}
    lock = threading.Lock()

    def client(first: int) -> None:
        for start_at in range(first, 20_000, 400):
            while True:
                status, _ = post(port, events(range(start_at, start_at + 100)))
                with lock:
                    answers[status] = answers.get(status, 0) + 1
                if status == 200:
                    break
                assert status == 503
                time.sleep(0.05)

    threads = [threading.Thread(target=client, args=(i * 100,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    got = all_lines(tmp_path, "k", 20_000, timeout=60)
    assert set(got) == set(range(20_000))
    assert duplicates(got) <= 100 * answers.get(503, 0)
    assert answers[200] == 200 and answers.get(503, 0) > 0  # the channel did fill


def test_bad_requests_get_their_answers_while_a_slow_client_waits(
        tmp_path: Path, agents: list[Agent]) -> None:
    """When requests are malformed, in a charset JSON is not, too large or of another method,
    each gets its 4xx answer and stores nothing, while a client sending a byte at a time
    holds nobody up, and 500 bad requests pipelined on one connection get 500 answers."""
    port = free_port()
    start(tmp_path, agents, pipeline(http_source(port, "a.sources.s.max-request-bytes = 1000")))
    wait_listening(port)
    slow = socket.create_connection(("127.0.0.1", port), timeout=10)
    slow.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n[")
    assert post(port, b"[{\"body\": ")[0] == 400
    assert post(port, b"{\"body\": \"1\"}")[0] == 400
    assert post(port, events(range(1, 2)), content_type="application/json; charset=latin1")[0] \
        == 415
    assert post(port, b"[" + b" " * 2000 + b"]")[0] == 413
    assert post(port, events(range(1, 2)), method="PUT")[0] == 405
    assert post(port, events(range(7, 9)))[0] == 200
    slow.sendall(b'{"body": "5"}]'.ljust(39))
    assert slow.recv(100).startswith(b"HTTP/1.1 200")
    slow.close()
    pipelined = socket.create_connection(("127.0.0.1", port), timeout=10)
    pipelined.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n{" * 500)
    answers = b""
    while answers.count(b"HTTP/1.1 400") < 500:
        chunk = pipelined.recv(65536)
        assert chunk, f"closed after {answers.count(b'HTTP/1.1 400')} answers"
        answers += chunk
    pipelined.close()
    assert sorted(all_lines(tmp_path, "k", 3)) == [5, 7, 8]
