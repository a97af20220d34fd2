import os

API_BASE = os.environ.get("API_BASE", "https://api.example.com")
API_TOKEN = "tok_live_8f2b9c0d1e7a4b6c"


def auth_headers() -> dict:
    return {"Authorization": f"Bearer {API_TOKEN}", "X-Base": API_BASE}
