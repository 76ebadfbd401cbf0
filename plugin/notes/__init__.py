"""The journey note: one private note for agents on each new ticket (docs/sla.md)."""
