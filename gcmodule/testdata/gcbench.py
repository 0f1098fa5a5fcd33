"""CPython's side of gcmodule's BenchmarkCollect, BenchmarkChainDrop and
BenchmarkCollectYoung: the same graphs of two-slot lists, one full
collection timed per iteration, the graph built and dropped outside the
timing. Like `go test -bench -benchtime 5x`, one warm-up iteration, then
the mean of five (and the best, for reference).

    python3 gcmodule/testdata/gcbench.py
"""
import gc
import time

gc.disable()


def pairs(n):
    for _ in range(n // 2):
        a = [None, None]
        b = [a, None]
        a[0] = b
    return None


def ring(n):
    first = cur = [None, None]
    for _ in range(n - 1):
        nxt = [None, None]
        cur[0] = nxt
        cur = nxt
    cur[0] = first
    return None


def live_list(n):
    return [[None, None] for _ in range(n)]


def tree(n):
    # 4-ary, breadth first, levels alternating lists and dicts (keys 0..3).
    root = []
    queue = [(root, 0)]
    made, i = 1, 0
    while made < n:
        node, depth = queue[i]
        i += 1
        for k in range(4):
            if made >= n:
                break
            child = {} if depth % 2 == 0 else []
            if type(node) is list:
                node.append(child)
            else:
                node[k] = child
            queue.append((child, depth + 1))
            made += 1
    return root


def mixed(n):
    live = []
    for _ in range(n // 4):
        a = [None, None]
        b = [a, None]
        a[0] = b
        live.append(a)
        a = [None, None]
        b = [a, None]
        a[0] = b
    return live


def chain(n):
    head = None
    for _ in range(n):
        head = [head, None]
    return head


def run(iterations, once):
    once()  # warm-up
    times = [once() for _ in range(iterations)]
    return sum(times) / len(times), min(times)


for n in (100_000, 1_000_000):
    for name, build in [("pairs", pairs), ("ring", ring), ("live_list", live_list),
                        ("tree", tree), ("mixed", mixed)]:
        def once():
            gc.collect()
            keep = build(n)
            t = time.perf_counter()
            gc.collect()
            d = time.perf_counter() - t
            del keep
            gc.collect()
            return d
        mean, best = run(5, once)
        print(f"Collect/{name}/{n}: mean {mean * 1e3:.1f} ms ({mean / n * 1e9:.0f} ns/obj), best {best * 1e3:.1f} ms")

    def once():
        head = chain(n)
        t = time.perf_counter()
        del head
        return time.perf_counter() - t
    mean, best = run(5, once)
    print(f"ChainDrop/{n}: mean {mean * 1e3:.1f} ms ({mean / n * 1e9:.0f} ns/obj), best {best * 1e3:.1f} ms")

old = live_list(1_000_000)
gc.collect()


def once():
    young = [[None, None] for _ in range(1000)]
    t = time.perf_counter()
    gc.collect(0)
    d = time.perf_counter() - t
    del young
    return d


mean, best = run(50, once)
print(f"CollectYoung: mean {mean * 1e6:.1f} us, best {best * 1e6:.1f} us")
