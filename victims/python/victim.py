"""clobber's Python victim: imports the package `clobber_victim` that pip installed (it loads
libvictim.so with ctypes) and calls into it in a loop, reporting like clobber's other victims
(victims/common/report.rs): the status page (layout in victims/common/layout.rs) mapped
MAP_SHARED, and one byte on stdout, the harness's notification pipe, when ready, on the first
iteration after the harness closes stdin, and on the next iterations after each new value of
UPDATED. The harness gives it its parent-death signal and no core dumps between fork and exec
(harness/src/victim.rs).

Usage: python3 victim.py STATUS_FILE
"""

import mmap
import os
import sys

# The status page's layout (victims/common/layout.rs).
SIZE = 40
STATE = 0
ITERATIONS = 1
SEEN = 2
FIRST = 3
UPDATED = 4
READY = 1
MIXED = 99

NOTIFY = 4
SEED = 0x5EED


def main():
    with open(sys.argv[1], "r+b") as file:
        page = mmap.mmap(file.fileno(), SIZE, mmap.MAP_SHARED)
    words = memoryview(page).cast("Q")
    import clobber_victim

    first = clobber_victim.version()
    expected = clobber_victim.work(SEED)
    words[FIRST] = first
    words[SEEN] = first
    words[STATE] = READY
    os.write(1, b"+")
    while os.read(0, 1):
        pass
    updated, owed = 0, 1
    while True:
        answered = clobber_victim.version()
        if answered != first:
            seen = answered
        elif clobber_victim.work(SEED) == expected:
            seen = first
        else:
            seen = MIXED
        words[SEEN] = seen
        words[ITERATIONS] += 1
        if words[UPDATED] != updated:
            updated, owed = words[UPDATED], NOTIFY
        if owed > 0:
            owed -= 1
            os.write(1, b"+")
        os.sched_yield()


main()
