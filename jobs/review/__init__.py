"""``morphkit review``: look through a bulk-label run's faces worst fit first and correct their
landmarks in the browser (:mod:`jobs.review.server`); corrections are stored in the run's
journal and written through to its ``landmarks.csv`` (:mod:`jobs.review.store`)."""
