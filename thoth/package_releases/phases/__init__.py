"""The phases of a run (feeds, index scan, notification delivery) and what they share."""
