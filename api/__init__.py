"""The counsellor side and the webhooks: a small FastAPI app."""
