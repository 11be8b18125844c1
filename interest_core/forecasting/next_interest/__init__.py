"""Which categories will each user care about next, new ones included (the ``next_interest`` target)."""
