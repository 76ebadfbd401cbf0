"""The shipped default journey model's stages and signals, in its order."""

STAGES = ("awareness", "consideration", "purchase", "service", "retention", "advocacy")
SIGNALS = (
    "renewal_due",
    "churn_risk",
    "repeat_reader",
    "negative_csat",
    "high_value",
    "high_effort",
)
