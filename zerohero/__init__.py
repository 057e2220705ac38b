"""zerohero: an open sparse AI accelerator generator."""


def compile(model, config="sim-small", sparsity=None, pattern="unstructured", **options):
    """Prune, quantize and compile a network for the accelerator (see :mod:`zerohero.nn`)."""
    from zerohero.nn import compile_network

    return compile_network(model, config, sparsity, pattern, **options)
