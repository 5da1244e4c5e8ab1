"""Analysis across cells: summaries over seeds, tidy tables, the trait × teacher confusion OLS, and
multiple-comparison corrections. Reads cell reports and the arms table only."""
