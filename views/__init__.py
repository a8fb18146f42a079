"""The renderers the domain's ports are handed (services.py wires them): Jinja templates turned
into the fragments a push carries. No request here, and no storage."""
