"""Specifications: plain Python that every other layer reads and that imports nothing else of zerohero."""
