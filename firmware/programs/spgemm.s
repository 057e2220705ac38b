; SpGEMM by inner products, one row of A (and of C) per job on every lane.
; Every lane's operand bank holds B as CSC (the A_* fields: its columns are the stream);
; its vector bank holds its rows of A as CSR from word 0 (padded with empty rows so that
; every lane has {jobs} rows). Job r repeats row r of A against every column of B through
; the intersector; the MAC emits C[r, j] for every column j and the compressed writer stores
; the nonzeros, appending row after row (OUT_MODE bit 1 from the second job on).
        clrc
{lane_setup}
        cfg   *, OUT_MODE, 1      ; first row: a fresh compressed output
        ldi   r1, 0               ; row r of A: its pos entry
        ldi   r3, {jobs}
row:
        cfgr  *, B_POS, r1
        run   *
        wait  *
        cfg   *, OUT_MODE, 3      ; later rows: append
        addi  r1, 1
        djnz  r3, row
        halt
