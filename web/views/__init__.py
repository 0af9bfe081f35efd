"""One module per page kind (as datasette's ``datasette/views/``)."""
