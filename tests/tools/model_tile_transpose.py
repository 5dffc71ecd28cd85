#!/usr/bin/env python3
"""Host-side model of tc_transpose_repack (src/cuda/fused_conv.cuh).

The middle stage runs the radix-16 stage of inner size 16 and the innermost one
on the same 256-element tile. Between them the tile moves from the first
stage's accumulator layout to the second stage's A-fragment layout (and back
for the inverses) with one movmatrix (8x8 transpose of 16-bit values) per
block. This checks, with every value equal to its position in the tile, that
the fragments built that way hold exactly the positions tc_load would read
from shared memory for the other stage. Run: python3 tests/tools/model_tile_transpose.py
"""


def tc_j(q, jj):  # DFT index of a thread's element jj (fused_conv.cuh)
    return 2 * q + (jj & 1) + 8 * (jj >> 1)


def pos_inner16(g, q, r, jj):  # tc_element_offset<16> + tc_lane_offset<16>
    return (g + 8 * r) + tc_j(q, jj) * 16


def pos_inner1(g, q, r, jj):  # tc_element_offset<1> + tc_lane_offset<1>
    return (g + 8 * r) * 16 + tc_j(q, jj)


def movmatrix_trans(block_of_lane):
    """block_of_lane[lane] = (B[g][2q], B[g][2q+1]) -> the same layout of B^T."""
    out = []
    for lane in range(32):
        g, q = lane >> 2, lane & 3
        # B^T[g][2q + e] = B[2q + e][g], held by lane (2q + e)*4 + g//2 at element g%2.
        out.append(tuple(block_of_lane[(2 * q + e) * 4 + g // 2][g % 2] for e in range(2)))
    return out


def check(src, dst):
    x = [{(r, jj): src(lane >> 2, lane & 3, r, jj) for r in range(2) for jj in range(4)} for lane in range(32)]
    for kt in range(2):
        for h in range(2):
            # tc_transpose_repack: a[kt][h] = movmatrix(block (r = kt, h) of x)
            block = [(x[lane][(kt, 2 * h)], x[lane][(kt, 2 * h + 1)]) for lane in range(32)]
            got = movmatrix_trans(block)
            for lane in range(32):
                g, q = lane >> 2, lane & 3
                # tc_load's a[kt][h]: elements (r = h, jj = 2kt, 2kt + 1)
                want = (dst(g, q, h, 2 * kt), dst(g, q, h, 2 * kt + 1))
                if got[lane] != want:
                    return False
    return True


if __name__ == "__main__":
    ok = check(pos_inner16, pos_inner1) and check(pos_inner1, pos_inner16)
    print("tile transpose model:", "ok" if ok else "MISMATCH")
    raise SystemExit(0 if ok else 1)
