; {count} passes of two iterations: {a} -> {b} -> {a}.
        ldi   r4, {count}
pairs:
        cfg   *, B_POS, {a}
        cfg   *, OUT_BASE, {b}
        run   *
        wait  *
        cfg   *, B_POS, {b}
        cfg   *, OUT_BASE, {a}
        run   *
        wait  *
        djnz  r4, pairs
