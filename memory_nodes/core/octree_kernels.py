"""Compiled kernels behind :mod:`memory_nodes.core.octree`.

Everything here works on plain numpy arrays so that numba can compile it once and cache it on disk
(``cache=True``); the class in ``octree.py`` owns the arrays and the bookkeeping. Integer cell
coordinates ``(i, j, k)`` run from 0 to ``2**depth - 1`` along each axis; a Morton key interleaves
their bits as ``... k1 j1 i1 k0 j0 i0``, so the key of a parent cell is ``key >> 3`` and every
octree node covers one contiguous key range. Keys are int64 (depth <= 21 keeps them positive).

The hash table is open addressing with linear probing over int32 slot indices (-1 = empty)
into the parallel value arrays, whose ``keys`` array resolves collisions. It is faster than
numba's typed dict and needs no boxing, which matters because a depth frame touches ~10^5
distinct cells.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_HASH_MUL = np.int64(0x5851F42D4C957F2D)
_EMPTY = np.int64(-1)

# Scan-local deduplication uses a dense byte grid over the scan's bounding box while it stays
# below this many cells (32 MiB by default); beyond that a scan-local hash set takes over.
DENSE_SCAN_LIMIT = 1 << 25


# --------------------------------------------------------------------------------------------
# Morton keys
# --------------------------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _spread3(x):
    x = x & 0x1FFFFF
    x = (x | (x << 32)) & 0x1F00000000FFFF
    x = (x | (x << 16)) & 0x1F0000FF0000FF
    x = (x | (x << 8)) & 0x100F00F00F00F00F
    x = (x | (x << 4)) & 0x10C30C30C30C30C3
    x = (x | (x << 2)) & 0x1249249249249249
    return x


@njit(cache=True, inline="always")
def _compact3(x):
    x = x & 0x1249249249249249
    x = (x ^ (x >> 2)) & 0x10C30C30C30C30C3
    x = (x ^ (x >> 4)) & 0x100F00F00F00F00F
    x = (x ^ (x >> 8)) & 0x1F0000FF0000FF
    x = (x ^ (x >> 16)) & 0x1F00000000FFFF
    x = (x ^ (x >> 32)) & 0x1FFFFF
    return x


@njit(cache=True, inline="always")
def morton3(i, j, k):
    return _spread3(np.int64(i)) | (_spread3(np.int64(j)) << 1) | (_spread3(np.int64(k)) << 2)


@njit(cache=True)
def morton_encode_array(ijk):
    n = ijk.shape[0]
    out = np.empty(n, np.int64)
    for r in range(n):
        out[r] = morton3(ijk[r, 0], ijk[r, 1], ijk[r, 2])
    return out


@njit(cache=True)
def morton_decode_array(keys):
    n = keys.shape[0]
    out = np.empty((n, 3), np.int64)
    for r in range(n):
        key = keys[r]
        out[r, 0] = _compact3(key)
        out[r, 1] = _compact3(key >> 1)
        out[r, 2] = _compact3(key >> 2)
    return out


@njit(cache=True)
def points_to_keys(points, inv_res, key_offset, n_axis):
    """Morton key per point, -1 for non-finite points or points outside the extent."""
    n = points.shape[0]
    out = np.empty(n, np.int64)
    for r in range(n):
        x = points[r, 0]
        y = points[r, 1]
        z = points[r, 2]
        if not (np.isfinite(x) and np.isfinite(y) and np.isfinite(z)):
            out[r] = -1
            continue
        i = np.int64(np.floor(x * inv_res)) - key_offset
        j = np.int64(np.floor(y * inv_res)) - key_offset
        k = np.int64(np.floor(z * inv_res)) - key_offset
        if i < 0 or j < 0 or k < 0 or i >= n_axis or j >= n_axis or k >= n_axis:
            out[r] = -1
        else:
            out[r] = morton3(i, j, k)
    return out


# --------------------------------------------------------------------------------------------
# Hash table (open addressing, linear probing)
# --------------------------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _hash(key, mask):
    h = key * _HASH_MUL
    h = h ^ (h >> 29)
    return h & mask


@njit(cache=True)
def table_build(keys, n, capacity):
    """Fresh table for slots ``0..n-1`` of ``keys``; ``capacity`` is a power of two."""
    table = np.full(capacity, -1, np.int32)
    mask = np.int64(capacity - 1)
    for s in range(n):
        h = _hash(keys[s], mask)
        while table[h] >= 0:
            h = (h + 1) & mask
        table[h] = s
    return table


@njit(cache=True, inline="always")
def _find(table, keys, mask, key):
    h = _hash(key, mask)
    while True:
        s = table[h]
        if s < 0:
            return -1
        if keys[s] == key:
            return s
        h = (h + 1) & mask


@njit(cache=True)
def table_find_array(table, keys, query):
    """Slot per query key, -1 where the key is absent or is itself -1."""
    mask = np.int64(table.shape[0] - 1)
    out = np.empty(query.shape[0], np.int64)
    for r in range(query.shape[0]):
        out[r] = -1 if query[r] < 0 else _find(table, keys, mask, query[r])
    return out


# --------------------------------------------------------------------------------------------
# Scan: ray traversal and per-scan deduplication
# --------------------------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _scan_code(i, j, k, use_grid, lo0, lo1, lo2, d1, d2):
    if use_grid:
        return ((np.int64(i) - lo0) * d1 + (np.int64(j) - lo1)) * d2 + (np.int64(k) - lo2)
    return morton3(i, j, k)


@njit(cache=True, inline="always")
def _scan_pos(code, use_grid, skeys, smask):
    """Index into the scan state array for ``code`` (grid index or hash bucket)."""
    if use_grid:
        return code
    h = _hash(code, smask)
    while True:
        kk = skeys[h]
        if kk == code:
            return h
        if kk == _EMPTY:
            skeys[h] = code
            return h
        h = (h + 1) & smask


@njit(cache=True)
def scan_cells(
    points, origin, max_range, res, inv_res, key_offset, n_axis, cast_rays, dense_limit, discretize
):
    """Deduplicated occupied and free cells of one scan, following OctoMap's computeUpdate.

    Returns ``(status, occupied_keys, free_keys)`` where ``status`` per point is 0 = hit inside
    range, 1 = beyond ``max_range`` (clears only), 2 = non-finite, 3 = outside the extent, and
    the keys are distinct leaf Morton keys. A cell that is an endpoint of the scan is never
    free. Cells deduplicated in the dense grid come out brick by brick, so the map update
    finds each brick once for its cells.

    With ``discretize`` (and ``cast_rays``) this is OctoMap's computeDiscreteUpdate: one ray per
    distinct cell holding points, cast to the cell's centre (see :func:`_discrete_rays`).
    """
    ocell = np.empty(3, np.int64)
    for a in range(3):
        ocell[a] = np.int64(np.floor(origin[a] * inv_res)) - key_offset
    if discretize and cast_rays:
        status, rays, ends, ecell, lo, hi, total_steps = _discrete_rays(
            points, origin, max_range, res, inv_res, key_offset, n_axis, ocell
        )
    else:
        status, ends, ecell, lo, hi, total_steps = _point_rays(
            points, origin, max_range, inv_res, key_offset, n_axis, cast_rays, ocell
        )
        rays = status
    occupied_keys, free_keys = _scan_update(
        rays,
        ends,
        ecell,
        origin,
        ocell,
        res,
        key_offset,
        lo,
        hi,
        total_steps,
        cast_rays,
        dense_limit,
    )
    return status, occupied_keys, free_keys


@njit(cache=True)
def _point_rays(points, origin, max_range, inv_res, key_offset, n_axis, cast_rays, ocell):
    """One ray per point: ``(status, ends, end_cells, lo, hi, total_steps)``.

    Points beyond ``max_range`` end at the range; ``lo``/``hi`` bound the cells the rays can
    touch and ``total_steps`` bounds how many they step through.
    """
    n = points.shape[0]
    status = np.empty(n, np.int8)
    ends = np.empty((n, 3), np.float64)
    ecell = np.empty((n, 3), np.int64)
    lo = ocell.copy()
    hi = ocell.copy()
    total_steps = np.int64(0)
    for r in range(n):
        px = points[r, 0]
        py = points[r, 1]
        pz = points[r, 2]
        if not (np.isfinite(px) and np.isfinite(py) and np.isfinite(pz)):
            status[r] = 2
            continue
        dx = px - origin[0]
        dy = py - origin[1]
        dz = pz - origin[2]
        st = 0
        if max_range >= 0.0:
            length = np.sqrt(dx * dx + dy * dy + dz * dz)
            if length > max_range:
                st = 1
                s = max_range / length
                px = origin[0] + dx * s
                py = origin[1] + dy * s
                pz = origin[2] + dz * s
        if st == 1 and not cast_rays:
            status[r] = 1
            continue
        i = np.int64(np.floor(px * inv_res)) - key_offset
        j = np.int64(np.floor(py * inv_res)) - key_offset
        k = np.int64(np.floor(pz * inv_res)) - key_offset
        if i < 0 or j < 0 or k < 0 or i >= n_axis or j >= n_axis or k >= n_axis:
            status[r] = 3
            continue
        status[r] = st
        ends[r, 0] = px
        ends[r, 1] = py
        ends[r, 2] = pz
        ecell[r, 0] = i
        ecell[r, 1] = j
        ecell[r, 2] = k
        lo[0] = min(lo[0], i)
        lo[1] = min(lo[1], j)
        lo[2] = min(lo[2], k)
        hi[0] = max(hi[0], i)
        hi[1] = max(hi[1], j)
        hi[2] = max(hi[2], k)
        if cast_rays:
            total_steps += abs(i - ocell[0]) + abs(j - ocell[1]) + abs(k - ocell[2]) + 1
        else:
            total_steps += 1
    return status, ends, ecell, lo, hi, total_steps


@njit(cache=True)
def _discrete_rays(points, origin, max_range, res, inv_res, key_offset, n_axis, ocell):
    """One ray per distinct cell holding points, to its centre (OctoMap's discrete update).

    Returns ``(status, rays, ends, end_cells, lo, hi, total_steps)``: ``status`` per point, and
    per distinct cell (in order of its first point) the ray's status (0 = hit, 1 = beyond
    ``max_range``: clears up to the range), end and end cell. The range test is the centre's,
    so every point of a cell gets its cell's status. A point outside the extent has no cell to
    stand for and is dropped (3). Rows are written for distinct cells only, not per point.
    """
    n = points.shape[0]
    status = np.empty(n, np.int8)
    rays = np.empty(n, np.int8)
    ends = np.empty((n, 3), np.float64)
    ecell = np.empty((n, 3), np.int64)
    lo = ocell.copy()
    hi = ocell.copy()
    total_steps = np.int64(0)
    # scan-local hash set key -> cell row, grown as cells arrive
    cap = 1 << 12
    table_keys = np.full(cap, _EMPTY, np.int64)
    table_rows = np.empty(cap, np.int32)
    m = 0
    last_i = last_j = last_k = np.int64(-1)
    last_status = np.int8(0)
    for r in range(n):
        px = points[r, 0]
        py = points[r, 1]
        pz = points[r, 2]
        if not (np.isfinite(px) and np.isfinite(py) and np.isfinite(pz)):
            status[r] = 2
            continue
        i = np.int64(np.floor(px * inv_res)) - key_offset
        j = np.int64(np.floor(py * inv_res)) - key_offset
        k = np.int64(np.floor(pz * inv_res)) - key_offset
        if i < 0 or j < 0 or k < 0 or i >= n_axis or j >= n_axis or k >= n_axis:
            status[r] = 3
            continue
        # neighbouring pixels mostly share a cell: a repeat needs no lookup
        if i == last_i and j == last_j and k == last_k:
            status[r] = last_status
            continue
        key = morton3(i, j, k)
        mask = np.int64(cap - 1)
        h = _hash(key, mask)
        while True:
            held = table_keys[h]
            if held == key:
                last_status = rays[table_rows[h]]
                break
            if held == _EMPTY:
                table_keys[h] = key
                table_rows[h] = m
                last_status = _centre_ray(
                    i, j, k, origin, max_range, res, inv_res, key_offset, m, rays, ends, ecell
                )
                for a in range(3):
                    lo[a] = min(lo[a], ecell[m, a])
                    hi[a] = max(hi[a], ecell[m, a])
                    total_steps += abs(ecell[m, a] - ocell[a])
                total_steps += 1
                m += 1
                if 2 * m > cap:
                    cap *= 2
                    table_keys, table_rows = _rehash(table_keys, table_rows, cap)
                break
            h = (h + 1) & mask
        last_i = i
        last_j = j
        last_k = k
        status[r] = last_status
    return status, rays[:m], ends[:m], ecell[:m], lo, hi, total_steps


@njit(cache=True, inline="always")
def _centre_ray(i, j, k, origin, max_range, res, inv_res, key_offset, row, rays, ends, ecell):
    """Row ``row`` of the discrete rays: the ray to the centre of cell ``(i, j, k)``.

    The centre is rounded to float32 as OctoMap stores it: rays to lattice points can graze
    cell edges, where that rounding decides which cells they pass.
    """
    px = np.float64(np.float32((np.float64(i + key_offset) + 0.5) * res))
    py = np.float64(np.float32((np.float64(j + key_offset) + 0.5) * res))
    pz = np.float64(np.float32((np.float64(k + key_offset) + 0.5) * res))
    dx = px - origin[0]
    dy = py - origin[1]
    dz = pz - origin[2]
    st = np.int8(0)
    if max_range >= 0.0:
        length = np.sqrt(dx * dx + dy * dy + dz * dz)
        if length > max_range:
            st = np.int8(1)
            s = max_range / length
            px = origin[0] + dx * s
            py = origin[1] + dy * s
            pz = origin[2] + dz * s
    # the end lies between the origin and the centre, both inside the extent
    rays[row] = st
    ends[row, 0] = px
    ends[row, 1] = py
    ends[row, 2] = pz
    ecell[row, 0] = np.int64(np.floor(px * inv_res)) - key_offset
    ecell[row, 1] = np.int64(np.floor(py * inv_res)) - key_offset
    ecell[row, 2] = np.int64(np.floor(pz * inv_res)) - key_offset
    return st


@njit(cache=True)
def _rehash(table_keys, table_rows, capacity):
    """The scan-local hash set of :func:`_discrete_rays` in a table of ``capacity`` slots."""
    mask = np.int64(capacity - 1)
    new_keys = np.full(capacity, _EMPTY, np.int64)
    new_rows = np.empty(capacity, np.int32)
    for s in range(table_keys.shape[0]):
        key = table_keys[s]
        if key == _EMPTY:
            continue
        h = _hash(key, mask)
        while new_keys[h] != _EMPTY:
            h = (h + 1) & mask
        new_keys[h] = key
        new_rows[h] = table_rows[s]
    return new_keys, new_rows


@njit(cache=True)
def _scan_update(
    rays, ends, ecell, origin, ocell, res, key_offset, lo, hi, total_steps, cast_rays, dense_limit
):
    """Occupied and free keys of the rays (status 0 = hit, 1 = clears only, >= 2 = none).

    Deduplicates in a dense byte grid over the box ``lo..hi`` when it holds at most
    ``dense_limit`` cells, else in a scan-local hash set.
    """
    n = rays.shape[0]
    dims = hi - lo + 1
    volume = dims[0] * dims[1] * dims[2]
    use_grid = volume <= dense_limit
    cap = min(volume, total_steps + 1)
    if use_grid:
        state = np.zeros(volume, np.uint8)
        skeys = np.empty(1, np.int64)
        smask = np.int64(0)
    else:
        tcap = 1
        while tcap < 2 * cap:
            tcap *= 2
        state = np.zeros(tcap, np.uint8)
        skeys = np.full(tcap, _EMPTY, np.int64)
        smask = np.int64(tcap - 1)
    lo0 = lo[0]
    lo1 = lo[1]
    lo2 = lo[2]
    d1 = dims[1]
    d2 = dims[2]
    occ = np.empty(cap, np.int64)
    n_occ = 0
    # Endpoints first, so that rays of the same scan cannot clear them.
    for r in range(n):
        if rays[r] != 0:
            continue
        code = _scan_code(ecell[r, 0], ecell[r, 1], ecell[r, 2], use_grid, lo0, lo1, lo2, d1, d2)
        pos = _scan_pos(code, use_grid, skeys, smask)
        if state[pos] == 0:
            state[pos] = 2
            occ[n_occ] = code
            n_occ += 1
    if not cast_rays:
        if use_grid:
            occ_keys, _ = _grid_cells_by_brick(state, lo, hi, dims, n_occ, 0)
            return occ_keys, np.empty(0, np.int64)
        return occ[:n_occ], np.empty(0, np.int64)
    if use_grid:
        n_touched = _trace_rays_grid(
            rays, ends, ecell, origin, ocell, res, key_offset, lo, hi, dims, state
        )
        return _grid_cells_by_brick(state, lo, hi, dims, n_occ, n_touched)
    free = np.empty(cap, np.int64)
    n_free = 0
    cur = np.empty(3, np.int64)
    step = np.empty(3, np.int64)
    tmax = np.empty(3, np.float64)
    tdelta = np.empty(3, np.float64)
    dirn = np.empty(3, np.float64)
    for r in range(n):
        if rays[r] > 1:
            continue
        if ecell[r, 0] == ocell[0] and ecell[r, 1] == ocell[1] and ecell[r, 2] == ocell[2]:
            continue
        cur[:] = ocell
        pos = _scan_pos(morton3(cur[0], cur[1], cur[2]), False, skeys, smask)
        if state[pos] == 0:
            state[pos] = 1
            free[n_free] = morton3(cur[0], cur[1], cur[2])
            n_free += 1
        for a in range(3):
            dirn[a] = ends[r, a] - origin[a]
        length = np.sqrt(dirn[0] * dirn[0] + dirn[1] * dirn[1] + dirn[2] * dirn[2])
        for a in range(3):
            dirn[a] /= length
            step[a] = 1 if dirn[a] > 0.0 else (-1 if dirn[a] < 0.0 else 0)
            if step[a] != 0:
                border = (np.float64(cur[a] + key_offset) + 0.5) * res + step[a] * 0.5 * res
                tmax[a] = (border - origin[a]) / dirn[a]
                tdelta[a] = res / abs(dirn[a])
            else:
                tmax[a] = np.inf
                tdelta[a] = np.inf
        while True:
            if tmax[0] < tmax[1]:
                dim = 0 if tmax[0] < tmax[2] else 2
            else:
                dim = 1 if tmax[1] < tmax[2] else 2
            cur[dim] += step[dim]
            tmax[dim] += tdelta[dim]
            if cur[0] == ecell[r, 0] and cur[1] == ecell[r, 1] and cur[2] == ecell[r, 2]:
                break
            if min(tmax[0], min(tmax[1], tmax[2])) > length:
                break
            if cur[dim] < lo[dim] or cur[dim] > hi[dim]:
                break
            code = morton3(cur[0], cur[1], cur[2])
            pos = _scan_pos(code, False, skeys, smask)
            if state[pos] == 0:
                state[pos] = 1
                free[n_free] = code
                n_free += 1
    return occ[:n_occ], free[:n_free]


@njit(cache=True)
def _trace_rays_grid(status, ends, ecell, origin, ocell, res, key_offset, lo, hi, dims, state):
    """Amanatides-Woo traversal of every ray, OR-ing 1 into the dense scan grid.

    The hot loop of ray insertion, kept in scalars: the grid index advances by a per-axis
    stride instead of being recomputed, and OctoMap's computeRayKeys arithmetic (borders at
    cell centre +- res/2, stop on the end cell or once past the ray length) is kept so both
    traverse the same cells.
    """
    sx = dims[1] * dims[2]
    sy = dims[2]
    ox = origin[0]
    oy = origin[1]
    oz = origin[2]
    half = 0.5 * res
    code0 = (ocell[0] - lo[0]) * sx + (ocell[1] - lo[1]) * sy + (ocell[2] - lo[2])
    n_touched = 0
    for r in range(status.shape[0]):
        if status[r] > 1:
            continue
        ex = ecell[r, 0]
        ey = ecell[r, 1]
        ez = ecell[r, 2]
        if ex == ocell[0] and ey == ocell[1] and ez == ocell[2]:
            continue
        end_code = (ex - lo[0]) * sx + (ey - lo[1]) * sy + (ez - lo[2])
        if state[code0] == 0:
            n_touched += 1
        state[code0] |= 1
        dx = ends[r, 0] - ox
        dy = ends[r, 1] - oy
        dz = ends[r, 2] - oz
        length = np.sqrt(dx * dx + dy * dy + dz * dz)
        dx /= length
        dy /= length
        dz /= length
        cx = ocell[0]
        cy = ocell[1]
        cz = ocell[2]
        # per axis: step, grid-index stride, next border distance, border spacing, bound
        if dx > 0.0:
            stx, csx, limx = 1, sx, hi[0]
        elif dx < 0.0:
            stx, csx, limx = -1, -sx, lo[0]
        else:
            stx, csx, limx = 0, 0, 0
        if dy > 0.0:
            sty, csy, limy = 1, sy, hi[1]
        elif dy < 0.0:
            sty, csy, limy = -1, -sy, lo[1]
        else:
            sty, csy, limy = 0, 0, 0
        if dz > 0.0:
            stz, csz, limz = 1, 1, hi[2]
        elif dz < 0.0:
            stz, csz, limz = -1, -1, lo[2]
        else:
            stz, csz, limz = 0, 0, 0
        tmx = tmy = tmz = np.inf
        tdx = tdy = tdz = np.inf
        if stx != 0:
            tmx = ((np.float64(cx + key_offset) + 0.5) * res + stx * half - ox) / dx
            tdx = res / abs(dx)
        if sty != 0:
            tmy = ((np.float64(cy + key_offset) + 0.5) * res + sty * half - oy) / dy
            tdy = res / abs(dy)
        if stz != 0:
            tmz = ((np.float64(cz + key_offset) + 0.5) * res + stz * half - oz) / dz
            tdz = res / abs(dz)
        code = code0
        while True:
            if tmx < tmy:
                if tmx < tmz:
                    if cx == limx:
                        break
                    cx += stx
                    code += csx
                    tmx += tdx
                else:
                    if cz == limz:
                        break
                    cz += stz
                    code += csz
                    tmz += tdz
            elif tmy < tmz:
                if cy == limy:
                    break
                cy += sty
                code += csy
                tmy += tdy
            else:
                if cz == limz:
                    break
                cz += stz
                code += csz
                tmz += tdz
            if code == end_code:
                break
            if min(tmx, min(tmy, tmz)) > length:
                break
            if state[code] == 0:
                n_touched += 1
            state[code] |= 1
    return n_touched


# cell offsets (i, j, k) of the 64 cells of a brick, in Morton order
_BRICK_OFFSETS = np.array(
    [[(c >> 0 & 1) | (c >> 2 & 2), (c >> 1 & 1) | (c >> 3 & 2), (c >> 2 & 1) | (c >> 4 & 2)]
     for c in range(64)],
    np.int64,
)  # fmt: skip


@njit(cache=True)
def _grid_cells_by_brick(state, lo, hi, dims, n_occ, n_free):
    """Morton keys of the occupied (bit 2) and free-only (1) cells of a dense scan grid.

    Walks the grid brick by brick, each brick's cells in Morton order, so the keys of one
    brick are consecutive. ``n_occ`` and ``n_free`` bound the counts.
    """
    offsets = _BRICK_OFFSETS
    sx = dims[1] * dims[2]
    sy = dims[2]
    occ = np.empty(n_occ, np.int64)
    free = np.empty(n_free, np.int64)
    m_occ = 0
    m_free = 0
    for bi in range(lo[0] >> 2, (hi[0] >> 2) + 1):
        for bj in range(lo[1] >> 2, (hi[1] >> 2) + 1):
            for bk in range(lo[2] >> 2, (hi[2] >> 2) + 1):
                base = morton3(bi, bj, bk) << 6
                for c in range(64):
                    ci = bi * 4 + offsets[c, 0]
                    cj = bj * 4 + offsets[c, 1]
                    ck = bk * 4 + offsets[c, 2]
                    if ci < lo[0] or ci > hi[0] or cj < lo[1] or cj > hi[1]:
                        continue
                    if ck < lo[2] or ck > hi[2]:
                        continue
                    v = state[(ci - lo[0]) * sx + (cj - lo[1]) * sy + (ck - lo[2])]
                    if v == 1:
                        free[m_free] = base | c
                        m_free += 1
                    elif v >= 2:
                        occ[m_occ] = base | c
                        m_occ += 1
    return occ[:m_occ], free[:m_free]


# --------------------------------------------------------------------------------------------
# Map updates
# --------------------------------------------------------------------------------------------


@njit(cache=True)
def apply_semantics(slots, values, cur_value, conf, rate):
    """Confidence-weighted label update; -1 values are ignored.

    Agreeing observations move the confidence towards 1 by ``rate``; a disagreeing one shrinks
    it by the same factor and replaces the value once the confidence falls below ``rate``, so a
    well-established label survives a few wrong observations while a weak one follows the data.
    """
    for r in range(slots.shape[0]):
        v = values[r]
        if v < 0:
            continue
        s = slots[r]
        c = np.float32(conf[s])
        if cur_value[s] < 0:
            cur_value[s] = v
            conf[s] = rate
        elif cur_value[s] == v:
            conf[s] = c + rate * (np.float32(1.0) - c)
        else:
            c = c * (np.float32(1.0) - rate)
            if c < rate:
                cur_value[s] = v
                conf[s] = rate
            else:
                conf[s] = c


# --------------------------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------------------------


@njit(cache=True)
def box_ranges(sorted_keys, lo, hi, depth):
    """Ranges ``[start, end)`` of ``sorted_keys`` whose cells lie in the inclusive box lo..hi.

    Descends the implicit octree: a node is a contiguous key range, so empty nodes are pruned
    by two binary searches and nodes fully inside the box are taken whole without visiting
    their cells. The cost follows the box surface, not the number of stored cells.
    """
    n = sorted_keys.shape[0]
    starts = np.empty(64, np.int64)
    ends = np.empty(64, np.int64)
    n_out = 0
    # stack of (node i, node j, node k, level, start, end)
    stack = np.empty((8 * (depth + 1) + 8, 6), np.int64)
    top = 0
    if n == 0:
        return starts[:0], ends[:0]
    stack[0, 0] = 0
    stack[0, 1] = 0
    stack[0, 2] = 0
    stack[0, 3] = depth
    stack[0, 4] = 0
    stack[0, 5] = n
    top = 1
    while top > 0:
        top -= 1
        ni = stack[top, 0]
        nj = stack[top, 1]
        nk = stack[top, 2]
        level = stack[top, 3]
        s0 = stack[top, 4]
        s1 = stack[top, 5]
        size = np.int64(1) << level
        i0 = ni * size
        j0 = nj * size
        k0 = nk * size
        i1 = i0 + size - 1
        j1 = j0 + size - 1
        k1 = k0 + size - 1
        if i1 < lo[0] or j1 < lo[1] or k1 < lo[2] or i0 > hi[0] or j0 > hi[1] or k0 > hi[2]:
            continue
        inside_i = i0 >= lo[0] and i1 <= hi[0]
        if inside_i and j0 >= lo[1] and j1 <= hi[1] and k0 >= lo[2] and k1 <= hi[2]:
            if n_out == starts.shape[0]:
                starts = np.concatenate((starts, np.empty(n_out, np.int64)))
                ends = np.concatenate((ends, np.empty(n_out, np.int64)))
            starts[n_out] = s0
            ends[n_out] = s1
            n_out += 1
            continue
        child_level = level - 1
        shift = 3 * child_level
        base = morton3(ni, nj, nk) << 3
        for c in range(8):
            lo_key = (base + c) << shift
            hi_key = (base + c + 1) << shift
            a = s0 + np.searchsorted(sorted_keys[s0:s1], lo_key)
            b = s0 + np.searchsorted(sorted_keys[s0:s1], hi_key)
            if b > a:
                stack[top, 0] = 2 * ni + (c & 1)
                stack[top, 1] = 2 * nj + ((c >> 1) & 1)
                stack[top, 2] = 2 * nk + ((c >> 2) & 1)
                stack[top, 3] = child_level
                stack[top, 4] = a
                stack[top, 5] = b
                top += 1
    return starts[:n_out], ends[:n_out]


@njit(cache=True)
def expand_ranges(starts, ends):
    total = 0
    for r in range(starts.shape[0]):
        total += ends[r] - starts[r]
    out = np.empty(total, np.int64)
    p = 0
    for r in range(starts.shape[0]):
        for q in range(starts[r], ends[r]):
            out[p] = q
            p += 1
    return out


@njit(cache=True)
def coarse_max(sorted_keys, sorted_values, query_keys, level):
    """Max value over the stored cells under each coarse key (``-inf`` when none are stored)."""
    shift = 3 * level
    out = np.full(query_keys.shape[0], -np.inf, np.float32)
    for r in range(query_keys.shape[0]):
        q = query_keys[r]
        if q < 0:
            continue
        a = np.searchsorted(sorted_keys, q << shift)
        b = np.searchsorted(sorted_keys, (q + 1) << shift)
        for p in range(a, b):
            if sorted_values[p] > out[r]:
                out[r] = sorted_values[p]
    return out


@njit(cache=True)
def neighbour_edges(keys, ijk, n_axis):
    """Edges between cells of ``keys`` that touch (26-connectivity), each pair once."""
    m = keys.shape[0]
    cap = 1
    while cap < 2 * m + 2:
        cap *= 2
    table = table_build(keys, m, cap)
    mask = np.int64(cap - 1)
    src = np.empty(13 * m + 1, np.int64)
    dst = np.empty(13 * m + 1, np.int64)
    n_e = 0
    for r in range(m):
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                for dk in (-1, 0, 1):
                    # keep one half of the 26 offsets so each pair is found once
                    if di * 9 + dj * 3 + dk <= 0:
                        continue
                    c0 = ijk[r, 0] + di
                    c1 = ijk[r, 1] + dj
                    c2 = ijk[r, 2] + dk
                    if c0 < 0 or c1 < 0 or c2 < 0:
                        continue
                    if c0 >= n_axis or c1 >= n_axis or c2 >= n_axis:
                        continue
                    s = _find(table, keys, mask, morton3(c0, c1, c2))
                    if s >= 0:
                        src[n_e] = r
                        dst[n_e] = s
                        n_e += 1
    return src[:n_e], dst[:n_e]


# --------------------------------------------------------------------------------------------
# Bricks: 4 x 4 x 4 leaf cells (one level-2 node) stored densely
# --------------------------------------------------------------------------------------------
#
# A leaf key splits into a brick key (``key >> 6``) and a cell index inside the brick
# (``key & 63``, itself a Morton code), so bricks in Morton order hold their leaves in Morton
# order. A brick holds 64 float32 log-odds with NaN for unknown cells: free space seen by a
# camera is dense, so most bricks are mostly full and a known cell costs about 5 bytes instead
# of a key, a value and a hash slot each. Stamps and semantics live in a side table keyed by
# leaf key, only for cells that hold occupied evidence or a label (about a tenth of them).

BRICK_SHIFT = 6
BRICK_CELLS = 64


@njit(cache=True, inline="always")
def _brick_value(btable, bkeys, bmask, blo, key):
    """Log-odds of a leaf key (NaN when unknown)."""
    b = _find(btable, bkeys, bmask, key >> 6)
    if b < 0:
        return np.float32(np.nan)
    return blo[b, key & 63]


@njit(cache=True)
def brick_values(btable, bkeys, blo, query):
    """Log-odds per leaf key, NaN where unknown or the key is -1."""
    mask = np.int64(btable.shape[0] - 1)
    out = np.empty(query.shape[0], np.float32)
    for r in range(query.shape[0]):
        out[r] = (
            np.float32(np.nan) if query[r] < 0 else _brick_value(btable, bkeys, mask, blo, query[r])
        )
    return out


@njit(cache=True, inline="always")
def _side_insert(stable, skeys, smask, ns, key, slabel, sobject, slconf, soconf):
    """Add ``key`` to the side table at row ``ns`` with no semantics yet; returns the row."""
    h = _hash(key, smask)
    while stable[h] >= 0:
        h = (h + 1) & smask
    stable[h] = ns
    skeys[ns] = key
    slabel[ns] = -1
    sobject[ns] = -1
    slconf[ns] = np.float32(0.0)
    soconf[ns] = np.float32(0.0)
    return ns


@njit(cache=True)
def brick_apply(
    btable,
    bkeys,
    nb,
    blo,
    brep,
    bver,
    bside,
    stable,
    skeys,
    ns,
    sstamp,
    slabel,
    sobject,
    slconf,
    soconf,
    cell_keys,
    start,
    delta,
    clamp_min,
    clamp_max,
    now,
    version,
    occ_thres,
):
    """Add ``delta`` to each cell once (OctoMap's updateNodeLogOdds in float32).

    Unknown cells start at 0; a cell whose value ends up positive (its stamp drives decay) or
    occupied gets a side-table entry; cells with an entry get ``now`` as their stamp. Stops
    early when the brick or side arrays are full and returns ``(nb, ns, new_cells, next_row)``
    so the caller can grow them and resume at ``next_row``.
    """
    bmask = np.int64(btable.shape[0] - 1)
    smask = np.int64(stable.shape[0] - 1)
    bcap = bkeys.shape[0]
    scap = skeys.shape[0]
    new_cells = 0
    # keys usually come brick by brick (see scan_cells): look each brick up once
    last_bk = np.int64(-1)
    b = -1
    for r in range(start, cell_keys.shape[0]):
        key = cell_keys[r]
        bk = key >> 6
        if bk != last_bk:
            h = _hash(bk, bmask)
            while True:
                b = btable[h]
                if b < 0:
                    if nb == bcap:
                        return nb, ns, new_cells, r
                    b = nb
                    nb += 1
                    btable[h] = b
                    bkeys[b] = bk
                    for c in range(64):
                        blo[b, c] = np.float32(np.nan)
                        brep[b, c] = -1
                    bside[b] = 0
                    break
                if bkeys[b] == bk:
                    break
                h = (h + 1) & bmask
            last_bk = bk
        c = key & 63
        old = blo[b, c]
        unknown = np.isnan(old)
        value = np.float32(0.0) if unknown else old
        if not ((delta >= 0 and value >= clamp_max) or (delta <= 0 and value <= clamp_min)):
            value = value + delta
            if value < clamp_min:
                value = clamp_min
            elif value > clamp_max:
                value = clamp_max
        s = -1
        if bside[b] > 0:
            s = _find(stable, skeys, smask, key)
        if s < 0 and (value > 0 or value >= occ_thres):
            if ns == scap:
                return nb, ns, new_cells, r
            s = _side_insert(stable, skeys, smask, ns, key, slabel, sobject, slconf, soconf)
            ns += 1
            bside[b] += 1
        if s >= 0:
            sstamp[s] = now
        if unknown:
            new_cells += 1
        blo[b, c] = value
        bver[b] = version
    return nb, ns, new_cells, cell_keys.shape[0]


@njit(cache=True)
def side_entries(
    btable,
    bkeys,
    bside,
    stable,
    skeys,
    ns,
    sstamp,
    slabel,
    sobject,
    slconf,
    soconf,
    query,
    start,
    now,
):
    """Side-table slot per known leaf key, adding entries (stamped ``now``) where missing.

    Returns ``(ns, slots, next_row)``; stops early when the side arrays are full.
    """
    bmask = np.int64(btable.shape[0] - 1)
    smask = np.int64(stable.shape[0] - 1)
    scap = skeys.shape[0]
    slots = np.full(query.shape[0], -1, np.int64)
    for r in range(start, query.shape[0]):
        key = query[r]
        s = _find(stable, skeys, smask, key)
        if s < 0:
            b = _find(btable, bkeys, bmask, key >> 6)
            if b < 0:
                continue
            if ns == scap:
                return ns, slots, r
            s = _side_insert(stable, skeys, smask, ns, key, slabel, sobject, slconf, soconf)
            ns += 1
            sstamp[s] = now
            bside[b] += 1
        slots[r] = s
    return ns, slots, query.shape[0]


@njit(cache=True)
def first_values_per_cell(points, status, labels, objects, inv_res, key_offset, max_distinct):
    """Hit cells of a scan with the label and object id of their first point that has one.

    For each point with ``status`` 0 (an endpoint inside the range), in point order: the
    first label >= 0 and the first object id >= 0 seen in its cell, each chosen on its own
    (-1 where none). Cells where neither was seen are left out. ``labels`` or ``objects`` may
    be empty (not given). One scan-local hash set sized by ``max_distinct`` (the scan's
    occupied cells); no per-point key array, no sort.
    """
    n = points.shape[0]
    has_labels = labels.shape[0] > 0
    has_objects = objects.shape[0] > 0
    cap = 16
    while cap < 2 * min(n, max_distinct):
        cap *= 2
    mask = np.int64(cap - 1)
    seen = np.full(cap, _EMPTY, np.int64)
    row_of = np.empty(cap, np.int64)
    out_keys = np.empty(cap // 2, np.int64)
    out_labels = np.full(cap // 2, -1, np.int64)
    out_objects = np.full(cap // 2, -1, np.int64)
    m = 0
    last_i = last_j = last_k = np.int64(-1)
    row = -1
    for r in range(n):
        if status[r] != 0:
            continue
        label = labels[r] if has_labels else -1
        obj = objects[r] if has_objects else -1
        if label < 0 and obj < 0:
            continue
        i = np.int64(np.floor(points[r, 0] * inv_res)) - key_offset
        j = np.int64(np.floor(points[r, 1] * inv_res)) - key_offset
        k = np.int64(np.floor(points[r, 2] * inv_res)) - key_offset
        # neighbouring pixels mostly share a cell: a repeat needs no lookup
        if i != last_i or j != last_j or k != last_k:
            key = morton3(i, j, k)
            h = _hash(key, mask)
            while True:
                held = seen[h]
                if held == _EMPTY:
                    if m == out_keys.shape[0]:
                        raise ValueError("more distinct cells than max_distinct")
                    seen[h] = key
                    row_of[h] = m
                    out_keys[m] = key
                    m += 1
                    break
                if held == key:
                    break
                h = (h + 1) & mask
            row = row_of[h]
            last_i = i
            last_j = j
            last_k = k
        if out_labels[row] < 0:
            out_labels[row] = label
        if out_objects[row] < 0:
            out_objects[row] = obj
    return out_keys[:m], out_labels[:m], out_objects[:m]


@njit(cache=True)
def brick_write(btable, bkeys, blo, bver, query, values, version):
    """Set the log-odds of known leaf keys (NaN forgets the cell); returns bricks touched."""
    mask = np.int64(btable.shape[0] - 1)
    touched = np.empty(query.shape[0], np.int64)
    n_t = 0
    for r in range(query.shape[0]):
        b = _find(btable, bkeys, mask, query[r] >> 6)
        if b < 0:
            continue
        blo[b, query[r] & 63] = values[r]
        bver[b] = version
        touched[n_t] = b
        n_t += 1
    return touched[:n_t]


@njit(cache=True)
def project_columns(btable, bkeys, blo, col_i, col_j, kb_lo, kb_hi, k_lo, k_hi, occ_thres):
    """States (-1, 0, 1) of the 4 x 4 cell columns under each brick column ``(col_i, col_j)``.

    A column is occupied if a cell of rows ``k_lo..k_hi`` is occupied, free if it holds free
    cells only, unknown otherwise; ``out[r, j, i]`` is indexed like the 2D grid (row = y).
    """
    mask = np.int64(btable.shape[0] - 1)
    out = np.full((col_i.shape[0], 4, 4), -1, np.int8)
    for r in range(col_i.shape[0]):
        for kb in range(kb_lo, kb_hi + 1):
            b = _find(btable, bkeys, mask, morton3(col_i[r], col_j[r], kb))
            if b < 0:
                continue
            for c in range(64):
                v = blo[b, c]
                if np.isnan(v):
                    continue
                k = kb * 4 + _compact3(np.int64(c) >> 2)
                if k < k_lo or k > k_hi:
                    continue
                i = _compact3(np.int64(c))
                j = _compact3(np.int64(c) >> 1)
                if v >= occ_thres:
                    out[r, j, i] = 1
                elif out[r, j, i] < 0:
                    out[r, j, i] = 0
    return out


@njit(cache=True)
def cast_ray_bricks(
    btable,
    bkeys,
    blo,
    origin,
    direction,
    max_range,
    res,
    inv_res,
    key_offset,
    n_axis,
    occ_thres,
    stop_at_unknown,
):
    """Walk cells from ``origin`` along unit ``direction`` through the bricks; stop at the first
    occupied cell.

    Returns ``(code, i, j, k, distance)`` with code 1 = occupied hit, 0 = range or extent
    exhausted, -1 = stopped at an unknown cell (only with ``stop_at_unknown``).
    """
    mask = np.int64(btable.shape[0] - 1)
    cur = np.empty(3, np.int64)
    step = np.empty(3, np.int64)
    tmax = np.empty(3, np.float64)
    tdelta = np.empty(3, np.float64)
    for a in range(3):
        cur[a] = np.int64(np.floor(origin[a] * inv_res)) - key_offset
    if cur.min() < 0 or cur.max() >= n_axis:
        return 0, cur[0], cur[1], cur[2], 0.0
    for a in range(3):
        if direction[a] > 0.0:
            step[a] = 1
        elif direction[a] < 0.0:
            step[a] = -1
        else:
            step[a] = 0
        if step[a] != 0:
            border = (np.float64(cur[a] + key_offset) + 0.5) * res + step[a] * 0.5 * res
            tmax[a] = (border - origin[a]) / direction[a]
            tdelta[a] = res / abs(direction[a])
        else:
            tmax[a] = np.inf
            tdelta[a] = np.inf
    dist = 0.0
    while True:
        v = _brick_value(btable, bkeys, mask, blo, morton3(cur[0], cur[1], cur[2]))
        if not np.isnan(v):
            if v >= occ_thres:
                return 1, cur[0], cur[1], cur[2], dist
        elif stop_at_unknown:
            return -1, cur[0], cur[1], cur[2], dist
        if tmax[0] < tmax[1]:
            dim = 0 if tmax[0] < tmax[2] else 2
        else:
            dim = 1 if tmax[1] < tmax[2] else 2
        dist = tmax[dim]
        if max_range >= 0.0 and dist > max_range:
            return 0, cur[0], cur[1], cur[2], max_range
        cur[dim] += step[dim]
        tmax[dim] += tdelta[dim]
        if cur[dim] < 0 or cur[dim] >= n_axis:
            return 0, cur[0], cur[1], cur[2], dist


@njit(cache=True)
def unknown_face_neighbour_bricks(btable, bkeys, blo, ijk, n_axis):
    """True where a cell has a 6-neighbour inside the extent that is unknown."""
    mask = np.int64(btable.shape[0] - 1)
    out = np.zeros(ijk.shape[0], np.bool_)
    for r in range(ijk.shape[0]):
        for a in range(3):
            for d in (-1, 1):
                c0 = ijk[r, 0]
                c1 = ijk[r, 1]
                c2 = ijk[r, 2]
                if a == 0:
                    c0 += d
                elif a == 1:
                    c1 += d
                else:
                    c2 += d
                if c0 < 0 or c1 < 0 or c2 < 0 or c0 >= n_axis or c1 >= n_axis or c2 >= n_axis:
                    continue
                if np.isnan(_brick_value(btable, bkeys, mask, blo, morton3(c0, c1, c2))):
                    out[r] = True
    return out
