"""SLA rules by journey stage (DESIGN §7): which priority, tags and targets a new ticket gets,
decided once when it first appears and pushed back to its desk; targets and breaches on
business hours; the what-if."""
