#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Copy the kernel log (/dev/kmsg records, "prio,seq,usec,flags;text" and
their continuation lines) to FILE for the whole guest boot, from the oldest
record the kernel still has.  Unlike cat, which exits when the kernel
overwrote records it had not read yet (read() fails with EPIPE), this keeps
reading and writes a line "ccs-harness: kmsg reader lost N record(s)" into
FILE at the gap, so that the case whose log slice has it fails: its log
cannot be judged.  Records are written line-buffered, so a crash loses at
most the record being written.

Usage: kmsg-reader.py FILE"""
import os
import sys

fd = os.open("/dev/kmsg", os.O_RDONLY)
out = open(sys.argv[1], "a", buffering=1, encoding="utf-8", errors="replace")
last = None
while True:
    try:
        rec = os.read(fd, 16384)
    except BrokenPipeError:
        # overwritten before read: the next read resumes at the oldest
        # record left, and the sequence gap below counts what was lost
        continue
    except InterruptedError:
        continue
    if not rec:
        continue
    text = rec.decode("utf-8", errors="replace")
    head = text.split(";", 1)[0].split(",")
    try:
        seq = int(head[1])
    except (IndexError, ValueError):
        seq = None
    if seq is not None:
        if last is not None and seq != last + 1:
            out.write("3,%d,0,-;ccs-harness: kmsg reader lost %d record(s)\n"
                      % (last + 1, seq - last - 1))
        last = seq
    out.write(text if text.endswith("\n") else text + "\n")
