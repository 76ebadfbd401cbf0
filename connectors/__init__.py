"""Help desk connectors: HTTP and each desk's dialect in, plain records out."""
