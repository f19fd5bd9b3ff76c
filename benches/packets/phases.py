"""Splits a bench run's direct jobs into the node's time and workerd's, from packet timestamps.

usage: phases.py CAPTURE.pcap PORTS.json   (written by `scripts/packet-phases.sh`)

Every job of `cargo bench --bench node_added` carries an input no other job has: its window's
name (`pace`: paced, one job at a time; `half`: the open loop at half the floor's saturation;
`satu`: the closed loop at saturation; `warm`: unmeasured) and a number. workerd echoes it, so
for each node (`watch_ports.py` names its ports) every `POST /api/serverless` is paired with
the job request the node sent to one of its workerd processes for it, under load as well:
- `in`: the route's request fully arrived → the job's request to workerd starts (under load
  this includes the wait for a slot and an idle process);
- `workerd`: workerd's server time for the job (last request segment → first answer segment);
- `out`: workerd's answer fully arrived → the route's response starts.
`in + out` is the node's own time inside its process, job by job; what it adds in all is that
plus one more HTTP exchange's client-side cost (the client's, not visible here). The floor's
workerd server time is given beside it, window by window.
"""

import collections
import json
import math
import re
import sys

from exchanges import exchanges, segments

WINDOWS = ("pace", "half", "satu")
TOKEN = re.compile(rb"(warm|pace|half|satu)\d{8}")


def kind(exchange):
    head = exchange.head.lower()
    if b"x-serverless-executor-ping" in head:
        return "ping"
    if b"x-serverless-executor-code-form" in head:
        return "wasm"
    return "js"


def token(data):
    """The bench input in `data` (bytes), or None."""
    found = TOKEN.search(data)
    return found.group(0) if found else None


def window(found_token):
    return found_token[:4].decode()


def window_of_answer(exchange):
    """The window of the job `exchange` answered, from the input it echoed, or None."""
    echoed = token(exchange.answered)
    return window(echoed) if echoed is not None else None


def split_floor(found):
    """`floor` ports serving at most 3 exchanges (warm-up and one job) are the 1-job floor's."""
    served = collections.Counter(exchange.server for exchange in found)
    return {port: "floor, 1 job per process" if served[port] <= 3 else "floor" for port in served}


def node_phases(route, jobs):
    """(window, kind, in, workerd, out) for each route exchange whose job workerd answered."""
    by_token = {}
    for job in jobs:
        echoed = token(job.answered)
        if echoed is not None:
            by_token[echoed] = job
    rows = []
    for asked in route:
        if not asked.head.startswith(b"POST /api/serverless"):
            continue
        sent = token(asked.asked)
        job = by_token.get(sent) if sent is not None else None
        if job is None or job.asked_first < asked.asked_last or job.answered_last > asked.answered_first:
            continue
        rows.append((window(sent), kind(job), job.asked_first - asked.asked_last, job.server_time, asked.answered_first - job.answered_last))
    return rows


def quantile(values, q):
    """Nearest-rank quantile, as `benches/node_added/load.rs` computes it."""
    ordered = sorted(values)
    rank = min(max(math.ceil(q * len(ordered)), 1), len(ordered))
    return ordered[rank - 1]


def ms(values):
    """`p50 / p99` in milliseconds."""
    if not values:
        return "–"
    return f"{quantile(values, 0.5) * 1000:.3f} / {quantile(values, 0.99) * 1000:.3f}"


def main(capture, ports_file):
    with open(ports_file) as file:
        watched = json.load(file)
    roles = {int(port): role for port, role in watched["ports"].items()}
    found = exchanges(segments(capture), set(roles))
    floor_roles = split_floor([e for e in found if roles[e.server] == "floor"])
    by_role = collections.defaultdict(list)
    for exchange in found:
        role = roles[exchange.server]
        by_role[floor_roles.get(exchange.server, role) if role == "floor" else role].append(exchange)
    print("p50 / p99 in ms")
    print()
    print("| target | window | job | jobs | in | workerd | out | in + out |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for role in sorted(r for r in by_role if r.startswith("floor")):
        for name in WINDOWS:
            for form in ("js", "wasm"):
                times = [e.server_time for e in by_role[role] if kind(e) == form and window_of_answer(e) == name]
                if times:
                    print(f"| {role} | {name} | {form} | {len(times)} | | {ms(times)} | | |")
    for pid, node in sorted(watched["nodes"].items()):
        jobs = [e for e in by_role.get(f"node-workerd:{pid}", []) if kind(e) != "ping"]
        rows = node_phases(by_role.get(f"node-http:{pid}", []), jobs)
        label = f"{node['mode']} ({node['binary']})"
        for name in WINDOWS:
            for form in ("js", "wasm"):
                chosen = [row for row in rows if row[0] == name and row[1] == form]
                if not chosen:
                    continue
                into, work, out = ([row[k] for row in chosen] for k in (2, 3, 4))
                both = [row[2] + row[4] for row in chosen]
                print(f"| {label} | {name} | {form} | {len(chosen)} | {ms(into)} | {ms(work)} | {ms(out)} | {ms(both)} |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
