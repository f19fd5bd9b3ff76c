"""Tests of the packet tools on synthetic captures: `python3 -m unittest discover benches/packets`."""

import os
import struct
import tempfile
import unittest

from exchanges import Exchange, exchanges, segments
from phases import kind, node_phases, quantile, split_floor, window_of_answer


def frame(source, destination, payload):
    """An Ethernet + IPv4 + TCP frame (no options) carrying `payload`."""
    tcp = struct.pack(">HHIIBBHHH", source, destination, 0, 0, 5 << 4, 0x18, 65535, 0, 0)
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), 0, 0, 64, 6, 0, bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    return bytes(14) + ip + tcp + payload


def capture(packets):
    """A pcap file (microsecond timestamps) of (time, source, destination, payload)."""
    file = tempfile.NamedTemporaryFile(delete=False, suffix=".pcap")
    file.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for time, source, destination, payload in packets:
        data = frame(source, destination, payload)
        seconds, micros = int(time), round((time - int(time)) * 1e6)
        file.write(struct.pack("<IIII", seconds, micros, len(data), len(data)) + data)
    file.close()
    return file.name


class ExchangesTest(unittest.TestCase):
    def test_requests_and_answers_pair_up_on_a_kept_alive_connection(self):
        path = capture([
            (1.000, 5000, 80, b"POST / HTTP/1.1\r\n"),
            (1.001, 5000, 80, b"body"),
            (1.001, 80, 5000, b""),  # a bare ACK carries nothing
            (1.009, 80, 5000, b"HTTP/1.1 200 OK\r\n"),
            (1.010, 80, 5000, b"rest"),
            (1.050, 5000, 80, b"POST / HTTP/1.1\r\nx-serverless-executor-ping: 1\r\n"),
            (1.051, 80, 5000, b"HTTP/1.1 200 OK\r\n"),
            (1.060, 6000, 9999, b"not watched"),
        ])
        self.addCleanup(os.unlink, path)
        found = exchanges(segments(path), {80})
        self.assertEqual(len(found), 2)
        first, second = found
        self.assertAlmostEqual(first.server_time, 0.008, places=6)
        self.assertAlmostEqual(first.answered_last, 1.010, places=6)
        self.assertEqual((first.asked, first.answered), (b"POST / HTTP/1.1\r\nbody", b"HTTP/1.1 200 OK\r\nrest"))
        self.assertEqual((kind(first), kind(second)), ("js", "ping"))

    def test_a_file_that_is_not_a_pcap_is_refused(self):
        with tempfile.NamedTemporaryFile(delete=False) as file:
            file.write(b"\0" * 24)
        self.addCleanup(os.unlink, file.name)
        with self.assertRaises(ValueError):
            list(segments(file.name))


def exchange(server, asked, answered, head=b"POST / HTTP/1.1\r\n", took=0.0, sent=b"", echoed=b""):
    return Exchange(server, 40000, asked, asked + took, answered, answered + took, head, head + sent, echoed)


ROUTE = b"POST /api/serverless HTTP/1.1\r\n"


class PhasesTest(unittest.TestCase):
    def test_the_nodes_part_is_before_and_after_its_workerd_exchange(self):
        route = [exchange(8080, 1.0000, 1.0100, ROUTE, sent=b'{"input":"pace00000007"}')]
        jobs = [exchange(7000, 1.0004, 1.0094, echoed=b"HTTP/1.1 200 OK\r\n\r\npace00000007")]
        [(name, form, into, work, out)] = node_phases(route, jobs)
        self.assertEqual((name, form), ("pace", "js"))
        self.assertAlmostEqual(into, 0.0004, places=7)
        self.assertAlmostEqual(work, 0.0090, places=7)
        self.assertAlmostEqual(out, 0.0006, places=7)

    def test_overlapping_jobs_pair_by_the_input_they_carry(self):
        # Two jobs in flight at once, answered by workerd in the other order.
        route = [
            exchange(8080, 1.000, 1.020, ROUTE, sent=b'"half00000001"'),
            exchange(8080, 1.001, 1.015, ROUTE, sent=b'"half00000002"'),
        ]
        jobs = [
            exchange(7000, 1.002, 1.018, echoed=b"half00000001"),
            exchange(7001, 1.003, 1.012, echoed=b"half00000002"),
        ]
        rows = node_phases(route, jobs)
        self.assertEqual([round(row[2], 6) for row in rows], [0.002, 0.002])
        self.assertEqual([round(row[4], 6) for row in rows], [0.002, 0.003])

    def test_a_job_not_inside_the_route_exchange_is_not_paired(self):
        route = [exchange(8080, 1.0, 1.01, ROUTE, sent=b"satu00000003")]
        self.assertEqual(node_phases(route, [exchange(7000, 1.005, 1.02, echoed=b"satu00000003")]), [])
        self.assertEqual(node_phases(route, [exchange(7000, 1.001, 1.009, echoed=b"satu00000004")]), [])
        self.assertEqual(node_phases(route, []), [])

    def test_a_floor_job_is_counted_in_the_window_its_input_names(self):
        self.assertEqual(window_of_answer(exchange(7000, 1.0, 1.01, echoed=b"HTTP/1.1 200 OK\r\n\r\nsatu00000009")), "satu")
        self.assertIsNone(window_of_answer(exchange(7000, 1.0, 1.01, echoed=b"HTTP/1.1 200 OK\r\n\r\npong")))

    def test_quantiles_are_nearest_rank(self):
        values = list(range(1, 101))
        self.assertEqual((quantile(values, 0.5), quantile(values, 0.99), quantile([5], 0.99)), (50, 99, 5))

    def test_floor_ports_with_one_job_are_the_one_job_floor(self):
        found = [exchange(7000, t, t + 0.01) for t in (1, 2, 3, 4)] + [exchange(7001, t, t + 0.01) for t in (1, 2, 3)]
        self.assertEqual(split_floor(found), {7000: "floor", 7001: "floor, 1 job per process"})


if __name__ == "__main__":
    unittest.main()
