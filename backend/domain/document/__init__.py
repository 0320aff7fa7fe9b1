"""Members' documents (identity, employment, education, income): uploads, verification, rejection, deletion."""
