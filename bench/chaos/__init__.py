"""`make chaos` (issue 16): the app under a load of reads and writes while its servers fail one after another."""
