"""Two versions of our loader (src/workerd/js) side by side, each served by a bare workerd.

The same echo job goes to both in turn, paced, for N pairs a round; each round starts both
processes afresh (in alternating order), so a process's own luck (its placement, its heap)
does not decide the result. Prints, per round and averaged over rounds, the median of the
paired latency differences B - A and workerd's CPU per job (all threads, from schedstat) B - A.
A/A runs of one version show the harness's own spread (≈ ±0.1 ms on our 2-core machines).

usage: loader_ab.py DIR_A DIR_B [--form wasi|js] [--pairs N] [--rounds R] [--workerd PATH]
Each DIR holds the loader's files as the node writes them (config.capnp and the modules).
"""
import argparse
import glob
import http.client
import os
import socket
import statistics
import subprocess
import sys
import time

INPUT = b'{"n": 42}'
JS_ECHO = b"export default { async fetch(r) { return new Response(await r.text()); } };"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WASM_ECHO = os.path.join(ROOT, "src/workerd/js/warm-up.wasm")
PACING_S = 0.012
WARM_UP_JOBS = 30


def paired_median(a, b):
    """Median of b[i] - a[i]: each pair was measured moments apart, so drift cancels."""
    return statistics.median(y - x for x, y in zip(a, b))


def summary(rounds):
    """`rounds` is a list of (latency difference, cpu difference) in ms; their means and the list."""
    latency = [r[0] for r in rounds]
    cpu = [r[1] for r in rounds]
    return statistics.mean(latency), statistics.mean(cpu), latency, cpu


class Workerd:
    """A bare workerd serving the loader in `directory` on a free loopback port."""

    def __init__(self, workerd, directory):
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        self.log = open(os.path.join(directory, "workerd.log"), "w")
        self.process = subprocess.Popen(
            [workerd, "serve", "config.capnp", "--socket-addr", f"http=127.0.0.1:{port}", "--experimental"],
            cwd=directory, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.connection = http.client.HTTPConnection("127.0.0.1", port)
                self.connection.connect()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"workerd serving {directory} did not listen (see workerd.log)")
                time.sleep(0.05)

    def job(self, code, form):
        """One job; its latency in ms. Fails loudly on anything but the echoed input."""
        headers = {"x-serverless-executor-code-length": str(len(code)), "x-serverless-executor-output-cap": "65536"}
        if form != "js":
            headers["x-serverless-executor-code-form"] = form
        started = time.perf_counter()
        self.connection.request("POST", "/", body=code + INPUT, headers=headers)
        response = self.connection.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        end = response.getheader("x-serverless-executor-end")
        if end != "ok" or body != INPUT:
            raise RuntimeError(f"the echo job ended {end!r} with {body!r}")
        return elapsed

    def cpu_ns(self):
        total = 0
        for path in glob.glob(f"/proc/{self.process.pid}/task/*/schedstat"):
            try:
                with open(path) as file:
                    total += int(file.read().split()[0])
            except OSError:
                pass  # a thread that ended between the listing and the read
        return total

    def stop(self):
        self.process.kill()
        self.process.wait()
        self.log.close()


def one_round(args, code, swap):
    """One round: both versions started afresh (B first when `swap`), warmed, then paired."""
    sides = [("a", args.a), ("b", args.b)]
    if swap:
        sides.reverse()
    started = {}
    try:
        for side, directory in sides:
            started[side] = Workerd(args.workerd, directory)
        a, b = started["a"], started["b"]
        for _ in range(WARM_UP_JOBS):
            a.job(code, args.form)
            b.job(code, args.form)
        latencies = ([], [])
        cpu_before = (a.cpu_ns(), b.cpu_ns())
        for i in range(args.pairs):
            order = ((0, a), (1, b)) if i % 2 else ((1, b), (0, a))
            for side, process in order:
                time.sleep(PACING_S)
                latencies[side].append(process.job(code, args.form))
        cpu = ((b.cpu_ns() - cpu_before[1]) - (a.cpu_ns() - cpu_before[0])) / args.pairs / 1e6
        return paired_median(*latencies), cpu
    finally:
        for process in started.values():
            process.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--form", choices=["wasi", "js"], default="wasi")
    parser.add_argument("--pairs", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workerd", default=os.path.join(ROOT, ".tools/bin/workerd"))
    args = parser.parse_args()
    code = JS_ECHO if args.form == "js" else open(WASM_ECHO, "rb").read()
    rounds = [one_round(args, code, swap=r % 2 == 1) for r in range(args.rounds)]
    latency, cpu, per_latency, per_cpu = summary(rounds)
    line = lambda values: " ".join(f"{v:+.2f}" for v in values)
    print(f"{args.form} echo, B - A over {args.rounds} rounds of {args.pairs} pairs: "
          f"latency {latency:+.3f} ms (rounds {line(per_latency)}), "
          f"workerd CPU {cpu:+.3f} ms a job (rounds {line(per_cpu)})")


if __name__ == "__main__":
    sys.exit(main())
