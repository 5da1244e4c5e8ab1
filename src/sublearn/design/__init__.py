"""The experimental design, read by both the runner and the analysis: the table of teachers and arms (what every
control is, and what it is compared with)."""
