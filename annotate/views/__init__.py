"""Pages of the annotate app, one module per capability. Views are glue: check the role, call the domain, render."""
