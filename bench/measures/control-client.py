#!/usr/bin/env python3
"""Asks a daemon-manager control socket one command in a loop, timing each answer.

Manager-side latency: no Node start-up, only connect, one JSON request line, and the
answer line (src/protocol). Run as the user whose socket it is (the manager reads the
caller's uid with SO_PEERCRED). Prints one JSON object: every call's milliseconds and
the failures. With --touch DIR GLOB, gives those files a new modification time before
each call (the attacker's loop: every big config looks changed at every rescan).

    control-client.py SOCKET COMMAND SECONDS [--touch DIR PREFIX]
"""
import json
import os
import socket
import sys
import time


def ask(path, command):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(120)
        client.connect(path)
        client.sendall(json.dumps({"command": command}).encode() + b"\n")
        answer = bytearray()
        while not answer.endswith(b"\n"):
            chunk = client.recv(1 << 20)
            if not chunk:
                break
            answer += chunk
    reply = json.loads(answer)
    if not reply.get("ok"):
        raise RuntimeError(str(reply.get("error", "not ok"))[:200])
    return len(answer)


def main():
    path, command, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    touch = sys.argv[5:7] if len(sys.argv) >= 7 and sys.argv[4] == "--touch" else None
    touched = []
    if touch:
        touched = [os.path.join(touch[0], name) for name in sorted(os.listdir(touch[0]))
                   if name.startswith(touch[1])]
    calls, ok_calls, failures, errors, largest, slow = [], [], 0, [], 0, []
    start = time.monotonic()
    end = start + seconds
    while time.monotonic() < end:
        for name in touched:
            os.utime(name)
        began = time.monotonic()
        try:
            largest = max(largest, ask(path, command))
            calls.append(round((time.monotonic() - began) * 1000, 2))
            ok_calls.append(calls[-1])
            if calls[-1] > 100:  # when, since the start (wall clock too), to match a log
                slow.append([round(began - start, 3), time.time() - calls[-1] / 1000, calls[-1]])
        except Exception as error:  # a failed call is counted, with why
            failures += 1
            calls.append(round((time.monotonic() - began) * 1000, 2))
            if len(errors) < 5:
                errors.append(str(error)[:200])
    json.dump({"ms": calls, "okMs": ok_calls, "failures": failures, "errors": errors,
               "largestReply": largest, "slow": slow}, sys.stdout)


main()
