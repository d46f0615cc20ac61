"""State-repo backends behind the StateRepo protocol (base.py). May import store and contract."""
