"""Link latency and reordering without `tc netem`: packets that iptables hands to an NFQUEUE are
released by this process after a delay (plus random jitter, which reorders them).

    nsenter --net=/run/netns/NODE python -m chaos.delayer --queue 0 --delay-ms 100 --jitter-ms 50

Runs inside a node's namespace (a netfilter queue belongs to one), speaking the nfnetlink queue
protocol directly over a netlink socket: only packet ids and verdicts cross, never payloads.
The iptables rule uses `--queue-bypass`, so packets pass untouched once this process is gone.
"""

from __future__ import annotations

import argparse
import heapq
import random
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS = 1, 2
NFQA_PACKET_HDR, NFQA_VERDICT_HDR = 1, 2
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NLM_F_REQUEST = 1
NF_ACCEPT = 1
NLMSG_ERROR = 2


def _attr(kind: int, payload: bytes) -> bytes:
    header = struct.pack("=HH", 4 + len(payload), kind)
    return header + payload + b"\0" * (-len(payload) % 4)


def _message(msg: int, queue: int, attrs: bytes, family: int = socket.AF_UNSPEC) -> bytes:
    body = struct.pack("=BBH", family, 0, socket.htons(queue)) + attrs
    kind = (NFNL_SUBSYS_QUEUE << 8) | msg
    return struct.pack("=IHHII", 16 + len(body), kind, NLM_F_REQUEST, 0, 0) + body


def _packet_ids(data: bytes) -> list[int]:
    ids, offset = [], 0
    while offset + 16 <= len(data):
        length, kind = struct.unpack_from("=IH", data, offset)
        if length < 16:
            break
        if kind == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
            at = offset + 16 + 4  # past nlmsghdr and nfgenmsg
            while at + 4 <= offset + length:
                alen, atype = struct.unpack_from("=HH", data, at)
                if alen < 4:
                    break
                if atype & 0x7FFF == NFQA_PACKET_HDR:
                    ids.append(struct.unpack_from("!I", data, at + 4)[0])
                at += alen + (-alen % 4)
        offset += length + (-length % 4)
    return ids


def run(queue: int, delay: float, jitter: float, seed: int) -> None:
    rng = random.Random(seed)
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.bind((0, 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    sock.send(_message(NFQNL_MSG_CONFIG, queue,
                       _attr(NFQA_CFG_CMD, struct.pack("!BxH", NFQNL_CFG_CMD_BIND, 0))))
    sock.send(_message(NFQNL_MSG_CONFIG, queue,
                       _attr(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META))))
    due: list[tuple[float, int]] = []
    while True:
        timeout = max(0.0, due[0][0] - time.monotonic()) if due else 1.0
        readable, _, _ = select.select([sock], [], [], timeout)
        if readable:
            try:
                data = sock.recv(1 << 16)
            except OSError:  # ENOBUFS when the kernel outpaces us: those packets retransmit
                data = b""
            now = time.monotonic()
            for packet_id in _packet_ids(data):
                wait = max(0.0, delay + rng.uniform(-jitter, jitter))
                heapq.heappush(due, (now + wait, packet_id))
        now = time.monotonic()
        while due and due[0][0] <= now:
            _, packet_id = heapq.heappop(due)
            sock.send(_message(NFQNL_MSG_VERDICT, queue, _attr(
                NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, packet_id))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos.delayer")
    parser.add_argument("--queue", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, required=True)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    run(args.queue, args.delay_ms / 1000, args.jitter_ms / 1000, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
