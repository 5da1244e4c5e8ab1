"""Analysis across grid cells: a tidy results table, the trait × teacher confusion matrix with its OLS, and
multiple-comparison corrections."""
