"""Training: one loop for every stage (``loop.Trainer``) plus one step module per stage."""
