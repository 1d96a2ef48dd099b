"""FastAPI variants of the GET /users benchmark endpoint."""
