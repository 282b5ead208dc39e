#!/usr/bin/env python3
"""Tiny QMP client for the mkdbg lab (stdlib only).

usage: qmp.py [--timeout SECS] SOCKET COMMAND [ARG...]
       qmp.py [--timeout SECS] SOCKET hmp "info registers -a"

ARG is either one JSON object ('{"paging": false}') or key=value pairs; a value
that parses as JSON (false, 3, "x", [..]) is used as such, anything else is a
string: `qmp.py s dump-guest-memory paging=false protocol=file:/tmp/x.elf`.

Prints the command's "return" value as JSON (an HMP reply is printed as text).
Exits 1 on a QMP error (message on stderr), 2 on usage/connection/timeout errors.
"""
import json
import os
import socket
import sys
import time


class QMPError(Exception):
    pass


class QMP:
    def __init__(self, path, timeout=10.0):
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        greeting = self._read()
        if "QMP" not in greeting:
            raise QMPError("not a QMP greeting: %r" % greeting)
        self.execute("qmp_capabilities")

    def _read(self):
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply from QMP within %.0f s" % self.timeout)
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise QMPError("QMP connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def execute(self, command, args=None):
        msg = {"execute": command}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._read()
            if "event" in reply:
                continue  # asynchronous events (STOP, RESUME, DUMP_COMPLETED, ...)
            if "error" in reply:
                err = reply["error"]
                raise QMPError("%s: %s" % (err.get("class"), err.get("desc")))
            if "return" in reply:
                return reply["return"]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def parse_args(words):
    if len(words) == 1 and words[0].lstrip().startswith("{"):
        return json.loads(words[0])
    args = {}
    for w in words:
        if "=" not in w:
            raise ValueError("argument %r is not key=value" % w)
        k, v = w.split("=", 1)
        try:
            args[k] = json.loads(v)
        except ValueError:
            args[k] = v
    return args


def main(argv):
    timeout = 10.0
    if len(argv) >= 2 and argv[0] == "--timeout":
        timeout = float(argv[1])
        argv = argv[2:]
    if len(argv) < 2 or argv[0] in ("-h", "--help"):
        sys.stderr.write(__doc__)
        return 2
    path, command, rest = argv[0], argv[1], argv[2:]
    try:
        if command == "hmp":
            args = {"command-line": " ".join(rest)}
            command = "human-monitor-command"
        else:
            args = parse_args(rest)
    except ValueError as e:
        sys.stderr.write("qmp.py: %s\n" % e)
        return 2
    if len(path.encode()) > 100:  # sun_path limit: connect relative to the directory
        os.chdir(os.path.dirname(path) or ".")
        path = os.path.basename(path)
    try:
        q = QMP(path, timeout)
        try:
            result = q.execute(command, args)
        finally:
            q.close()
    except QMPError as e:
        sys.stderr.write("qmp.py: %s\n" % e)
        return 1
    except (OSError, TimeoutError, ValueError) as e:
        sys.stderr.write("qmp.py: %s: %s\n" % (path, e))
        return 2
    if command == "human-monitor-command" and isinstance(result, str):
        sys.stdout.write(result)
    else:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
