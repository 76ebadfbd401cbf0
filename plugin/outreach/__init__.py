"""Proactive outreach (DESIGN §6): rules (audience + schedule + channel + template +
limits), previewed on today's data, delivered through the store's outbox so nobody gets the
same message twice. See docs/outreach.md."""
