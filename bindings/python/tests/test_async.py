"""The binding in an asyncio program: starts in the default executor,
``wait_async`` for many containers at once, and pidfds in event loops and
selectors."""

from __future__ import annotations

import asyncio
import os
import selectors
import time

import vpsos


def test_twenty_containers_run_and_are_awaited_concurrently(runtime, config, new_id):
    ids = [new_id("async") for _ in range(20)]

    async def main() -> list[vpsos.Exit]:
        loop = asyncio.get_running_loop()
        cts = await asyncio.gather(*(
            loop.run_in_executor(None, runtime.run, id, config(["/bin/sh", "-c", f"sleep 0.5; exit {n}"]))
            for n, id in enumerate(ids)))
        assert [ct.id for ct in cts] == ids
        return await asyncio.wait_for(asyncio.gather(*(ct.wait_async() for ct in cts)), 60)

    t0 = time.monotonic()
    exits = asyncio.run(main())
    elapsed = time.monotonic() - t0
    assert [(x.kind, x.code, x.reason) for x in exits] == [("exited", n, "exit") for n in range(20)]
    assert elapsed < 40, f"20 containers took {elapsed:.1f} s"
    for id in ids:
        ct = runtime.load(id)
        assert ct.state == "stopped"
        ct.delete()


def test_wait_async_of_an_exec_and_of_an_ended_container(runtime, config, new_id):
    ct = runtime.run(new_id(), config())

    async def main() -> tuple[vpsos.Exit, vpsos.Exit]:
        p = ct.exec("sh", "-c", "sleep 0.3; exit 6")
        pex = await asyncio.wait_for(p.wait_async(), 20)
        # a coroutine that ticks meanwhile: the loop is not blocked
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(tick())
        ct.kill("KILL")
        ex = await asyncio.wait_for(ct.wait_async(), 20)
        again = await ct.wait_async()  # ended already: at once
        ticker.cancel()
        assert again == ex
        return pex, ex

    pex, ex = asyncio.run(main())
    assert (pex.kind, pex.code, pex.reason) == ("exited", 6, "exit")
    assert (ex.kind, ex.code) == ("signaled", 9)


def test_pidfd_works_with_selectors_and_add_reader(runtime, config, new_id):
    ct = runtime.run(new_id(), config())
    fd = ct.pidfd()
    try:
        sel = selectors.DefaultSelector()
        sel.register(fd, selectors.EVENT_READ)
        assert sel.select(timeout=0.2) == [], "not readable while the init runs"
        ct.kill("KILL")
        events = sel.select(timeout=10)
        assert [k.fd for k, _ in events] == [fd], "readable once it ended"
        sel.close()
    finally:
        os.close(fd)
    ex = ct.wait(timeout=10)
    assert ex is not None and (ex.kind, ex.code) == ("signaled", 9)

    ct2 = runtime.run(new_id(), config())
    p1 = ct2.exec("sh", "-c", "sleep 0.3; exit 2")
    p2 = ct2.exec("sleep", "100")

    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        done: dict[str, float] = {}
        fds = {"p1": p1.pidfd(), "p2": p2.pidfd()}
        events = {k: asyncio.Event() for k in fds}
        try:
            for k, f in fds.items():
                loop.add_reader(f, lambda k=k: (done.setdefault(k, loop.time() - t0), events[k].set()))
            await asyncio.wait_for(events["p1"].wait(), 20)
            assert "p2" not in done
            p2.kill("KILL")
            await asyncio.wait_for(events["p2"].wait(), 20)
        finally:
            for f in fds.values():
                loop.remove_reader(f)
                os.close(f)
        return done["p1"], done["p2"]

    t1, t2 = asyncio.run(main())
    assert t1 >= 0.2 and t2 >= t1
    ex = p1.wait(timeout=10)
    assert ex is not None and (ex.kind, ex.code) == ("exited", 2)
    ex = p2.wait(timeout=10)
    assert ex is not None and (ex.kind, ex.code) == ("signaled", 9)
    assert ct2.state == "running"
