import asyncio
import time


async def fetch_report(name: str) -> str:
    time.sleep(0.15)  # stands in for a synchronous HTTP call
    return name


async def main() -> None:
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    beat = asyncio.create_task(heartbeat())
    await asyncio.sleep(0)
    await asyncio.gather(fetch_report("a"), fetch_report("b"))
    beat.cancel()
    assert ticks > 10, f"event loop blocked: the heartbeat ran {ticks} times in 0.3 s"


asyncio.run(main())
