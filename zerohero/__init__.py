"""zerohero: an open sparse AI accelerator generator."""
