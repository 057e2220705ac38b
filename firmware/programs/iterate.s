; x <- requantize(A [x; constants]) for {iterations} iterations, with nothing from the host in
; between: x alternates between two regions of every vector bank (every lane gathers the
; whole x from its own bank and broadcasts its rows of the next x into every bank). The
; input is in region 0; after an even count x is in region 0, after an odd one in region 1,
; and the other region holds the iterate before it. The scheduler (firmware/resident.py)
; fills in the fields and the steps: for an odd count, one step (step.s) 0 -> 1 first, then
; the pairs of steps (pair.s) between the two regions.
        clrc
{setup}
{steps}
        halt
