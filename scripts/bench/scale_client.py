#!/usr/bin/env python3
"""Holds many keep-alive HTTP connections to one loopback server, for
scripts/bench/scale.py.

  scale_client.py PORT CONNECTIONS PERIOD_S

Opens CONNECTIONS connections (at most 200 connecting at once), sends one
request on each, then every PERIOD_S seconds one more request on each, the
sends spread over the period. Prints "open N" once all are open and
"requests N errors E" after each period; ends (closing every connection)
when stdin is closed or on SIGTERM. Python 3 standard library only.
"""
import asyncio
import resource
import signal
import sys

REQUEST = b"GET /scale HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


async def one_request(reader, writer):
    writer.write(REQUEST)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    if length:
        await reader.readexactly(length)


async def main():
    port, count, period = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    want = count + 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(want, soft), max(want, hard)))
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.buffer.read1(4096) else None)
    gate = asyncio.Semaphore(200)
    stats = {"requests": 0, "errors": 0}

    async def open_one():
        async with gate:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            await one_request(r, w)
            stats["requests"] += 1
            return r, w

    conns = await asyncio.gather(*(open_one() for _ in range(count)))
    print(f"open {len(conns)}", flush=True)

    async def keep(i, r, w):
        await asyncio.sleep(period * i / count)
        while not stop.is_set():
            try:
                await one_request(r, w)
                stats["requests"] += 1
            except (OSError, asyncio.IncompleteReadError):
                stats["errors"] += 1
                return
            await asyncio.sleep(period)

    tasks = [asyncio.create_task(keep(i, r, w)) for i, (r, w) in enumerate(conns)]
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), period)
        except asyncio.TimeoutError:
            pass
        print(f"requests {stats['requests']} errors {stats['errors']}", flush=True)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for _, w in conns:
        w.close()
    print(f"closed requests {stats['requests']} errors {stats['errors']}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
