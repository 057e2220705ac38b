"""Host side of the firmware: splitting work across lanes.

Real matrices have skewed rows, so rows are given to lanes by their cost, not by index:
longest-processing-time first, each row to the least-loaded lane so far. Within a lane rows
keep ascending order, so each lane's stream is a valid CSR row stream.
"""

from __future__ import annotations

import heapq

__all__ = ["balance_rows"]


def balance_rows(costs, lanes: int) -> list[list[int]]:
    """Row indices per lane, balancing the sum of ``costs`` (one non-negative cost per row)."""
    if lanes < 1:
        raise ValueError(f"lanes must be at least 1, not {lanes!r}")
    heap = [(0, lane) for lane in range(lanes)]
    assigned = [[] for _ in range(lanes)]
    for row in sorted(range(len(costs)), key=lambda r: (-costs[r], r)):
        load, lane = heapq.heappop(heap)
        assigned[lane].append(row)
        heapq.heappush(heap, (load + costs[row], lane))
    return [sorted(rows) for rows in assigned]
