"""A TCP proxy that delays every byte by a fixed time in each direction (a
userspace delay line: `tc netem` is missing from this kernel). Throughput is
kept: reading goes on while earlier data waits for its release time.

    delay_proxy.py LISTEN_HOST:PORT TARGET_HOST:PORT DELAY_MS

DELAY_MS is one-way; the round trip gains 2 × DELAY_MS.
"""
import asyncio
import sys
import time


async def pump(reader, writer, delay):
    q = asyncio.Queue(maxsize=256)

    async def release():
        while True:
            item = await q.get()
            if item is None:
                break
            due, data = item
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        try:
            writer.write_eof()
        except (OSError, RuntimeError):
            pass

    sender = asyncio.ensure_future(release())
    try:
        while True:
            data = await reader.read(256 << 10)
            if not data:
                break
            await q.put((time.monotonic() + delay, data))
    except (ConnectionError, OSError):
        pass
    await q.put(None)
    try:
        await sender
    except (ConnectionError, OSError):
        pass


async def handle(cr, cw, target, delay):
    try:
        sr, sw = await asyncio.open_connection(*target)
    except OSError:
        cw.close()
        return
    await asyncio.gather(pump(cr, sw, delay), pump(sr, cw, delay), return_exceptions=True)
    for w in (cw, sw):
        try:
            w.close()
        except OSError:
            pass


async def main():
    lh, lp = sys.argv[1].rsplit(":", 1)
    th, tp = sys.argv[2].rsplit(":", 1)
    delay = float(sys.argv[3]) / 1000
    server = await asyncio.start_server(lambda r, w: handle(r, w, (th, int(tp)), delay), lh, int(lp))
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
