"""Bringing data in: desk syncs (and their runs), the fetch of a ticket's history when an
agent opens it, portal events and file imports, and writing reading history back to desks
that keep none. Connectors speak the desks' APIs; this package runs them into the store."""
