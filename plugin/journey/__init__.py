"""The journey engine: facts in, stage, signals and their reasons out (pure, no I/O).

- `plugin.journey.conditions`: condition trees (parse/validate against the fact catalogue,
  evaluate with structured reasons, round-trip to the TOML/JSON shape).
- `plugin.journey.reasons`: reasons rendered as short sentences in English and Spanish.
"""
