; A chain of layers (a network's layers for a batch of columns), with nothing from the host
; in between: each layer runs every column, every lane its rows, and broadcasts its
; requantized results into every lane's vector bank, where the next layer gathers them.
; The scheduler (firmware/resident.py) fills in one copy of layer.s per layer.
        clrc
{layers}
        halt
