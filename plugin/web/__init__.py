"""Flask blueprints: thin views that parse, call the domain, and render."""
