; Row-wise kernels: every lane multiplies its rows of A with one column of B at a time.
;   SpMV / GEMV:  one column (x); SpMM / GEMM: the columns of B, one after the other.
;   SpMSpV:       one column, intersected with the sparse x instead of gathered.
; The scheduler fills in the per-lane setup (the rows each lane owns, where they are) and
; the column loop; every lane's vector bank holds the same B, every lane writes column j
; of its results at the same OUT_BASE.
        clrc
{lane_setup}
        ldi   r1, {b_base}        ; B column j: its base (gather) or pos (intersect)
        ldi   r2, {out_base}      ; where results of column j go
        ldi   r3, {columns}
column:
        cfgr  *, B_POS, r1
        cfgr  *, OUT_BASE, r2
        run   *
        wait  *                   ; barrier: every lane done with column j
        addi  r1, {b_stride}
        addi  r2, {out_stride}
        djnz  r3, column
        halt
