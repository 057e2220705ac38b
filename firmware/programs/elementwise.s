; Elementwise kernels: every lane joins its rows of A (operand bank) with the same rows of B
; (vector bank) in one job: intersection (ewmul) or union (ewadd), one product or sum per
; coordinate, compressed output with zeros dropped.
        clrc
{lane_setup}
        run   *
        wait  *
        halt
