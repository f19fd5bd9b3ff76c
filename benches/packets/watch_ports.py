"""Watches the listening TCP ports of a bench run and says whose each one is, for `phases.py`.

Every 0.2 s until stopped it lists listening sockets (`ss -ltnpH`) and writes OUT (JSON):
`ports` maps a port to `node-http:<pid>` (a node's own listener), `node-workerd:<pid>` (a
workerd process started by that node) or `floor` (a workerd started by the bench itself), and
`nodes` maps a node's pid to its binary and execution mode (from its config file). A port is
named once, by the first workerd seen on it: a node binds its processes' listeners ahead of
need, so a port first seen held by a node alone may still turn out to be a workerd's.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

USER = re.compile(r'\("([^"]+)",pid=(\d+)')


def parent(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("PPid:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def command_line(pid):
    try:
        with open(f"/proc/{pid}/cmdline") as file:
            return file.read().split("\0")
    except OSError:
        return []


def is_node(pid):
    """A node: our binary (by its subcommand-less command line with `--config-file`)."""
    return "--config-file" in command_line(pid) and "sandbox-exec" not in command_line(pid)


def owning_node(pid):
    """The node a workerd process belongs to (its launcher's parent), or None for the bench's."""
    for _ in range(8):
        pid = parent(pid)
        if pid <= 1:
            return None
        if is_node(pid):
            return pid
    return None


def describe(pid):
    line = command_line(pid)
    mode = "?"
    try:
        with open(line[line.index("--config-file") + 1]) as config:
            mode = json.load(config).get("execution_mode", "default")
    except (OSError, ValueError, IndexError):
        pass
    return {"binary": os.path.realpath(f"/proc/{pid}/exe"), "mode": mode}


def main(out):
    ports, nodes = {}, {}
    running = True

    def stop(*_):
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while running:
        listing = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
        for line in listing.splitlines():
            fields = line.split()
            if len(fields) < 4:
                continue
            port = fields[3].rsplit(":", 1)[1]
            if port in ports and not ports[port].startswith("node-http"):
                continue
            users = [(name, int(pid)) for name, pid in USER.findall(line)]
            workerd = [pid for name, pid in users if name == "workerd"]
            if workerd:
                node = owning_node(workerd[0])
                ports[port] = "floor" if node is None else f"node-workerd:{node}"
            else:
                node = next((pid for _, pid in users if is_node(pid)), None)
                if node is not None:
                    ports[port] = f"node-http:{node}"
                    nodes.setdefault(str(node), describe(node))
        with open(out + ".tmp", "w") as file:
            json.dump({"ports": ports, "nodes": nodes}, file)
        os.replace(out + ".tmp", out)
        time.sleep(0.2)


if __name__ == "__main__":
    main(sys.argv[1])
