"""Splits a bench run's direct jobs into the node's time and workerd's, from packet timestamps.

usage: phases.py CAPTURE.pcap PORTS.json   (written by `scripts/packet-phases.sh`)

For each node (`watch_ports.py` names its ports), each paced `POST /api/serverless` is paired
with the job request the node sent to one of its workerd processes meanwhile:
- `in`: the route's request fully arrived → the job's request to workerd starts;
- `workerd`: workerd's server time for the job (last request segment → first answer segment);
- `out`: workerd's answer fully arrived → the route's response starts.
`in + out` is the node's own time inside its process; what it adds in all is that plus one more
HTTP exchange's client-side cost (the client's, not visible here). The floor's workerd server
time is given beside it. Paced = the only exchange of its kind in flight (none of the same
target within 30 ms before, no job within 20 ms after), so queueing does not enter.
"""

import bisect
import collections
import json
import statistics
import sys

from exchanges import exchanges, segments

PACED_GAP = 0.030
NEXT_GAP = 0.020


def kind(exchange):
    head = exchange.head.lower()
    if b"x-serverless-executor-ping" in head:
        return "ping"
    if b"x-serverless-executor-code-form" in head:
        return "wasm"
    return "js"


def paced(found):
    """The exchanges that had their target to themselves (see the module's doc)."""
    chosen = []
    for i, exchange in enumerate(found):
        if i > 0 and exchange.asked_first - found[i - 1].answered_last < PACED_GAP:
            continue
        later = found[i + 1] if i + 1 < len(found) else None
        if later is not None and kind(later) != "ping" and later.asked_first - exchange.answered_last < NEXT_GAP:
            continue
        chosen.append(exchange)
    return chosen


def split_floor(found):
    """`floor` ports serving at most 3 exchanges (warm-up and one job) are the 1-job floor's."""
    served = collections.Counter(exchange.server for exchange in found)
    return {port: "floor, 1 job per process" if served[port] <= 3 else "floor" for port in served}


def node_phases(route, jobs):
    """(kind, in, workerd, out) for each paced route exchange and the job it sent to workerd."""
    starts = [job.asked_first for job in jobs]
    rows = []
    for asked in paced([e for e in route if e.head.startswith(b"POST /api/serverless")]):
        i = bisect.bisect_left(starts, asked.asked_last)
        if i == len(jobs) or jobs[i].answered_last > asked.answered_first:
            continue
        job = jobs[i]
        rows.append((kind(job), job.asked_first - asked.asked_last, job.server_time, asked.answered_first - job.answered_last))
    return rows


def ms(values):
    return f"{statistics.median(values) * 1000:.3f}" if values else "–"


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
    print("| target | job | paced jobs | in p50 ms | workerd p50 ms | out p50 ms | in + out ms |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for role in sorted(r for r in by_role if r.startswith("floor")):
        for form in ("js", "wasm"):
            times = [e.server_time for e in paced(by_role[role]) if kind(e) == form]
            print(f"| {role} | {form} | {len(times)} | | {ms(times)} | | |")
    for pid, node in sorted(watched["nodes"].items()):
        jobs = [e for e in by_role.get(f"node-workerd:{pid}", []) if kind(e) != "ping"]
        rows = node_phases(by_role.get(f"node-http:{pid}", []), jobs)
        for form in ("js", "wasm"):
            chosen = [row for row in rows if row[0] == form]
            into, work, out = ([row[k] for row in chosen] for k in (1, 2, 3))
            both = [a + b for a, b in zip(into, out)]
            label = f"{node['mode']} ({node['binary']})"
            print(f"| {label} | {form} | {len(chosen)} | {ms(into)} | {ms(work)} | {ms(out)} | {ms(both)} |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
