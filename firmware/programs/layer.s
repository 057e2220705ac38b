; Layer {n}: A's rows at A_POS/A_CRD of every operand bank ({rows} a lane), input column j
; at B_POS + j * {b_stride}, results of column j to OUT_BASE + j * {out_stride} (+ the lane's
; OUT_POS when broadcast); a barrier after every column.
{setup}
        ldi   r1, {b_base}
        ldi   r2, {out_base}
        ldi   r3, {columns}
layer{n}:
        cfgr  *, B_POS, r1
        cfgr  *, OUT_BASE, r2
        run   *
        wait  *
        addi  r1, {b_stride}
        addi  r2, {out_stride}
        djnz  r3, layer{n}
