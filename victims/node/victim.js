// clobber's Node.js victim: loads the package `clobber-victim` that npm installed (its native
// addon, victim.node, is dlopen()ed by require) and calls into the addon in a loop, reporting like
// clobber's other victims (victims/common/report.rs): the status page (layout in
// victims/common/layout.rs) written and read with pwrite/pread, which the harness sees through its
// MAP_SHARED mapping of the same file, and one byte on stdout, the harness's notification pipe,
// when ready, on the first iteration after the harness closes stdin, and on the next iterations
// after each new value of UPDATED. Node cannot set a parent-death signal or its core size: the
// harness does both for it between fork and exec (harness/src/victim.rs).
//
// Usage: node victim.js PACKAGE_DIR STATUS_FILE
'use strict';

const fs = require('fs');

// The status page's layout (victims/common/layout.rs).
const STATE = 0;
const ITERATIONS = 1;
const SEEN = 2;
const FIRST = 3;
const UPDATED = 4;
const READY = 1;
const MIXED = 99;

const NOTIFY = 4;

const status = fs.openSync(process.argv[3], 'r+');
const word = Buffer.alloc(8);
const put = (index, value) => {
    word.writeBigUInt64LE(BigInt(value));
    fs.writeSync(status, word, 0, 8, index * 8);
};
const get = (index) => {
    fs.readSync(status, word, 0, 8, index * 8);
    return word.readBigUInt64LE();
};
const notify = () => fs.writeSync(1, '+');

const addon = require(process.argv[2]);
const first = addon.version();
const expected = addon.work();
put(FIRST, first);
put(SEEN, first);
put(STATE, READY);
notify();
const byte = Buffer.alloc(1);
while (fs.readSync(0, byte, 0, 1, null) > 0) {
    // Held until the harness closes stdin.
}
let updated = 0n;
let owed = 1;
let iterations = 0;
for (;;) {
    const answered = addon.version();
    let seen = first;
    if (answered !== first) {
        seen = answered;
    } else if (addon.work() !== expected) {
        seen = MIXED;
    }
    put(SEEN, seen);
    iterations += 1;
    put(ITERATIONS, iterations);
    const now = get(UPDATED);
    if (now !== updated) {
        updated = now;
        owed = NOTIFY;
    }
    if (owed > 0) {
        owed -= 1;
        notify();
    }
}
