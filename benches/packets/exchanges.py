"""HTTP/1.1 exchanges on loopback, read from a pcap file: what `scripts/packet-phases.sh` measures.

An exchange is one request (the client's payload segments up to the server's first answer
segment on the same connection) and its answer. Its server time is the first answer segment's
timestamp minus the last request segment's: what the server spent, without either side's
client code. Kept-alive connections carry many exchanges in turn, which is how the node and
workerd talk. Only IPv4 TCP over Ethernet framing (Linux `lo`) is read; nothing is decoded past
the first bytes of each request (its request line and headers, for telling kinds apart); the
first bytes of every segment of each side are kept too (`asked`, `answered`), for finding a job's
input in a request and its output in an answer.
"""

import collections
import struct

PCAP_MICROS = 0xA1B2C3D4
PCAP_NANOS = 0xA1B23C4D
HEAD_BYTES = 640  # no more than `scripts/packet-phases.sh` captures of a frame
KEPT_BYTES = 4096


class Exchange(collections.namedtuple("Exchange", "server client asked_first asked_last answered_first answered_last head asked answered")):
    """One request and its answer on one connection (`server`, `client` are ports); `asked` and
    `answered` are each side's segment heads joined (at most `KEPT_BYTES`)."""

    @property
    def server_time(self):
        return self.answered_first - self.asked_last


def segments(path):
    """Yields (timestamp, source port, destination port, payload length, payload head)."""
    with open(path, "rb") as file:
        header = file.read(24)
        magic = struct.unpack("<I", header[:4])[0]
        if magic not in (PCAP_MICROS, PCAP_NANOS):
            raise ValueError(f"{path}: not a little-endian pcap file")
        scale = 1e9 if magic == PCAP_NANOS else 1e6
        while True:
            record = file.read(16)
            if len(record) < 16:
                return
            seconds, fraction, captured, _ = struct.unpack("<IIII", record)
            frame = file.read(captured)
            segment = tcp_segment(frame)
            if segment is not None:
                yield (seconds + fraction / scale,) + segment


def tcp_segment(frame):
    """(source port, destination port, payload length, payload head) of an IPv4 TCP frame."""
    ip = frame[14:]
    if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
        return None
    ip_header = (ip[0] & 15) * 4
    total = struct.unpack(">H", ip[2:4])[0]
    tcp = ip[ip_header:]
    if len(tcp) < 20:
        return None
    source, destination = struct.unpack(">HH", tcp[:4])
    tcp_header = (tcp[12] >> 4) * 4
    payload = total - ip_header - tcp_header
    return source, destination, payload, bytes(tcp[tcp_header:tcp_header + HEAD_BYTES])


def exchanges(timed_segments, servers):
    """The exchanges on connections to a port in `servers`, in the order they were asked."""
    turns = collections.defaultdict(list)
    for time, source, destination, length, head in timed_segments:
        if length <= 0:
            continue
        if destination in servers:
            key, side = (destination, source), "ask"
        elif source in servers:
            key, side = (source, destination), "answer"
        else:
            continue
        connection = turns[key]
        if connection and connection[-1][0] == side:
            connection[-1][2] = time
            if len(connection[-1][4]) < KEPT_BYTES:
                connection[-1][4] += head[:KEPT_BYTES - len(connection[-1][4])]
        else:
            connection.append([side, time, time, head, head[:KEPT_BYTES]])
    found = []
    for (server, client), connection in turns.items():
        for asked, answered in zip(connection, connection[1:]):
            if asked[0] == "ask" and answered[0] == "answer":
                found.append(Exchange(server, client, asked[1], asked[2], answered[1], answered[2], asked[3], asked[4], answered[4]))
    found.sort(key=lambda exchange: exchange.asked_first)
    return found
