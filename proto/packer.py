"""The one msgpack Packer of a process, for every header and batch blob it writes.

`msgpack.packb` builds a Packer, and with it a fresh output buffer, on every call: 0.5-0.8 us
of each message header and each event batch, thousands of times a second on every hop. One
Packer kept for the process does the same encoding (bin type for bytes) without that. Its
`pack` runs in C without releasing the GIL or calling back into Python for the types we pack
(lists, tuples, ints, floats, bools, str, bytes, memoryviews, None), so the threads of a sink
may share it. Its buffer keeps the size of the largest value packed so far (a blob: a few MiB
at most, bounded by the channels' transaction sizes).
"""
from __future__ import annotations

import msgpack

pack = msgpack.Packer(use_bin_type=True).pack
