#!/usr/bin/env python3
"""Accept TCP connections on 0.0.0.0:PORT and close them: the target of the
TCP-connect benchmarks.  Runs inside the benchmark's own network namespace."""
import asyncio
import sys


async def main(port: int) -> None:
    async def handle(reader, writer):
        writer.close()

    server = await asyncio.start_server(handle, "0.0.0.0", port, backlog=4096)
    async with server:
        await server.serve_forever()


asyncio.run(main(int(sys.argv[1])))
