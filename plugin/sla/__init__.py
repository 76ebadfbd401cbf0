"""SLA rules by journey stage: decisions, pushes to the desk, targets and breaches, the what-if."""
