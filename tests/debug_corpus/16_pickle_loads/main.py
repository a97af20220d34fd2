import base64
import pickle


def load_session(cookie: str) -> dict:
    return pickle.loads(base64.b64decode(cookie))


print(load_session(base64.b64encode(b"not a pickle").decode()))
