"""Forms of the annotate app, one module per capability: they only parse and validate; the domain decides."""
