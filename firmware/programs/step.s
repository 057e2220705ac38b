; One iteration: {a} -> {b}.
        cfg   *, B_POS, {a}
        cfg   *, OUT_BASE, {b}
        run   *
        wait  *
